"""Publishes the lifecycle's metric facts (`lifecycle.Count`) to Prometheus, after commit.

The calls service and the routing pass put a `Count` in the step's unit of work for each fact
(a call received, an option selected, closed, connected, completed, abandoned, what became of
a callback request); the unit of work hands them here once its transaction has committed
(`hotline.uow`), and drops them on rollback, so a rolled-back webhook counts nothing. Each
fact comes from one transition, guarded by the call's state and the step's idempotency, so a
Twilio retry counts nothing twice. Metrics never block a call: a failing fact is logged and
the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from hotline.calls.lifecycle import QUEUE_FULL, TURNED_AWAY, Count
from hotline.conference import facts as room
from hotline.conference.facts import RoomCount
from hotline.lines.presence import LineFact
from hotline.metrics.prom import CARE_BREAKS, FORCED, HARD_SOURCES, Metrics
from hotline.reports.definitions import CALLBACK_OUTCOMES, NONE, STAGES

log = logging.getLogger(__name__)


def publisher(metrics: Metrics) -> Callable[[list[object]], None]:
    """The units of work's after-commit hook for these metrics."""

    def publish_all(facts: list[object]) -> None:
        publish(metrics, (f for f in facts if isinstance(f, Count)))
        for fact in facts:
            if isinstance(fact, LineFact):
                _line_fact(metrics, fact)
            elif isinstance(fact, RoomCount):
                _room_fact(metrics, fact)

    return publish_all


def publish(m: Metrics, facts: Iterable[Count]) -> None:
    for fact in facts:
        try:
            _one(m, fact)
        except Exception:  # metrics never block a call
            log.exception("metrics for %s failed; the call goes on", fact.kind)


def _line_fact(m: Metrics, f: LineFact) -> None:
    try:
        org = m.closed.org(f.org)
        if f.kind == "missed_away":
            m.missed_away.labels(org).inc()
        elif f.kind == "wrap_up" and f.seconds is not None:
            m.wrap_up.labels(org).observe(f.seconds)
        elif f.kind == "hard_call" and f.reason in HARD_SOURCES:
            m.hard_calls.labels(org, f.reason).inc()
        elif f.kind == "care_break" and f.reason in CARE_BREAKS:
            m.care_breaks.labels(org, f.reason).inc()
    except Exception:  # metrics never block a call
        log.exception("metrics for line fact %s failed", f.kind)


def _room_fact(m: Metrics, f: RoomCount) -> None:
    """A conference room's fact (`hotline.conference.facts`): labels from closed sets."""
    try:
        option = m.closed.option(f.option)
        if f.kind == "hold":
            m.holds.labels(option).inc()
        elif f.kind == "transfer" and f.target in room.TARGETS and f.mode in room.MODES:
            m.transfers.labels(option, f.target, f.mode).inc()
        elif f.kind == "three_way" and f.target in room.TARGETS:
            m.three_way.labels(option, f.target).inc()
        elif f.kind == "emergency" and f.service in room.SERVICES and f.outcome in room.OUTCOMES:
            m.escalations.labels(f.service, f.outcome).inc()
        elif f.kind == "supervision" and f.mode in room.SUPERVISION:
            m.supervisions.labels(f.mode).inc()
        elif f.kind == "help":
            m.help_requests.labels(m.closed.org(f.org)).inc()
        else:
            log.warning("unknown conference fact %r", f.kind)
    except Exception:  # metrics never block a call
        log.exception("metrics for conference fact %s failed", f.kind)


def _one(m: Metrics, f: Count) -> None:
    period, option = m.closed.period(f.period), m.closed.option(f.option)
    match f.kind:
        case "received":
            m.received.labels(period, m.closed.entry(f.entry)).inc()
        case "selected":
            m.selected.labels(period, option).inc()
        case "closed":
            m.closed_calls.labels(period, option).inc()
        case "connected":
            m.connected.labels(period, option, m.closed.entry(f.entry), m.closed.org(f.org)).inc()
            if f.seconds is not None:
                m.wait.labels(option, "connected").observe(f.seconds)
        case "completed":
            if f.seconds is not None:
                m.talk.labels(option).observe(f.seconds)
        case "abandoned" if f.stage == QUEUE_FULL:  # turned away, not gone: counted apart
            m.queue_full.labels(period, option).inc()
        case "abandoned":
            stage = f.stage if f.stage in STAGES else NONE
            m.abandoned.labels(period, option, stage).inc()
            if stage == "waiting" and f.seconds is not None:
                m.wait.labels(option, "abandoned").observe(f.seconds)
        case "callback":
            # Its own counter: booking one was counted as an abandon (stage `callback`), and a
            # callback's conversation is no connection of the inbound attempt (接続完了).
            if f.stage not in CALLBACK_OUTCOMES:
                log.warning("unknown callback outcome %r", f.stage)
                return
            m.callbacks.labels(period, option, f.stage).inc()
            if f.stage == "connected" and f.seconds is not None:
                m.callback_wait.labels(option).observe(f.seconds)
        case "turned_away":
            if f.stage in TURNED_AWAY:  # a closed set: never a caller
                m.turned_away.labels(f.stage).inc()
        case "forced":
            m.forced.labels(f.stage if f.stage in FORCED else "operator").inc()
        case _:
            log.warning("unknown metric fact %r", f.kind)
