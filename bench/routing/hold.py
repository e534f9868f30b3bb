"""Part 2, the hold: `hotline serve` on a free loopback port, every line talking, callers
waiting and polling /voice/wait, in two scenarios:

  sustained: each caller polls once per hold segment for --duration seconds, starting at a
             random moment of the first segment;
  burst:     every caller polls once, all at the same moment.

A caller that gets an error (no answer within Twilio's 15 s, a status other than 200, TwiML
that is neither a hold nor <Leave>) polls no more: Twilio would send it to the fallback URL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select, update

from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.routing.models import Line
from hotline.testing.databases import fresh_postgres
from hotline.testing.measure import cpu_seconds
from hotline.testing.rows import call_row, connected_row
from hotline.testing.servers import hotline_serve

from . import ROOT
from .figures import MS_HEADER, ms_row
from .load import (
    POOL_SIZE,
    TWILIO_TIMEOUT,
    HoldStats,
    Poller,
    ShardedTransport,
    hold_params,
)
from .machine import (
    busy_now,
    database_sessions,
    inside_summary,
    log_problems,
    machine_busy,
    postgres_cpu,
    service_histogram,
)


@dataclass(frozen=True)
class Service:
    base: str  # where it listens, http://127.0.0.1:PORT
    pid: int
    url: str  # its database


async def hold_run(
    service: Service,
    sids: list[str],
    segment: float,
    duration: float,
    burst: bool,
    client: httpx.AsyncClient,
    next_urls: dict[str, str],
) -> HoldStats:
    """Every caller polls (once each if `burst`, else every `segment` s for `duration` s)."""
    stats = HoldStats(callers=len(sids))
    poller = Poller(client, stats)
    rng = random.Random(len(sids))
    max_polls = int(duration / segment) + 2  # a bound even if the clock misbehaved
    go = asyncio.Event()
    first = deadline = 0.0  # set when the run starts, just before `go`

    async def caller(position: int, sid: str) -> None:
        url = next_urls.get(sid, f"{service.base}/voice/wait?o=loneliness&n=1")
        await go.wait()
        joined = first - position * 0.01  # they joined the queue in turn, 10 ms apart
        if burst:
            params = hold_params(sid, position, time.monotonic() - joined, len(sids))
            next_urls[sid] = await poller.poll(url, params, position) or url
            return
        await asyncio.sleep(rng.uniform(0, segment))  # staggered: they joined at other times
        for _ in range(max_polls):
            if time.monotonic() >= deadline:
                break
            params = hold_params(sid, position, time.monotonic() - joined, len(sids))
            follow = await poller.poll(url, params, position)
            if follow is None:
                break  # left the hold: for a line, or to Twilio's fallback after an error
            url = follow  # Twilio follows the <Redirect>: n counts the segments
            if time.monotonic() + segment >= deadline:
                break  # no more polls in the run: do not wait for nothing
            await asyncio.sleep(segment)  # the hold's <Pause>
        next_urls[sid] = url

    histogram = await service_histogram(client, service.base)
    tasks = [asyncio.create_task(caller(k + 1, sid)) for k, sid in enumerate(sids)]
    await asyncio.sleep(0.2)  # every caller is at the gate
    sessions = await database_sessions(service.url)
    busy0, total0 = machine_busy()
    db_cpu = postgres_cpu()
    start, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(service.pid)
    first = time.monotonic()
    deadline = first + duration
    go.set()
    done, pending = await asyncio.wait(tasks, timeout=duration + segment + 60)
    for task in pending:
        task.cancel()
        stats.error("caller timed out", "a caller did not finish within the time bound")
    stats.wall = time.perf_counter() - start
    stats.client_cpu = time.process_time() - cpu
    stats.server_cpu = cpu_seconds(service.pid) - server_cpu
    stats.postgres_cpu = postgres_cpu() - db_cpu
    busy1, total1 = machine_busy()
    stats.machine = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    stats.connections = await database_sessions(service.url) - sessions - 2  # ours: 2
    for task in done:
        if task.exception() is not None:
            stats.error("bench bug", repr(task.exception()))
    after = await service_histogram(client, service.base)
    if histogram is not None and after:
        stats.inside = {le: after[le] - histogram.get(le, 0.0) for le in after}
    return stats


async def hold_setup(url: str, callers: int) -> list[str]:
    """Every line talking, `callers` calls waiting for loneliness; their CallSids."""
    db = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        async with session_factory(db).begin() as s:
            line_ids = list((await s.execute(select(Line.id).order_by(Line.id))).scalars())
            talks = [connected_row(now) for _ in line_ids]
            await s.execute(Call.__table__.insert(), talks)
            talking = (await s.execute(select(Call.id).where(Call.state == "connected"))).scalars()
            await s.execute(
                update(Line),
                [{"id": i, "call_id": c} for i, c in zip(line_ids, talking, strict=False)],
            )
            rows = [call_row(now) for _ in range(callers)]  # waiting for loneliness
            sids = [row["call_sid"] for row in rows]
            for i in range(0, len(rows), 2000):
                await s.execute(Call.__table__.insert(), rows[i : i + 2000])
    finally:
        await db.dispose()
    print(f"  {len(line_ids)} lines (config/menus.yaml), all talking; {callers} callers holding")
    return sids


def run(args: argparse.Namespace) -> tuple[HoldStats, HoldStats]:
    """Both scenarios against one service on a fresh database; the figures printed, and
    returned for the summary."""
    print(
        f"\n== hold: {args.callers} callers polling /voice/wait every {args.segment:g} s "
        f"for {args.duration:g} s, then all at once =="
    )
    print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
    with (
        tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp,
        fresh_postgres(args.pg, prefix="hotline_bench") as url,
    ):
        log = Path(tmp, "hotline.log")
        with hotline_serve(url, log, cwd=ROOT, HOTLINE_LOG_LEVEL="WARNING") as live:
            target = Service(live.url, live.pid, url)
            sustained, burst = asyncio.run(bench_hold_async(args, url, target))
        problems = log_problems(log)
    report_hold(
        f"sustained: {args.callers} callers, one poll per {args.segment:g} s",
        sustained,
        args.segment,
    )
    report_hold(f"burst: {args.callers} polls at the same moment", burst)
    print(
        f"  (a burst of {args.callers} simultaneous requests on one service process sharing "
        f"{os.cpu_count()} CPUs with PostgreSQL and this load generator measures queueing, "
        "not the service)"
    )
    if problems:
        errors, first = problems
        print(f"  service log: {errors} ERROR lines; the first:", *first, sep="\n    ")
    return sustained, burst


async def bench_hold_async(
    args: argparse.Namespace, url: str, service: Service
) -> tuple[HoldStats, HoldStats]:
    sids = await hold_setup(url, args.callers)
    if importlib.util.find_spec("sniffio") is None:
        # httpcore 1.0 tries `import sniffio` each time it makes a lock, several times per
        # request; without sniffio installed each try searches sys.path again (~0.1 ms). A
        # None in sys.modules makes the import fail at once, with the same outcome (asyncio).
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    # One client, a connection per caller; uvicorn keeps an idle connection 75 s (hotline
    # serve), longer than a hold segment, so the pool's own expiry comes first.
    pools = args.pools or max(1, -(-args.callers // POOL_SIZE))
    keepalive = max(30.0, args.segment * 3)
    if pools == 1:
        limits = httpx.Limits(
            max_connections=args.callers + 10,
            max_keepalive_connections=args.callers + 10,
            keepalive_expiry=keepalive,
        )
        client = httpx.AsyncClient(timeout=TWILIO_TIMEOUT, limits=limits)
    else:
        client = httpx.AsyncClient(
            timeout=TWILIO_TIMEOUT, transport=ShardedTransport(pools, args.callers, keepalive)
        )
    print(
        f"  load generator: one httpx.AsyncClient, {args.callers} connections in {pools} "
        f"pool{'s' if pools > 1 else ''}"
    )
    next_urls: dict[str, str] = {}
    async with client:
        sustained = await hold_run(
            service, sids, args.segment, args.duration, False, client, next_urls
        )
        burst = await hold_run(service, sids, args.segment, 0.0, True, client, next_urls)
    return sustained, burst


def report_hold(title: str, stats: HoldStats, segment: float = 0.0) -> None:
    n = len(stats.latencies)
    rate = n / stats.wall if stats.wall else 0.0
    errors = sum(stats.errors.values())
    print(f"\n  {title}  (wall {stats.wall:.1f} s)")
    print(MS_HEADER + f"  {'req/s':>7}  {'requests':>8}  errors")
    print(ms_row("/voice/wait", stats.latencies, f"{rate:>7.1f}  {n:>8}  {errors}"))
    per = max(n, 1)
    print(
        f"  CPU: service {stats.server_cpu / per * 1000:.2f} ms/request "
        f"({stats.server_cpu / max(stats.wall, 1e-9):.0%} of one CPU), PostgreSQL (all databases) "
        f"{stats.postgres_cpu / per * 1000:.2f} ms/request "
        f"({stats.postgres_cpu / max(stats.wall, 1e-9):.0%}), load generator "
        f"{stats.client_cpu / max(stats.wall, 1e-9):.0%} of one CPU, whole machine "
        f"{stats.machine:.0%} busy ({os.cpu_count()} CPUs)"
    )
    if stats.inside is not None:
        print(f"  {inside_summary(stats.inside)}")
    if stats.connections > 0:
        print(
            f"  the service opened {stats.connections} new database connections during the run "
            "(its pool keeps 10 and closes each of up to 20 more when it is given back)"
        )
    if segment:
        callers = stats.callers
        cycle = callers / rate if rate else float("inf")
        print(
            f"  offered: {callers} callers, one poll per {segment:g} s each = "
            f"{callers / segment:.0f} polls/s if answers were instant; answered {rate:.0f}/s, "
            f"so a caller's cycle was {cycle:.1f} s instead of {segment:g} s"
        )
    if stats.leaves:
        print(f"  {stats.leaves} polls answered <Leave> (a line was reserved: not expected)")
    for kind, count in stats.errors.most_common():
        print(f"  error: {count} x {kind}, e.g. {stats.examples[kind]}")
