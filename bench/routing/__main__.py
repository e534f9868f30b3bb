"""Routing at scale on PostgreSQL: one assignment pass, and the hold under thousands of callers.

Not a test: a script that prints figures. Two parts, each on its own fresh PostgreSQL database
(created, migrated to head and dropped afterwards, as the tests make them):

1. The assignment pass (`Router.assign`), in this process, with --calls waiting calls and
   --lines lines built from config/menus.yaml (its organisations, languages and options, the
   lines multiplied). Each pass runs in a transaction that is rolled back, so every pass
   starts from the same state (the commit is not timed):
     steady state: all lines but 10 talking, 10 free (a few reservations per pass);
     cold start:   every line free (a reservation for nearly every line).
   The pure engine (`engine.assign`) is timed alone on the same calls and lines, and each
   pass is split into its steps (expire, free lines, waiting calls, engine, updates).

2. The hold: `hotline serve` as a subprocess on a free loopback port, every line talking,
   --callers calls waiting. Each simulated caller polls POST /voice/wait signed as Twilio
   signs it, follows the hold's <Redirect>, and waits one hold segment (the <Pause>) before
   the next poll, starting at a random moment of the first segment. A caller that gets an
   error (no answer within Twilio's 15 s, a status other than 200, TwiML that is neither a
   hold nor <Leave>) polls no more: Twilio would send it to the fallback URL. Then a burst:
   every caller polls once, all at the same moment. The load generator is one
   httpx.AsyncClient whose connections are spread over small pools (see ShardedTransport).

    .venv/bin/python bench/routing.py                      # full size, about 90 seconds
    .venv/bin/python bench/routing.py --calls 1000 --lines 100 --callers 200 --duration 10

Targets: one pass p99 < 20 ms (10,000 calls, 1,000 lines); hold webhook p99 < 50 ms with no
error while 2,000 callers poll. The service, PostgreSQL and the load generator share this
machine's CPUs, with whatever else runs on it: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.util
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import httpx
import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from hotline.calls.models import Call
from hotline.config import HotlineConfig, parse
from hotline.db import make_engine, session_factory
from hotline.routing import engine
from hotline.routing.models import Line
from hotline.routing.store import Router
from hotline.settings import DEV_AUTH_TOKEN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhooks import ROOT, cpu_seconds, free_port, fresh_database, server  # noqa: E402

NUMBER_9999 = "+815055559999"
READY_WITHIN = 30.0  # seconds for the service to start
TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s (then the fallback URL)
TARGET_PASS_P99_MS = 20.0
TARGET_HOLD_P99_MS = 50.0
HISTOGRAM = "hotline_webhook_duration_seconds_bucket{"  # the service's /metrics
POOL_SIZE = 10  # connections per pool of the load generator (see ShardedTransport)
STEADY_FREE = 10  # free lines in the steady-state scenario
WARMUP_PASSES = 3  # not counted: compiled statements, prepared statements, caches
WAIT_SPREAD = dt.timedelta(minutes=10)  # waiting_since spread over the last 10 minutes
# Share of the waiting callers by option (per-option counts of the trials were not published:
# mostly 孤独・孤立, about 8% under 18 as on いのちの日, a few of the others), and the
# languages of those who chose the foreign-language key.
OPTION_SHARES = {"loneliness": 80, "under18": 8, "women": 5, "gender": 3, "foreign": 4}
LANGUAGE_SHARES = {"en": 35, "zh": 20, "ko": 10, "vi": 10, "pt": 10, "es": 5, "tl": 5, "ne": 5}


# -- configuration --------------------------------------------------------------------------
def big_config(lines: int) -> HotlineConfig:
    """menus.yaml with its lines multiplied to `lines`, each a copy of a shipped line in turn.

    Line n copies shipped line n mod 21: its organisation and its languages (so the
    foreign-language lines keep theirs), with the id f"{org}-{n:04d}".
    """
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    shipped = [(org, line) for org in data["organisations"] for line in org["lines"]]
    if lines < len(shipped):
        raise SystemExit(f"--lines must be at least {len(shipped)} (one per shipped line)")
    for org in data["organisations"]:
        org["lines"] = []
    for n in range(lines):
        org, template = shipped[n % len(shipped)]
        line = {"id": f"{org['id']}-{n:04d}", "target": f"sip:l{n}@{org['id']}.example.invalid"}
        line.update({k: template[k] for k in ("languages", "hours") if k in template})
        org["lines"].append(line)
    return parse(data, f"menus.yaml with {lines} lines")


# -- processes and databases ----------------------------------------------------------------
def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@contextmanager
def serve(db_url: str, log: Path) -> Iterator[tuple[str, int]]:
    """`hotline serve` on a free loopback port until GET /readyz answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env.update(
        HOTLINE_ENV="development",
        HOTLINE_LOG_LEVEL="WARNING",
        HOTLINE_DATABASE_URL=db_url,
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)]
    with server(cmd, env, port, log) as running:
        yield running


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def postgres_cpu() -> float:
    """CPU seconds so far of the local PostgreSQL server, every database (Linux /proc).

    Its live processes, plus the backends that have exited (reaped by the postmaster, their
    time is in its children's time): a pool that opens and closes connections is counted.
    """
    stats: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with suppress(OSError):
                head, rest = (proc / "stat").read_text().rsplit(")", 1)
                if head.endswith("(postgres"):
                    stats[int(proc.name)] = rest.split()
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # the postmaster
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


