"""Part 2, the hold: `hotline serve` on a free loopback port, every line talking, callers
waiting and polling /voice/wait, in two scenarios:

  sustained: each caller polls once per hold segment for --duration seconds (default: three
             segments, at least 30 s), starting at a random moment of the first segment;
  burst:     every caller polls once, all at the same moment.

The segment is the one the service answers: each caller waits the <Pause> of its last answer
before the next poll, as Twilio plays it (the time of what is said is not added: Twilio would
poll a little less often than this). By default the service has pushed reservations: a REST
account on the local stand-in of Twilio's API (`hotline.testing.twilio_api`, in this process),
whose queue holds every caller, so it plays the long segments; `--poll-only` runs it without
a REST account (the 5 s segments). Hold music is turned off in a copy of config/menus.yaml:
a track's length is not in the TwiML, a pause's is.

A caller that gets an error (no answer within Twilio's 15 s, a status other than 200, TwiML
that is neither a hold nor <Leave>) polls no more: Twilio would send it to the fallback URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import httpx
import yaml
from sqlalchemy import select, update

from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.lines.models import Line
from hotline.testing.databases import fresh_postgres
from hotline.testing.measure import cpu_seconds
from hotline.testing.rows import call_row, connected_row
from hotline.testing.secrets import TEST_TOKEN
from hotline.testing.servers import hotline_serve
from hotline.testing.twilio_api import TwilioApi, twilio_api

from . import ROOT
from .figures import MS_HEADER, TARGET_HOLD_P99_MS, ms_row, spread
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

ACCOUNT = "AC" + "9" * 32  # the stand-in's made-up account
QUEUE = "hotline-loneliness"  # the Twilio queue of the callers (hotline.ivr.twiml.queue_name)


@dataclass(frozen=True)
class Service:
    base: str  # where it listens, http://127.0.0.1:PORT
    pid: int
    url: str  # its database
    api: TwilioApi | None = None  # the REST stand-in, when the service pushes reservations
    tick: str = "2 s (the default)"  # its HOTLINE_TICK_SECONDS, as said in the report


@contextmanager
def serving(url: str, tmp: str, *, pushed: bool, tick: float | None) -> Iterator[Service]:
    """`hotline serve` on `url` with hold music off; with `pushed`, a REST account on the
    stand-in (else no account at all: HOTLINE_ENV=test, as development defaults to one)."""
    with open(ROOT / "config" / "menus.yaml", encoding="utf-8") as f:
        menus = yaml.safe_load(f)
    menus["hold"]["music"] = None  # a pause, whose length the TwiML says
    config = Path(tmp, "menus.yaml")
    config.write_text(yaml.safe_dump(menus, allow_unicode=True), encoding="utf-8")
    env = {"HOTLINE_CONFIG_PATH": str(config), "HOTLINE_LOG_LEVEL": "WARNING"}
    if tick is not None:
        env["HOTLINE_TICK_SECONDS"] = f"{tick:g}"
    said = f"{tick:g} s" if tick is not None else "2 s (the default)"
    log = Path(tmp, "hotline.log")
    with contextlib.ExitStack() as stack:
        api = None
        if pushed:
            api = stack.enter_context(twilio_api(ACCOUNT, TEST_TOKEN))  # the service's token
            env.update(TWILIO_ACCOUNT_SID=ACCOUNT, HOTLINE_TWILIO_API_BASE=api.base_url)
        else:
            env["HOTLINE_ENV"] = "test"
        live = stack.enter_context(hotline_serve(url, log, cwd=ROOT, **env))
        try:
            yield Service(live.url, live.pid, url, api, said)
        finally:
            stack.close()
            problems = log_problems(log)
            if problems:
                errors, first = problems
                print(f"  service log: {errors} ERROR lines; the first:", *first, sep="\n    ")


def mode(pushed: bool) -> str:
    if pushed:
        return "pushed reservations (REST account on the stand-in)"
    return "poll only (no REST account)"


async def hold_run(
    service: Service,
    sids: list[str],
    segment: float,
    duration: float,
    burst: bool,
    client: httpx.AsyncClient,
    next_urls: dict[str, str],
) -> HoldStats:
    """Every caller polls (once each if `burst`, else once per answered segment for
    `duration` s; `segment` is the first answer's, for the callers' staggered start)."""
    stats = HoldStats(callers=len(sids))
    poller = Poller(client, stats)
    rng = random.Random(len(sids))
    max_polls = int(duration) + 2  # a bound even if the clock misbehaved (segments >= 1 s)
    go = asyncio.Event()
    first = deadline = 0.0  # set when the run starts, just before `go`

    async def caller(position: int, sid: str) -> None:
        url = next_urls.get(sid, f"{service.base}/voice/wait?o=loneliness&n=1")
        await go.wait()
        joined = first - position * 0.01  # they joined the queue in turn, 10 ms apart
        if burst:
            params = hold_params(sid, position, time.monotonic() - joined, len(sids))
            held = await poller.poll(url, params, position)
            next_urls[sid] = held.url if held else url
            return
        await asyncio.sleep(rng.uniform(0, segment))  # staggered: they joined at other times
        for _ in range(max_polls):
            if time.monotonic() >= deadline:
                break
            params = hold_params(sid, position, time.monotonic() - joined, len(sids))
            held = await poller.poll(url, params, position)
            if held is None:
                break  # left the hold: for a line, or to Twilio's fallback after an error
            url = held.url  # Twilio follows the <Redirect>: n counts the segments
            if time.monotonic() + held.pause >= deadline:
                break  # no more polls in the run: do not wait for nothing
            await asyncio.sleep(held.pause)  # the hold's <Pause>, as answered
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
    pushed = not args.poll_only
    print(
        f"\n== hold: {args.callers} callers polling /voice/wait once per segment, then all at "
        f"once; {mode(pushed)} =="
    )
    print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
    with (
        tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp,
        fresh_postgres(args.pg, prefix="hotline_bench") as url,
        serving(url, tmp, pushed=pushed, tick=args.tick) as service,
    ):
        sustained, burst = asyncio.run(bench_hold_async(args, url, service))
    report_hold(f"sustained: {args.callers} callers, one poll per segment", sustained, True)
    report_hold(f"burst: {args.callers} polls at the same moment", burst)
    print(
        f"  (a burst of {args.callers} simultaneous requests on one service process sharing "
        f"{os.cpu_count()} CPUs with PostgreSQL and this load generator measures queueing, "
        "not the service)"
    )
    return sustained, burst


async def bench_hold_async(
    args: argparse.Namespace, url: str, service: Service
) -> tuple[HoldStats, HoldStats]:
    sids = await hold_setup(url, args.callers)
    if service.api is not None:  # Twilio holds every caller in the option's queue
        service.api.members[service.api.queue(QUEUE)] = list(sids)
    if importlib.util.find_spec("sniffio") is None:
        # httpcore 1.0 tries `import sniffio` each time it makes a lock, several times per
        # request; without sniffio installed each try searches sys.path again (~0.1 ms). A
        # None in sys.modules makes the import fail at once, with the same outcome (asyncio).
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    # One client, a connection per caller; uvicorn keeps an idle connection 75 s (hotline
    # serve), longer than a hold segment, so the pool's own expiry comes first.
    pools = args.pools or max(1, -(-args.callers // POOL_SIZE))
    keepalive = 70.0  # past the longest segment (60 s under load), under uvicorn's 75 s
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
        segment = await first_segment(service, sids[-1], client, next_urls)
        duration = args.duration or max(30.0, 3 * segment)
        print(
            f"  the service answers {segment:g} s segments: {args.callers} callers offer "
            f"{args.callers / segment:.0f} polls/s; polling for {duration:g} s"
        )
        sustained = await hold_run(service, sids, segment, duration, False, client, next_urls)
        burst = await hold_run(service, sids, segment, 0.0, True, client, next_urls)
    return sustained, burst


async def first_segment(
    service: Service, sid: str, client: httpx.AsyncClient, next_urls: dict[str, str]
) -> float:
    """One poll of the last caller, before the run: the segment the service answers."""
    stats = HoldStats(callers=1)
    url = f"{service.base}/voice/wait?o=loneliness&n=1"
    held = await Poller(client, stats).poll(url, hold_params(sid, 1, 0.0, 1), 0)
    if held is None:
        raise SystemExit(f"the first hold poll was not a hold: {dict(stats.examples)}")
    next_urls[sid] = held.url
    return held.pause


def report_hold(title: str, stats: HoldStats, sustained: bool = False) -> None:
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
    if sustained and stats.pauses:
        segment = fmean(stats.pauses)
        offered = stats.callers / segment
        p99 = spread(stats.latencies)["p99"]
        verdict = "ok" if p99 < TARGET_HOLD_P99_MS and stats.timeouts == 0 else "MISSED"
        print(
            f"  offered: {stats.callers} callers, one poll per {segment:g} s (the answered "
            f"<Pause>, mean) = {offered:.0f} polls/s; answered {rate:.0f}/s; "
            f"{stats.timeouts} timeouts (> {TWILIO_TIMEOUT:g} s); p99 {p99:.0f} ms "
            f"(target: 0 timeouts, p99 < {TARGET_HOLD_P99_MS:.0f} ms: {verdict})"
        )
    if stats.leaves:
        print(f"  {stats.leaves} polls answered <Leave> (a line was reserved: not expected)")
    for kind, count in stats.errors.most_common():
        print(f"  error: {count} x {kind}, e.g. {stats.examples[kind]}")
