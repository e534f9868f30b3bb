"""Part 3, push latency: from a line freed to the caller's dial request.

`hotline serve` on a fresh database (hold music off, as in the hold part), every line talking
and --push-callers callers holding for loneliness, each polling once per answered segment.
Then, --frees times, one of the lines that serve loneliness is freed by this process: the
call on it ended and the line ready, in one committed transaction (`t0`, just after the
commit). Nothing tells the service: its own periodic pass (HOTLINE_TICK_SECONDS, `--tick`)
finds the line, reserves it for the first caller in the queue, and

  pushed (default): asks Twilio, after its commit, to take that caller out of the queue;
                    the local stand-in of Twilio's REST API records the moment each dequeue
                    request arrives (`TwilioApi.dequeued_at`): the latency is that - t0;
  --poll-only:      (no REST account) the caller's next poll is answered <Leave/>: the
                    latency is the moment that answer arrives - t0.

Then this process plays Twilio: it requests the URL the caller was sent to (the dequeue's
Url, or the Enqueue action with QueueResult=leave) and checks that the answer dials the line,
so the line is taken and the next free starts from the same state. Between frees it waits a
random part of a tick, so that frees fall at every moment of the service's tick.

The tick bounds the pushed latency: a line freed by a webhook (a dial result, a status
callback, the end of a wrap-up through the API) runs its pass at once, in that request; a
line freed behind the service's back, as here, waits for the next tick.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import config as config_mod
from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.lines.models import Line
from hotline.testing.databases import fresh_postgres
from hotline.testing.twilio_api import TwilioApi
from hotline.testing.twilio_requests import Signer, inbound_params, numbered_caller

from . import ROOT
from .figures import MS_HEADER, TARGET_PUSH_P99_MS, ms_row, spread
from .hold import QUEUE, Service, hold_setup, mode, serving
from .load import TWILIO_TIMEOUT, HoldStats, Poller, hold_params
from .machine import busy_now

DEFAULT_TICK = 0.5  # hotline.settings.Settings.tick_seconds


@dataclass
class PushStats:
    pushed: bool
    tick: str
    segment: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per free
    missed: int = 0  # frees after which no caller was sent to the line in time
    dials: int = 0  # answers that dialled the line


def loneliness_lines() -> list[str]:
    """The lines that may serve loneliness (its tiers' organisations)."""
    cfg = config_mod.load(ROOT / "config" / "menus.yaml")
    orgs = {org for tier in _tiers(cfg.option("loneliness")) for org in tier}
    return [line.id for org, line in cfg.lines() if org.id in orgs]


def _tiers(option: config_mod.Option) -> list[list[str]]:
    tiers = [list(option.tiers.primary)]
    for tier in (option.tiers.overflow, option.tiers.backup):
        if tier is not None:
            tiers.append(list(tier.orgs))
    return tiers


def run(args: argparse.Namespace) -> PushStats:
    pushed = not args.poll_only
    print(
        f"\n== push: {args.frees} lines freed one at a time, {args.push_callers} callers "
        f"holding; {mode(pushed)} =="
    )
    print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
    with (
        tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp,
        fresh_postgres(args.pg, prefix="hotline_bench") as url,
        serving(url, tmp, pushed=pushed, tick=args.tick) as service,
    ):
        stats = asyncio.run(bench_push_async(args, url, service))
    report_push(stats)
    return stats


async def bench_push_async(args: argparse.Namespace, url: str, service: Service) -> PushStats:
    sids = await hold_setup(url, args.push_callers)
    api = service.api
    if api is not None:  # Twilio holds every caller in the option's queue
        api.members[api.queue(QUEUE)] = list(sids)
    lines = loneliness_lines()
    tick = args.tick if args.tick is not None else DEFAULT_TICK
    stats = PushStats(pushed=api is not None, tick=service.tick)
    holds = HoldStats(callers=len(sids))
    gone: set[str] = set()  # sent to a line: they poll no more
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=len(sids) + 10, max_keepalive_connections=len(sids) + 10)
    db = make_engine(url)
    async with httpx.AsyncClient(timeout=TWILIO_TIMEOUT, limits=limits) as client:
        poller = Poller(client, holds)
        first = await poller.poll(
            f"{service.base}/voice/wait?o=loneliness&n=1", hold_params(sids[0], 1, 0, 1), 0
        )
        if first is None:
            raise SystemExit(f"the first hold poll was not a hold: {dict(holds.examples)}")
        stats.segment = first.pause
        pollers = [
            asyncio.create_task(holding(poller, service, sid, k + 1, first.pause, gone, rng))
            for k, sid in enumerate(sids)
        ]
        try:
            await asyncio.sleep(1.0)  # the first polls are under way
            bound = tick + (0 if api is not None else 2 * first.pause) + 10.0
            for k in range(args.frees):
                await asyncio.sleep(rng.uniform(0, tick))  # any moment of the tick
                line = lines[k % len(lines)]
                before = len(api.dequeued_at) if api is not None else len(holds.left)
                t0 = await free(db, line)
                sid, t1 = await sent(api, holds, before, bound)
                if sid is None:
                    stats.missed += 1
                    continue
                stats.latencies.append(t1 - t0)
                gone.add(sid)
                if await follow(client, service, api, sid):
                    stats.dials += 1
        finally:
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            await db.dispose()
    if holds.errors:
        for kind, count in holds.errors.most_common():
            print(f"  hold poll error: {count} x {kind}, e.g. {holds.examples[kind]}")
    return stats


