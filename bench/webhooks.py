"""Webhook throughput and latency on PostgreSQL, beside a bare FastAPI endpoint.

Not a test: a script that prints figures. It starts `hotline serve` (uvicorn) as a subprocess
on a free loopback port against a fresh PostgreSQL database (or --database-url), and drives
many concurrent scripted calls through it as Twilio would, with signed requests:

    POST /voice/incoming  ->  POST /voice/menu (Digits=8)  ->  POST the first /voice/wait

Then it starts a bare FastAPI app (one POST endpoint answering a fixed TwiML document) under
uvicorn the same way and drives the same number of requests at the same concurrency, so the
cost of our code (signature, database, flow, TwiML) can be read off against the framework's.

    .venv/bin/python bench/webhooks.py --calls 1000 --concurrency 50

Then two floors, the same endpoint that also parses the form and sends one statement to
PostgreSQL (an upsert into a scratch table of a fresh database) per request: once through
asyncpg alone (autocommit: one round trip) and once through SQLAlchemy in a transaction
(BEGIN, the statement, COMMIT), as a webhook of ours must. They say what the framework and a
single database step cost on this machine, which no code of ours can go under
(--no-floors skips them).

Both servers and the load generator share this machine's CPUs: read the ratio, not the
absolute numbers. Targets: p99 < 50 ms per webhook; our throughput >= 30% of the bare one;
server CPU <= 1.0 ms per webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hotline.testing.databases import PostgresUnavailable, fresh_postgres
from hotline.testing.measure import cpu_seconds, percentile
from hotline.testing.servers import ServerFailed, free_port, hotline_env, hotline_serve, running
from hotline.testing.twilio_requests import Signer, inbound_params, numbered_caller

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.30
TARGET_CPU_MS = 1.0
WEBHOOKS = ("incoming", "menu", "wait")


# -- the bare endpoint ----------------------------------------------------------------------
def bare_twiml() -> str:
    """The fixed TwiML document the bare endpoint (and the floors) answer."""
    from twilio.twiml.voice_response import VoiceResponse

    doc = VoiceResponse()
    doc.say("お待たせしています。相談員が空き次第おつなぎします。", language="ja-JP")
    doc.pause(length=5)
    doc.redirect("http://127.0.0.1/voice/bare", method="POST")
    return str(doc.to_xml())


def bare_app():  # type: ignore[no-untyped-def]
    """FastAPI with one POST endpoint answering a fixed TwiML document."""
    from fastapi import FastAPI
    from starlette.responses import Response

    body = bare_twiml()
    app = FastAPI()

    @app.post("/voice/bare")
    async def bare() -> Response:
        return Response(body, media_type="application/xml")

    @app.get("/readyz")  # what the bench waits for before driving it, as for hotline serve
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


# The floors: one statement per request, through asyncpg alone or through SQLAlchemy.
FLOORS = {
    "asyncpg": "one PostgreSQL statement per request, asyncpg alone (autocommit)",
    "sqlalchemy": "one PostgreSQL statement per request in a SQLAlchemy transaction",
}
FLOOR_TABLE = "CREATE TABLE IF NOT EXISTS bench_floor (call_sid text PRIMARY KEY, hits int)"
FLOOR_UPSERT = (
    "INSERT INTO bench_floor (call_sid, hits) VALUES ($1, 1) ON CONFLICT (call_sid) "
    "DO UPDATE SET hits = bench_floor.hits + 1 RETURNING hits"
)


def floor_app(kind: str, database_url: str):  # type: ignore[no-untyped-def]
    """The bare endpoint that also parses the form and upserts one row keyed by CallSid."""
    from contextlib import asynccontextmanager

    import asyncpg
    from fastapi import FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from starlette.requests import Request
    from starlette.responses import Response

    body = bare_twiml()
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    upsert = text(FLOOR_UPSERT.replace("$1", ":sid"))
    held: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        conn = await asyncpg.connect(dsn)
        await conn.execute(FLOOR_TABLE)
        await conn.close()
        if kind == "asyncpg":
            held["pool"] = pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
            yield
            await pool.close()
        else:  # as the service's voice pool: no ping at checkout
            engine = create_async_engine(database_url, pool_size=10, pool_pre_ping=False)
            held["sessions"] = async_sessionmaker(engine, expire_on_commit=False)
            yield
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    async def one_statement(call_sid: str) -> None:
        if kind == "asyncpg":
            async with held["pool"].acquire() as conn:  # type: ignore[attr-defined]
                await conn.fetchval(FLOOR_UPSERT, call_sid)
        else:
            async with held["sessions"]() as session:  # type: ignore[operator]
                (await session.execute(upsert, {"sid": call_sid})).scalar_one()
                await session.commit()

    async def floor(request: Request) -> Response:  # a Starlette route: no annotations read
        form = await request.form()
        await one_statement(str(form.get("CallSid", "")))
        return Response(body, media_type="application/xml")

    app.add_route("/voice/bare", floor, methods=["POST"])

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def serve_bare(port: int, floor: str | None = None, database_url: str = "") -> None:
    import uvicorn

    app = floor_app(floor, database_url) if floor else bare_app()
    # As `hotline serve` runs uvicorn: one process, uvicorn's own access log off.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load -------------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0  # seconds of the server process during the measured run
    client_cpu: float = 0.0  # seconds of this process (the load generator)

    def cpu_per_request(self) -> float:
        """Server CPU seconds per answered request."""
        return self.server_cpu / (sum(len(v) for v in self.latencies.values()) or 1)

    def ok(self, hook: str, seconds: float) -> None:
        self.latencies.setdefault(hook, []).append(seconds)

    def error(self, hook: str, what: str) -> None:
        self.errors[hook] = self.errors.get(hook, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"{hook}: {what}")


class Caller:
    """Signs and posts webhooks as Twilio does; the public URL is where the server listens."""

    def __init__(self, client: httpx.AsyncClient, stats: Stats) -> None:
        # This run's token, which hotline_env gives the service too.
        self.client, self.signer, self.stats = client, Signer(), stats

    async def post(self, hook: str, url: str, params: dict[str, str]) -> ET.Element | None:
        headers = self.signer.headers(url, params)
        start = time.perf_counter()
        try:
            resp = await self.client.post(url, data=params, headers=headers)
        except httpx.HTTPError as e:
            self.stats.error(hook, repr(e))
            return None
        elapsed = time.perf_counter() - start
        if resp.status_code != 200 or "xml" not in resp.headers.get("content-type", ""):
            self.stats.error(hook, f"{resp.status_code} {resp.text[:200]}")
            return None
        try:
            doc = ET.fromstring(resp.content)
        except ET.ParseError as e:
            self.stats.error(hook, f"not XML: {e}")
            return None
        self.stats.ok(hook, elapsed)
        return doc


def _params(i: int) -> dict[str, str]:
    return inbound_params("CA" + uuid.uuid4().hex, numbered_caller(i))


async def hotline_call(phone: Caller, base: str, i: int) -> None:
    """incoming -> menu (8) -> the first wait, following the URLs the TwiML gives."""
    p = _params(i)
    doc = await phone.post("incoming", f"{base}/voice/incoming", p)
    gather = doc.find("Gather") if doc is not None else None
    if doc is None or gather is None or not gather.get("action"):
        if doc is not None:
            phone.stats.error("incoming", "no <Gather action=...> (fallback TwiML?)")
        return
    doc = await phone.post("menu", gather.get("action", ""), {**p, "Digits": "8"})
    enqueue = doc.find("Enqueue") if doc is not None else None
    if doc is None or enqueue is None or not enqueue.get("waitUrl"):
        if doc is not None:
            phone.stats.error("menu", "no <Enqueue waitUrl=...> (fallback TwiML?)")
        return
    info = {"QueuePosition": "1", "QueueTime": "0", "CurrentQueueSize": "1"}
    doc = await phone.post("wait", enqueue.get("waitUrl", ""), {**p, **info})
    if doc is not None and not any(v.tag in {"Say", "Pause", "Redirect", "Leave"} for v in doc):
        phone.stats.error("wait", "neither hold nor leave (fallback or closed TwiML?)")


async def bare_call(phone: Caller, base: str, i: int) -> None:
    """The same three requests, with the same parameters, to the bare endpoint."""
    p = _params(i)
    for hook, extra in zip(WEBHOOKS, ({}, {"Digits": "8"}, {"QueueTime": "0"}), strict=True):
        await phone.post(hook, f"{base}/voice/bare", {**p, **extra})


async def drive(kind: str, base: str, pid: int, calls: int, concurrency: int) -> Stats:
    stats = Stats()
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them under
    # us (httpx's default expiry is also 5 s: a race that shows as ReadError).
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    run = hotline_call if kind == "hotline" else bare_call
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        phone = Caller(client, stats)
        # A short warm-up (connections, caches, the database pool), not counted.
        warm = Caller(client, Stats())
        await asyncio.gather(*(run(warm, base, calls + i) for i in range(min(concurrency, 50))))
        counter = iter(range(calls))

        async def worker() -> None:
            for i in counter:  # bounded: the shared iterator hands out each call once
                await run(phone, base, i)

        start, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.wall = time.perf_counter() - start
        stats.client_cpu = time.process_time() - cpu
        stats.server_cpu = cpu_seconds(pid) - server_cpu
    return stats


# -- the report -----------------------------------------------------------------------------
def report(title: str, stats: Stats, hooks: tuple[str, ...]) -> float:
    """Print the figures; return the overall throughput (successful requests/s)."""
    print(f"\n{title}  (wall {stats.wall:.2f} s)")
    print(f"  {'webhook':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  target")
    everything: list[float] = []
    for hook in (*hooks, "all"):
        if hook == "all":
            values = sorted(everything)
            errors = sum(stats.errors.values())
        else:
            values = sorted(stats.latencies.get(hook, []))
            everything.extend(values)
            errors = stats.errors.get(hook, 0)
        rate = len(values) / stats.wall if stats.wall else 0.0
        p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
        verdict = "ok" if p99 < TARGET_P99_MS else "MISSED"
        print(
            f"  {hook:<10} {rate:>9.1f} {p50:>8.1f} {p99:>8.1f} {errors:>7}"
            f"  p99 < {TARGET_P99_MS:.0f} ms: {verdict}"
        )
    n = max(len(everything), 1)
    print(
        f"  CPU per request: server {stats.server_cpu / n * 1000:.2f} ms, "
        f"load generator {stats.client_cpu / n * 1000:.2f} ms "
        f"(busy: server {stats.server_cpu / stats.wall:.0%}, "
        f"load generator {stats.client_cpu / stats.wall:.0%} of one CPU)"
    )
    if stats.client_cpu / stats.wall > 0.85:
        print("  note: the load generator is saturated; this server could answer more")
    for example in stats.examples:
        print(f"  error: {example}")
    return len(everything) / stats.wall if stats.wall else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000, help="scripted calls (3 requests each)")
    p.add_argument("--concurrency", type=int, default=50, help="calls in flight at once")
    p.add_argument("--database-url", default=None, help="a migrated postgresql+asyncpg URL")
    p.add_argument("--workers", type=int, default=1, help="`hotline serve --workers`")
    p.add_argument(
        "--no-floors", action="store_true", help="skip the one-statement floors (faster)"
    )
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--floor", choices=sorted(FLOORS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.floor, args.database_url or "")
        return 0
    if args.calls < 1 or args.concurrency < 1:
        p.error("--calls and --concurrency must be at least 1")

    print(
        f"{args.calls} calls x 3 webhooks at concurrency {args.concurrency}; "
        f"{os.cpu_count()} CPUs shared by the servers and the load generator"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
            ours = drive_hotline(args, Path(tmp, "hotline.log"))
            bare = drive_bare(args, Path(tmp, "bare.log"))
            floors = {} if args.no_floors else drive_floors(args, Path(tmp))
    except (PostgresUnavailable, ServerFailed) as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG or --database-url)")
    ours_rate = report("hotline on PostgreSQL", ours, WEBHOOKS)
    bare_rate = report("bare FastAPI endpoint (fixed TwiML)", bare, WEBHOOKS)
    ratio = ours_rate / bare_rate if bare_rate else 0.0
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(
        f"\nthroughput: hotline {ours_rate:.1f} req/s, bare {bare_rate:.1f} req/s, "
        f"ratio {ratio:.0%}  (target >= {TARGET_RATIO:.0%}: {verdict})"
    )
    ours_cpu, bare_cpu = ours.cpu_per_request(), bare.cpu_per_request()
    if ours_cpu > 0:
        print(
            f"server CPU per request: hotline {ours_cpu * 1000:.2f} ms, bare "
            f"{bare_cpu * 1000:.2f} ms: hotline at {bare_cpu / ours_cpu:.0%} of the bare "
            "server's CPU efficiency (independent of the load generator)"
        )
    print(
        f"latency under a closed loop is mostly queueing: {args.concurrency} calls in flight "
        f"at {ours_rate:.0f} req/s wait ~{args.concurrency / max(ours_rate, 1e-9) * 1000:.0f} ms "
        "each (Little's law); --concurrency 1 shows the service time alone"
    )
    if floors:
        report_floors(floors, ours_cpu, bare_cpu)
    return 0


def report_floors(floors: dict[str, Stats], ours_cpu: float, bare_cpu: float) -> None:
    """The floors' own tables, then what they mean for the per-webhook target."""
    cpu = {}
    for kind, stats in floors.items():
        report(f"floor: {FLOORS[kind]}", stats, WEBHOOKS)
        cpu[kind] = stats.cpu_per_request()
    print(
        "\nserver CPU per request: bare "
        f"{bare_cpu * 1000:.2f} ms, + one statement through asyncpg "
        f"{cpu['asyncpg'] * 1000:.2f} ms, + one SQLAlchemy transaction "
        f"{cpu['sqlalchemy'] * 1000:.2f} ms, hotline {ours_cpu * 1000:.2f} ms "
        f"(target <= {TARGET_CPU_MS:.1f} ms)"
    )
    # A call's three webhooks need at least one round trip (incoming), four (menu: BEGIN,
    # the call read and locked with its check, the write with the pass's free lines, COMMIT)
    # and one (a hold poll): two per webhook on average, with no code of ours at all.
    trip = max(cpu["asyncpg"] - bare_cpu, 0.0)
    least = cpu["asyncpg"] + trip
    print(
        f"one round trip to PostgreSQL costs the server about {trip * 1000:.2f} ms here; "
        f"two per webhook (1 + 4 + 1 per call) on asyncpg alone, with nothing else of ours, "
        f"would cost {least * 1000:.2f} ms per webhook"
    )