async def database_sessions(url: str) -> int:
    """Connections ever opened to this database (pg_stat_database.sessions, PostgreSQL 14+)."""
    conn = await asyncpg.connect(plain_url(url), timeout=5)
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        return int(await conn.fetchval(query) or 0)
    finally:
        await conn.close()


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat; (0, 0) elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


# -- figures --------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank (with 50 values, p99 is the largest)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def spread(seconds: Sequence[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": values[-1] if values else float("nan"),
    }


def ms_row(label: str, seconds: Sequence[float], extra: str = "") -> str:
    s = spread(seconds)
    return f"  {label:<34} {s['p50']:>8.2f} {s['p90']:>8.2f} {s['p99']:>8.2f} {s['max']:>8.2f}" + (
        f"  {extra}" if extra else ""
    )


MS_HEADER = f"  {'':<34} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"


# -- part 1: the assignment pass ------------------------------------------------------------
def waiting_rows(count: int, now: dt.datetime, rng: random.Random) -> list[dict[str, Any]]:
    options = rng.choices(list(OPTION_SHARES), weights=list(OPTION_SHARES.values()), k=count)
    languages = list(LANGUAGE_SHARES)
    rows = []
    for option in options:
        since = now - rng.random() * WAIT_SPREAD
        language = None
        if option == "foreign":
            language = rng.choices(languages, weights=list(LANGUAGE_SHARES.values()))[0]
        rows.append(
            dict(
                call_sid="CA" + uuid.UUID(int=rng.getrandbits(128)).hex,
                entry="9999",
                period_id="none",
                menu_id="period-5",
                option_id=option,
                language=language,
                state="waiting",
                priority=0,
                created_at=since - dt.timedelta(seconds=20),  # the menu took a while
                waiting_since=since,
                status_seq=-1,
            )
        )
    return rows