async def holding(
    poller: Poller,
    service: Service,
    sid: str,
    position: int,
    segment: float,
    gone: set[str],
    rng: random.Random,
) -> None:
    """One caller on hold: a poll per answered segment, until sent to a line."""
    url = f"{service.base}/voice/wait?o=loneliness&n=1"
    joined = time.monotonic() - 60
    await asyncio.sleep(rng.uniform(0, segment))
    while sid not in gone:
        params = hold_params(sid, position, time.monotonic() - joined, 0)
        held = await poller.poll(url, params, position)
        if held is None:
            return  # <Leave/> (noted by the poller), or an error
        url = held.url
        await asyncio.sleep(held.pause)


async def free(db: AsyncEngine, line_id: str) -> float:
    """End the call on `line_id` and make the line ready, committed: the moment after."""
    now = dt.datetime.now(dt.UTC)
    async with session_factory(db).begin() as s:
        on_line = (await s.execute(select(Line.call_id).where(Line.id == line_id))).scalar()
        if on_line is not None:
            ended = {"state": "completed", "ended_at": now}
            await s.execute(update(Call).where(Call.id == on_line).values(**ended))
        ready = {"call_id": None, "status": "ready", "wrap_up_until": None, "cooldown_until": None}
        await s.execute(update(Line).where(Line.id == line_id).values(**ready))
    return time.monotonic()


async def sent(
    api: TwilioApi | None, holds: HoldStats, before: int, bound: float
) -> tuple[str | None, float]:
    """The caller sent to the freed line and when: the stand-in's next dequeue, or (polling
    only) the next poll answered <Leave/>. Waits at most `bound` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if api is not None:
            with api.lock:
                if len(api.dequeued_at) > before:
                    _, sid, _ = api.dequeued[before]
                    return sid, api.dequeued_at[before]
        elif len(holds.left) > before:
            sid, at = list(holds.left.items())[before]
            return sid, at
        await asyncio.sleep(0.005)  # a look at what arrived, not a measured wait
    return None, 0.0


async def follow(
    client: httpx.AsyncClient, service: Service, api: TwilioApi | None, sid: str
) -> bool:
    """As Twilio: request where the caller was sent; True if the answer dials the line."""
    if api is not None:
        url = next(u for _, who, u in api.dequeued if who == sid)
        params = inbound_params(sid, numbered_caller(1))
    else:
        url = f"{service.base}/voice/queue-result?o=loneliness"
        params = {**inbound_params(sid, numbered_caller(1)), "QueueResult": "leave"}
    headers = Signer().headers(url, params)
    resp = await client.post(url, data=params, headers=headers)
    if resp.status_code != 200:
        return False
    return ET.fromstring(resp.content).find(".//Dial") is not None


def report_push(stats: PushStats) -> None:
    how = "the stand-in receives the dequeue" if stats.pushed else "the next poll answers <Leave/>"
    print(
        f"\n  line freed (committed) -> {how}; service tick (HOTLINE_TICK_SECONDS) {stats.tick}; "
        f"hold segment {stats.segment:g} s"
    )
    print(MS_HEADER + f"  {'frees':>7}  missed  dialled")
    print(
        ms_row(
            "free -> caller sent to the line",
            stats.latencies,
            f"{len(stats.latencies):>7}  {stats.missed:>6}  {stats.dials}",
        )
    )
    p99 = spread(stats.latencies)["p99"]
    verdict = "ok" if p99 < TARGET_PUSH_P99_MS and not stats.missed else "MISSED"
    print(f"  target: p99 < {TARGET_PUSH_P99_MS:.0f} ms with push: {verdict}")