def drive_hotline(args: argparse.Namespace, log: Path) -> Stats:
    """`hotline serve` on a fresh PostgreSQL database (or --database-url), driven."""
    with (
        fresh_postgres(prefix="hotline_bench")
        if args.database_url is None
        else _given(args.database_url) as db
    ):
        serving = hotline_serve(
            db, log, cwd=ROOT, args=["--workers", str(args.workers)], HOTLINE_LOG_LEVEL="WARNING"
        )
        with serving as live:
            ours = asyncio.run(drive("hotline", live.url, live.pid, args.calls, args.concurrency))
    if ours.errors:
        problems = [
            line
            for line in log.read_text(errors="replace")[-3000:].splitlines()
            if line.startswith(("ERROR", "WARNING", "Traceback"))
        ]
        print("server log (errors and warnings):", *problems[-10:], sep="\n  ")
    return ours


def drive_bare(args: argparse.Namespace, log: Path) -> Stats:
    """The bare endpoint (this script with --serve-bare) under the same load."""
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    env = hotline_env(HOTLINE_LOG_LEVEL="WARNING")
    with running(cmd, port=port, env=env, cwd=ROOT, log=log) as live:
        return asyncio.run(drive("bare", live.url, live.pid, args.calls, args.concurrency))


def drive_floors(args: argparse.Namespace, tmp: Path) -> dict[str, Stats]:
    """Each floor (this script with --serve-bare --floor K) on one fresh database, driven."""
    out: dict[str, Stats] = {}
    with fresh_postgres(prefix="hotline_bench") as db:
        for kind in FLOORS:
            port = free_port()
            cmd = [
                *(sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)),
                *("--floor", kind, "--database-url", db),
            ]
            env = hotline_env(HOTLINE_LOG_LEVEL="WARNING")
            with running(cmd, port=port, env=env, cwd=ROOT, log=tmp / f"{kind}.log") as live:
                out[kind] = asyncio.run(
                    drive("bare", live.url, live.pid, args.calls, args.concurrency)
                )
    return out


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
