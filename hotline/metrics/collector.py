"""The database collector of /metrics: period totals and live gauges from stored state.

Prometheus' collectors are synchronous, so the endpoint first runs the async queries
(`refresh`) and the collector then only yields what they read. Live gauges (callers waiting,
longest wait, lines) are read at every scrape; they use the state index and touch few rows.
Period totals add the report tallies (caught up first with the calls ended since the last
read) to the calls not tallied yet: they are re-read in the background when older than
`ttl`, and a scrape serves the last ones read (their age is exported) if the new read takes
longer than `wait`: a scrape never waits long for them, except the first after a start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.config import HotlineConfig
from hotline.lines import care
from hotline.lines.models import SIGNED_IN, Presence
from hotline.reports import labels, queries, tallies
from hotline.reports.definitions import CALLBACK_OUTCOMES, NONE, STAGES
from hotline.routing.store import Router

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]
Key = tuple[str, ...]


@dataclass
class Totals:
    calls: dict[Key, int] = field(default_factory=dict)  # (period, option, entry)
    connected: dict[Key, int] = field(default_factory=dict)  # (period, option, entry)
    abandoned: dict[Key, int] = field(default_factory=dict)  # (period, option, stage)
    closed: dict[Key, int] = field(default_factory=dict)  # (period, option)
    callbacks: dict[Key, int] = field(default_factory=dict)  # (period, option, outcome)
    serious: dict[Key, int] = field(default_factory=dict)  # (period,)
    read_at: float | None = None  # time.monotonic() of the read


@dataclass
class Live:
    waiting: dict[str, int] = field(default_factory=dict)  # option -> callers
    longest: dict[str, float] = field(default_factory=dict)  # option -> seconds
    staffed: dict[str, int] = field(default_factory=dict)  # org -> lines
    busy: dict[str, int] = field(default_factory=dict)  # org -> lines
    option_staffed: dict[str, int] = field(default_factory=dict)
    option_scheduled: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)  # option -> 1 if the menu offers it
    presence: dict[Key, int] = field(default_factory=dict)  # (org, presence) -> lines
    held_past: dict[str, int] = field(default_factory=dict)  # org -> lines past the talk bound
    debriefs: dict[str, int] = field(default_factory=dict)  # org -> debrief requests not closed


class StoredTotals:
    """A prometheus_client collector over what `refresh` last read from the database."""

    def __init__(
        self,
        cfg: HotlineConfig,
        router: Router,
        ttl: float = 15.0,
        wait: float = 0.05,
        *,
        talk_bound: dt.timedelta = dt.timedelta(hours=4),
    ) -> None:
        self.cfg, self.router, self.ttl, self.wait = cfg, router, ttl, wait
        self.talk_bound = talk_bound  # `max_talk_seconds`: lines held past it are exported
        self.closed = labels.Closed(cfg)
        self.totals, self.live, self.db_up = self._zero_totals(), Live(), 0
        self.webhook_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._text: tuple[Totals, bytes] | None = None

    # -- reading ---------------------------------------------------------------------------
    async def refresh(self, sessions: Sessions, now: dt.datetime) -> None:
        """Read the live gauges now; re-read the totals if stale (waiting only the first time)."""
        try:
            async with sessions() as s:
                self.live = await self._read_live(s, now)
            self.db_up = 1
        except Exception:
            log.exception("metrics: reading live state failed")
            self.db_up = 0
        read_at = self.totals.read_at
        if read_at is not None and time.monotonic() - read_at < self.ttl:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read_totals(sessions))
        # Wait a little for fresh totals (all it takes on a small database); past that, serve
        # the last ones and let the read finish for the next scrape. The first scrape waits.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(self._task), None if read_at is None else self.wait
            )

    async def _read_totals(self, sessions: Sessions) -> None:
        try:
            await tallies.catch_up(sessions)  # the calls ended since the last read
            async with sessions() as s:
                rows = await queries.totals(s)
                serious = await queries.serious_cases_by_period(s)
            self.totals = self._fold(rows, serious)
        except Exception:
            log.exception("metrics: reading stored totals failed; serving the last ones")
            self.db_up = 0

    def _zero_totals(self) -> Totals:
        t = Totals()
        entries = [e.id for e in self.cfg.entry_numbers]  # `other` appears once it counts
        for period in labels.periods(self.cfg):
            p = period.id
            t.serious[(p,)] = 0
            t.abandoned[(p, NONE, "menu")] = 0
            for o in [*labels.offered_options(self.cfg, period.menu), NONE]:
                t.closed[(p, o)] = 0
                for e in entries:
                    t.calls[(p, o, e)] = t.connected[(p, o, e)] = 0
                for stage in STAGES[1:]:
                    t.abandoned[(p, o, stage)] = 0
                for outcome in CALLBACK_OUTCOMES:
                    t.callbacks[(p, o, outcome)] = 0
        return t

    def _fold(self, rows: list[dict[str, Any]], serious: dict[str, int]) -> Totals:
        t, c = self._zero_totals(), self.closed
        for r in rows:
            p, o, e = c.period(r["period"]), c.option(r["option"]), c.entry(r["entry"])
            _add(t.calls, (p, o, e), r["calls"])
            _add(t.connected, (p, o, e), r["connected"])
            _add(t.closed, (p, o), r["closed"])
            for stage in STAGES:
                _add(t.abandoned, (p, o, stage), r[f"abandoned_{stage}"])
            for outcome in CALLBACK_OUTCOMES:
                _add(t.callbacks, (p, o, outcome), r[f"callbacks_{outcome}"])
        for period, n in serious.items():
            _add(t.serious, (c.period(period),), n)
        t.read_at = time.monotonic()
        return t

    async def _read_live(self, s: AsyncSession, now: dt.datetime) -> Live:
        live, options = Live(), labels.option_ids(self.cfg)
        offered = set(labels.offered_options(self.cfg, self.cfg.menu_at(now)))
        waiting = await queries.queues(s)
        for o in [*options, NONE]:
            q = waiting.get(o)
            live.waiting[o] = q.waiting if q else 0
            live.longest[o] = (now - q.oldest).total_seconds() if q and q.oldest else 0.0
            live.offered[o] = int(o in offered)
        rows = await queries.lines(s)
        scheduled = set(self.router.scheduled_ids(now))
        staffed = {i for i, _, st, _ in rows if st in SIGNED_IN and i in scheduled}
        org_of = {i: org for i, org, _, _ in rows}
        for org in labels.orgs(self.cfg):
            for p in Presence:
                live.presence[(org, p.value)] = 0
        for _, org, st, _ in rows:
            if (org, st) in live.presence:
                live.presence[(org, st)] += 1
        held = await queries.held_past(s, now - self.talk_bound)
        debriefs = await care.open_by_org(s)
        for org in labels.orgs(self.cfg):
            live.held_past[org] = held.get(org, 0)
            live.debriefs[org] = debriefs.get(org, 0)
            live.staffed[org] = sum(1 for i in staffed if org_of[i] == org)
            live.busy[org] = sum(1 for _, o, _, busy in rows if o == org and busy)
        for o in options:
            serving = set(labels.serving_orgs(self.cfg, o))
            live.option_staffed[o] = sum(1 for i in staffed if org_of[i] in serving)
            live.option_scheduled[o] = sum(1 for i in scheduled if org_of.get(i) in serving)
        return live

    # -- prometheus_client -----------------------------------------------------------------
    def describe(self) -> list[Metric]:
        return []  # no names to reserve: the registry need not call collect() to learn them

    def collect(self) -> Iterator[Metric]:
        yield from self._collect_totals(self.totals)
        yield from self._collect_now()

    def exposition(self) -> bytes:
        """collect() as text. The totals change only when re-read: their text (most of the
        lines with many periods) is rendered once per read, not at every scrape."""
        if self._text is None or self._text[0] is not self.totals:
            self._text = (self.totals, _render(self._collect_totals(self.totals)))
        return self._text[1] + _render(self._collect_now())

    def _collect_totals(self, t: Totals) -> Iterator[Metric]:
        yield _gauge("hotline_period_calls", "Stored calls of the period (呼出件数)",
                     ("period", "option", "entry"), t.calls)  # fmt: skip
        yield _gauge("hotline_period_connected", "Stored connected calls (接続完了)",
                     ("period", "option", "entry"), t.connected)  # fmt: skip
        yield _gauge("hotline_period_abandoned", "Stored abandoned calls by stage",
                     ("period", "option", "stage"), t.abandoned)  # fmt: skip
        yield _gauge("hotline_period_closed", "Stored calls that heard the closed message",
                     ("period", "option"), t.closed)  # fmt: skip
        yield _gauge("hotline_period_callbacks",
                     "Stored callback requests by outcome (requested, attempted, connected, "
                     "failed, expired)", ("period", "option", "outcome"), t.callbacks)  # fmt: skip
        yield _gauge("hotline_period_serious_cases",
                     "Linkage cases of the period's calls (つなぎに関して調整した深刻な相談対応)",
                     ("period",), t.serious)  # fmt: skip

    def _collect_now(self) -> Iterator[Metric]:
        t, live = self.totals, self.live
        age = time.monotonic() - t.read_at if t.read_at is not None else -1.0
        yield _gauge("hotline_period_totals_age_seconds", "Age of the stored totals shown",
                     (), {(): age})  # fmt: skip
        yield from self._collect_live(live)
        errors = CounterMetricFamily(
            "hotline_webhook_errors", "Webhooks answered with the fallback TwiML after an error"
        )
        errors.add_metric([], self.webhook_errors)
        yield errors

    def _collect_live(self, live: Live) -> Iterator[Metric]:
        def by(name: str, doc: str, label: str, values: dict[str, Any]) -> Metric:
            return _gauge(name, doc, (label,), {(k,): v for k, v in values.items()})

        yield by("hotline_callers_waiting", "Callers on hold now", "option", live.waiting)
        # What Twilio's queue of each option may hold (`hold.queue_max_size`, set on the
        # queue by `hotline twilio setup`): the alert compares the callers waiting with it.
        size = self.cfg.hold.queue_max_size
        yield by("hotline_queue_max_size", "MaxSize of the option's Twilio queue", "option",
                 {o: size for o in labels.option_ids(self.cfg)})  # fmt: skip
        yield by("hotline_longest_wait_seconds", "Longest current wait", "option", live.longest)
        yield by("hotline_lines_staffed", "Lines signed in within their hours", "org",
                 live.staffed)  # fmt: skip
        yield by("hotline_lines_busy", "Lines reserved, ringing or talking", "org", live.busy)
        yield by("hotline_lines_held_past_talk_bound",
                 "Lines held by a conversation longer than the talk bound (max_talk_seconds)",
                 "org", live.held_past)  # fmt: skip
        yield by("hotline_debrief_requests_open",
                 "Debrief requests after hard calls not closed yet (open or taken)", "org",
                 live.debriefs)  # fmt: skip
        yield _gauge("hotline_lines_presence", "Lines in each presence state now",
                     ("org", "presence"), live.presence)  # fmt: skip
        yield by("hotline_option_lines_staffed", "Staffed lines that may serve the option",
                 "option", live.option_staffed)  # fmt: skip
        yield by("hotline_option_lines_scheduled", "Lines scheduled now that may serve it",
                 "option", live.option_scheduled)  # fmt: skip
        yield by("hotline_option_offered", "1 if the menu in force now offers the option",
                 "option", live.offered)  # fmt: skip
        yield _gauge("hotline_metrics_db_up", "1 if the last database read for /metrics worked",
                     (), {(): self.db_up})  # fmt: skip


class _Families:
    """A collector over given families, to render them with prometheus_client."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _render(families: Iterator[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families)))
    return generate_latest(registry)


def _add(into: dict[Key, int], key: Key, n: int) -> None:
    into[key] = into.get(key, 0) + n


def _gauge(name: str, doc: str, names: tuple[str, ...], values: dict[Key, Any]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(names))
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family