def connected_rows(count: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Calls talking on a line (state connected): what keeps a line busy."""
    return [
        dict(
            call_sid="CA" + uuid.uuid4().hex,
            entry="9999",
            period_id="none",
            menu_id="period-5",
            option_id="loneliness",
            state="connected",
            priority=0,
            created_at=now - dt.timedelta(minutes=5),
            waiting_since=now - dt.timedelta(minutes=4),
            connected_at=now - dt.timedelta(minutes=3),
            status_seq=-1,
        )
        for _ in range(count)
    ]


STEPS = ("expire", "free lines", "waiting calls", "engine", "updates")


class GcWatch:
    """Counts full (generation 2) garbage collections that start while `timing` is set."""

    def __init__(self) -> None:
        self.timing, self.full = False, 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if self.timing and phase == "start" and info["generation"] == 2:
            self.full += 1

    @contextmanager
    def timed(self, counted: bool = True) -> Iterator[None]:
        self.timing = counted
        try:
            yield
        finally:
            self.timing = False

    @contextmanager
    def installed(self) -> Iterator[GcWatch]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


class TimedRouter:
    """Router.assign with its steps timed, unchanged: a subclass made here, and the engine
    function wrapped while `patch` is active."""

    def __init__(self, cfg: HotlineConfig, **kw: int) -> None:
        self.current: dict[str, float] = {}  # step -> seconds, in the pass under way
        self.handed = 0  # waiting calls handed to the engine in the pass under way
        current = self.current

        def timed(name: str, method: Any) -> Any:
            async def run(self: Router, *a: Any, **k: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await method(self, *a, **k)
                finally:
                    current[name] = current.get(name, 0.0) + time.perf_counter() - start

            return run

        class Timed(Router):
            _expire = timed("expire", Router._expire)
            _free_lines = timed("free lines", Router._free_lines)
            _waiting = timed("waiting calls", Router._waiting)

        pure = engine.assign

        def timed_engine(
            calls: Sequence[engine.WaitingCall],
            lines: Sequence[engine.FreeLine],
            table: Mapping[str, engine.OptionRouting],
            now: dt.datetime,
        ) -> list[engine.Reservation]:
            start = time.perf_counter()
            try:
                return pure(calls, lines, table, now)
            finally:
                current["engine"] = current.get("engine", 0.0) + time.perf_counter() - start
                self.handed = len(calls)

        self.router = Timed(cfg, **kw)
        self.patch = mock.patch.object(engine, "assign", timed_engine)

    def start(self) -> None:
        self.current.clear()
        self.handed = 0


@dataclass
class PassRun:
    name: str
    totals: list[float] = field(default_factory=list)
    reservations: list[int] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    handed: list[int] = field(default_factory=list)
    full_gcs: int = 0  # full garbage collections during the timed passes


async def time_passes(
    name: str,
    timed: TimedRouter,
    sessions: async_sessionmaker[AsyncSession],
    url: str,
    passes: int,
    vacuum: bool,
) -> PassRun:
    run = PassRun(name)
    admin = await asyncpg.connect(plain_url(url), timeout=5)
    try:
        await admin.execute("VACUUM ANALYZE calls, lines")
        with timed.patch, GcWatch().installed() as gcs:
            for i in range(WARMUP_PASSES + passes):
                async with sessions() as session:
                    timed.start()
                    now = dt.datetime.now(dt.UTC)
                    with gcs.timed(i >= WARMUP_PASSES):
                        start = time.perf_counter()
                        made = await timed.router.assign(session, now)
                        elapsed = time.perf_counter() - start
                    await session.rollback()
                if i >= WARMUP_PASSES:
                    run.totals.append(elapsed)
                    run.reservations.append(len(made))
                    run.handed.append(timed.handed)
                    # What the pass did not spend in the other steps went to the two UPDATEs.
                    steps = {s: timed.current.get(s, 0.0) for s in STEPS[:-1]}
                    steps["updates"] = max(elapsed - sum(steps.values()), 0.0)
                    for s, seconds in steps.items():
                        run.steps[s].append(seconds)
                if vacuum:  # the rolled-back updates leave dead rows: clear them, untimed
                    await admin.execute("VACUUM calls, lines")
        run.full_gcs = gcs.full
    finally:
        await admin.close()
    return run


def time_engine(
    calls: Sequence[engine.WaitingCall],
    lines: Sequence[engine.FreeLine],
    table: Mapping[str, engine.OptionRouting],
    passes: int,
) -> tuple[list[float], int]:
    """Seconds of each pure engine pass, and the full garbage collections during them."""
    times = []
    with GcWatch().installed() as gcs:
        for i in range(WARMUP_PASSES + passes):
            now = dt.datetime.now(dt.UTC)
            with gcs.timed(i >= WARMUP_PASSES):
                start = time.perf_counter()
                engine.assign(calls, lines, table, now)
                elapsed = time.perf_counter() - start
            if i >= WARMUP_PASSES:
                times.append(elapsed)
    return times, gcs.full


async def bench_pass(args: argparse.Namespace, url: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    cfg = big_config(args.lines)
    timed = TimedRouter(cfg, reservation_timeout=30, cooldown=60)
    router = timed.router
    db = make_engine(url)
    sessions = session_factory(db)
    now = dt.datetime.now(dt.UTC)
    try:
        async with sessions.begin() as s:
            await router.sync_lines(s, now)
            rows = waiting_rows(args.calls, now, rng)
            for i in range(0, len(rows), 2000):
                await s.execute(Call.__table__.insert(), rows[i : i + 2000])
            await s.execute(Call.__table__.insert(), connected_rows(args.lines, now))
            talking = list(
                (await s.execute(select(Call.id).where(Call.state == "connected"))).scalars()
            )
            # Lines went free at different moments: the engine offers the longest idle first.
            idle = {
                line_id: now - dt.timedelta(seconds=rng.uniform(0, 3600))
                for line_id in router.lines
            }
            await s.execute(update(Line), [{"id": i, "idle_since": t} for i, t in idle.items()])
        waiting = [
            engine.WaitingCall(i, r["option_id"], r["language"] or "ja", r["waiting_since"], 0)
            for i, r in enumerate(rows, start=1)
        ]
        by_option = Counter(r["option_id"] for r in rows)
        print(
            f"  set up in {time.perf_counter() - started:.1f} s: {args.lines} lines over "
            f"{len(cfg.organisations)} organisations, {args.calls} waiting calls ("
            + ", ".join(f"{o} {n}" for o, n in by_option.most_common())
            + f"), waiting 0-{WAIT_SPREAD.seconds // 60} min"
        )

        line_ids = sorted(router.lines)
        free = set(rng.sample(line_ids, min(STEADY_FREE, len(line_ids))))
        busy = [lid for lid in line_ids if lid not in free]
        async with sessions.begin() as s:
            await s.execute(
                update(Line),
                [{"id": lid, "call_id": talking[k]} for k, lid in enumerate(busy)],
            )
        steady = await time_passes("steady", timed, sessions, url, args.passes, args.vacuum)

        async with sessions.begin() as s:
            await s.execute(update(Line).values(call_id=None))
        cold = await time_passes("cold", timed, sessions, url, args.passes, args.vacuum)
    finally:
        await db.dispose()

    def free_lines(ids: Sequence[str]) -> list[engine.FreeLine]:
        return [
            engine.FreeLine(i, router.lines[i][0].id, router.languages[i], idle[i]) for i in ids
        ]

    engine_steady = time_engine(waiting, free_lines(sorted(free)), router.table, args.passes)
    engine_cold = time_engine(waiting, free_lines(line_ids), router.table, args.passes)
    return {"steady": steady, "cold": cold, "engine": (engine_steady, engine_cold)}


def report_pass(args: argparse.Namespace, result: dict[str, Any]) -> None:
    steady, cold = result["steady"], result["cold"]
    engine_steady, engine_cold = result["engine"]
    vacuum = "VACUUM between passes" if args.vacuum else "no VACUUM between passes"
    print(
        f"\n  one pass (Router.assign), {args.passes} passes each, each rolled back "
        f"({vacuum}, {WARMUP_PASSES} warm-up passes not counted; commit not timed)"
    )
    print(MS_HEADER + "  reservations/pass  full GCs")
    for run, label in (
        (steady, f"steady: {STEADY_FREE} free, {args.lines - STEADY_FREE} busy"),
        (cold, f"cold start: {args.lines} free"),
    ):
        made = statistics.mean(run.reservations) if run.reservations else 0
        print(ms_row(label, run.totals, f"{made:>17.0f}  {run.full_gcs:>8}"))
    print(f"\n  pure engine alone (engine.assign), all {args.calls} calls in memory")
    print(MS_HEADER + "  full GCs")
    print(ms_row(f"steady: x {STEADY_FREE} free lines", engine_steady[0], f"{engine_steady[1]:>8}"))
    print(ms_row(f"cold start: x {args.lines} free lines", engine_cold[0], f"{engine_cold[1]:>8}"))
    print("\n  where a pass spends its time (mean ms per step; the store hands the engine only")
    print("  the first calls of each option and language, as many as there are free lines)")
    print(f"  {'':<16}" + "".join(f" {s:>13}" for s in STEPS) + "  calls to engine")
    for run in (steady, cold):
        means = [statistics.mean(run.steps[s]) * 1000 if run.steps[s] else 0.0 for s in STEPS]
        handed = statistics.mean(run.handed) if run.handed else 0
        print(f"  {run.name:<16}" + "".join(f" {m:>13.2f}" for m in means) + f"  {handed:>15.0f}")
    if args.passes < 100:
        print(f"  (p99 of {args.passes} passes is the slowest one: nearest rank)")


# -- part 2: the hold ------------------------------------------------------------------------
@dataclass
class HoldStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # the first of each kind
    leaves: int = 0
    callers: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0  # the whole PostgreSQL server (every database)
    connections: int = 0  # connections the service opened to its database
    client_cpu: float = 0.0
    machine: float = 0.0  # share of all CPUs busy during the run
    inside: dict[float, float] | None = None  # the service's own histogram of /voice/wait

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, what[:300])


def hold_params(sid: str, position: int, waited: float, size: int) -> dict[str, str]:
    caller = f"+8190{position % 100_000_000:08d}"
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": NUMBER_9999,
        "Caller": caller,
        "Called": NUMBER_9999,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "CallStatus": "in-progress",
        "QueueSid": "QU" + "0" * 32,
        "QueuePosition": str(position),
        "QueueTime": str(int(waited)),
        "AvgQueueTime": str(int(waited)),
        "CurrentQueueSize": str(size),
    }


class Poller:
    """Signs and posts hold polls as Twilio does; records latency and checks the TwiML."""

    def __init__(self, client: httpx.AsyncClient, stats: HoldStats) -> None:
        self.client, self.stats = client, stats
        self.validator = RequestValidator(DEV_AUTH_TOKEN)

    async def poll(self, url: str, params: dict[str, str], position: int) -> str | None:
        """The next wait URL (the hold's <Redirect>); None if the caller left the hold.

        A caller leaves on <Leave> (a line was reserved) and on an error: Twilio then
        requests the fallback URL (not simulated here), so that caller polls no more.
        """
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        pool = {"bench_pool": position}  # see ShardedTransport
        start = time.perf_counter()
        try:
            resp = await self.client.post(url, data=params, headers=headers, extensions=pool)
        except httpx.HTTPError as e:
            # A timeout counts in the latencies too, as the time it took to give up.
            self.stats.latencies.append(time.perf_counter() - start)
            self.stats.error(type(e).__name__, repr(e))
            return None
        self.stats.latencies.append(time.perf_counter() - start)
        if resp.status_code != 200:
            self.stats.error(f"HTTP {resp.status_code}", f"{resp.status_code} {resp.text}")
            return None
        try:
            doc = ET.fromstring(resp.content)
        except ET.ParseError:
            self.stats.error("not XML", resp.text)
            return None
        tags = {el.tag for el in doc}
        if "Leave" in tags:
            self.stats.leaves += 1
            return None
        redirect = doc.find("Redirect")
        if (
            redirect is None
            or not redirect.text
            or "Pause" not in tags
            or tags & {"Dial", "Hangup"}
        ):
            self.stats.error("not a hold", resp.text)  # closed, or the fallback (apology, Dial)
            return None
        return redirect.text


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


async def service_histogram(client: httpx.AsyncClient, base: str) -> dict[float, float] | None:
    """The service's own /voice/wait latency histogram (cumulative count by bucket bound);
    empty before its first /voice/wait, None if the service has no /metrics.

    Measured by its ASGI middleware: from the app receiving the request to the answer, so
    without the time a request waited in the socket and uvicorn before the app read it.
    """
    try:
        resp = await client.get(f"{base}/metrics", extensions={"bench_pool": 0})
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    buckets = {}
    for line in resp.text.splitlines():
        if line.startswith(HISTOGRAM) and 'route="/voice/wait"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def inside_summary(buckets: dict[float, float]) -> str:
    total = buckets.get(float("inf"), 0.0)
    if total <= 0:
        return "no /voice/wait in the service's histogram"
    bounds = sorted(buckets)
    within = buckets.get(TARGET_HOLD_P99_MS / 1000, float("nan")) / total
    p99 = next(b for b in bounds if buckets[b] >= 0.99 * total)
    p99_text = f"<= {p99 * 1000:g} ms" if p99 != float("inf") else f"> {bounds[-2] * 1000:g} ms"
    return (
        f"inside the service (its own histogram, {total:.0f} answers): {within:.1%} within "
        f"{TARGET_HOLD_P99_MS:g} ms, p99 {p99_text}"
    )


async def hold_setup(url: str, callers: int) -> list[str]:
    """Every line talking, `callers` calls waiting for loneliness; their CallSids."""
    db = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        async with session_factory(db).begin() as s:
            line_ids = list((await s.execute(select(Line.id).order_by(Line.id))).scalars())
            await s.execute(Call.__table__.insert(), connected_rows(len(line_ids), now))
            talking = (await s.execute(select(Call.id).where(Call.state == "connected"))).scalars()
            await s.execute(
                update(Line),
                [{"id": i, "call_id": c} for i, c in zip(line_ids, talking, strict=False)],
            )
            sids = ["CA" + uuid.uuid4().hex for _ in range(callers)]
            rows = [
                dict(
                    call_sid=sid,
                    entry="9999",
                    period_id="none",
                    menu_id="period-5",
                    option_id="loneliness",
                    state="waiting",
                    priority=0,
                    created_at=now,
                    waiting_since=now,
                    status_seq=-1,
                )
                for sid in sids
            ]
            for i in range(0, len(rows), 2000):
                await s.execute(Call.__table__.insert(), rows[i : i + 2000])
    finally:
        await db.dispose()
    print(f"  {len(line_ids)} lines (config/menus.yaml), all talking; {callers} callers holding")
    return sids


class ShardedTransport(httpx.AsyncBaseTransport):
    """One client's connections kept in several pools, each caller always in the same one.

    httpcore 1.0's pool walks its connections whenever a request starts or ends: a poll() of
    each idle socket, and a count of the idle ones for each connection (quadratic). With
    2,000 connections in one pool the load generator, not the service, set the pace: about
    20 requests/s with the whole CPU busy. Pools of POOL_SIZE connections keep that small.
    """

    def __init__(self, pools: int, connections: int, keepalive: float) -> None:
        per_pool = -(-connections // pools) + 1
        limits = httpx.Limits(
            max_connections=per_pool, max_keepalive_connections=per_pool, keepalive_expiry=keepalive
        )
        tls = ssl.create_default_context()  # one for all (loading the CA file takes ~20 ms)
        self.pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls) for _ in range(pools)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self.pools[int(request.extensions.get("bench_pool", 0)) % len(self.pools)]
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


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


def log_problems(log: Path) -> tuple[int, list[str]] | None:
    """How many ERROR lines the service logged, and the first with its traceback."""
    lines = log.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("ERROR", "CRITICAL"))]
    if not starts:
        return None
    first = [lines[starts[0]]]
    for line in lines[starts[0] + 1 : starts[0] + 60]:
        if line.startswith(("ERROR", "WARNING", "INFO", "CRITICAL")):
            break
        first.append(line)
    if len(first) > 16:
        first = [*first[:8], "...", *first[-8:]]
    return len(starts), first


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10_000, help="waiting calls in the pass")
    p.add_argument("--lines", type=int, default=1_000, help="lines in the pass")
    p.add_argument("--passes", type=int, default=50, help="timed passes per scenario")
    p.add_argument("--callers", type=int, default=2_000, help="callers polling the hold")
    p.add_argument("--segment", type=float, default=5.0, help="seconds between a caller's polls")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of hold polling")
    p.add_argument(
        "--pg",
        default=os.environ.get("HOTLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin URL of the PostgreSQL server: databases are made and dropped there",
    )
    p.add_argument("--only", choices=("pass", "hold"), help="run one part only")
    p.add_argument(
        "--pools",
        type=int,
        default=0,
        help=f"connection pools of the load generator (default: one per {POOL_SIZE} callers)",
    )
    p.add_argument("--seed", type=int, default=9999, help="random seed of the waiting calls")
    p.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM (untimed) between rolled-back passes",
    )
    args = p.parse_args(argv)
    if min(args.calls, args.lines, args.passes, args.callers) < 1:
        p.error("--calls, --lines, --passes and --callers must be at least 1")
    if not (0 < args.segment <= 60 and 0 < args.duration <= 3600):
        p.error("--segment must be in (0, 60] and --duration in (0, 3600] seconds")

    print(f"PostgreSQL at {args.pg.rsplit('@', 1)[-1]}; {os.cpu_count()} CPUs on this machine")
    pass_result = sustained = burst = None
    if args.only in (None, "pass"):
        print(f"\n== assignment pass: {args.calls} waiting calls, {args.lines} lines ==")
        print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
        with fresh_database(args.pg) as url:
            pass_result = asyncio.run(bench_pass(args, url))
        report_pass(args, pass_result)
    if args.only in (None, "hold"):
        print(
            f"\n== hold: {args.callers} callers polling /voice/wait every {args.segment:g} s "
            f"for {args.duration:g} s, then all at once =="
        )
        print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
        with (
            tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp,
            fresh_database(args.pg) as url,
        ):
            log = Path(tmp, "hotline.log")
            with serve(url, log) as (base, pid):
                target = Service(base, pid, url)
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
    summary(args, pass_result, sustained, burst)
    return 0


def busy_now(seconds: float = 2.0) -> str:
    """How busy the CPUs are now: anything but a few % is other work sharing the machine."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    if total1 <= total0:
        return "CPU use unknown"
    return f"CPUs {(busy1 - busy0) / (total1 - total0):.0%} busy"


def summary(
    args: argparse.Namespace,
    pass_result: dict[str, Any] | None,
    sustained: HoldStats | None,
    burst: HoldStats | None,
) -> None:
    print("\n== summary ==")
    print(f"  {'figure':<56} {'measured':>12}  target")

    def row(label: str, value: float, target: float | None, ok: bool | None = None) -> None:
        if target is None:
            verdict = "(no target)"
        else:
            good = value < target if ok is None else ok
            verdict = f"< {target:.0f} ms: " + ("ok" if good else "MISSED")
        print(f"  {label:<56} {value:>9.2f} ms  {verdict}")

    if pass_result:
        size = f"{args.calls} calls x {args.lines} lines"
        steady, cold = pass_result["steady"], pass_result["cold"]
        target = TARGET_PASS_P99_MS
        row(f"pass p99, steady ({STEADY_FREE} free; {size})", spread(steady.totals)["p99"], target)
        row(f"pass p99, cold start ({args.lines} free)", spread(cold.totals)["p99"], target)
        engine_steady, engine_cold = pass_result["engine"]
        row(
            f"  pure engine alone, all {args.calls} calls, steady, p99",
            spread(engine_steady[0])["p99"],
            None,
        )
        row(
            f"  pure engine alone, all {args.calls} calls, cold start, p99",
            spread(engine_cold[0])["p99"],
            None,
        )
    if sustained:
        errors = sum(sustained.errors.values())
        p99 = spread(sustained.latencies)["p99"]
        row(
            f"hold webhook p99, {args.callers} callers polling ({errors} errors)",
            p99,
            TARGET_HOLD_P99_MS,
            p99 < TARGET_HOLD_P99_MS and errors == 0,
        )
    if burst:
        errors = sum(burst.errors.values())
        row(
            f"hold webhook p99, burst of {args.callers} ({errors} errors)",
            spread(burst.latencies)["p99"],
            None,
        )


if __name__ == "__main__":
    sys.exit(main())
