"""Consultation records on PostgreSQL: how fast they are written, how fast a period exports.

Not a test: a script that prints figures. On a fresh PostgreSQL database (or --database-url)
it stores N connected calls of 第5期 (bulk insert, not measured), then writes one record per
call through the records service (choices checked against config, summary sealed with Fernet,
record, linkage case for 2%, audit entries), one transaction per record as a request would,
from --concurrency workers. Then it starts `hotline serve` (uvicorn) on a free loopback port
and downloads the period's export as CSV and JSON over HTTP, timing each to its last byte
and reading the server's peak memory (VmHWM, reset before each export) on Linux.

    .venv/bin/python bench/records.py --records 100000 --concurrency 16

Targets: export of 100,000 records in under 5 s; server memory flat (the export streams from
a server-side cursor, so its peak should not grow with the number of rows).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import random
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

from hotline.testing.databases import PostgresUnavailable, fresh_postgres
from hotline.testing.rows import call_row
from hotline.testing.servers import ServerFailed, hotline_serve

ROOT = Path(__file__).resolve().parent.parent

TARGET_EXPORT_S = 5.0
PERIOD = "period_5"
START = dt.datetime(2023, 12, 21, 15, 0, tzinfo=dt.UTC)  # 2023-12-22 00:00 in Tokyo
ORGS = ("inochi", "jaico", "sisc", "mental-care-assoc", "kawasaki-swc")
OPTIONS = ("loneliness", "under18", "women", "gender", "foreign")
SUMMARY = (
    "一人暮らしで話す相手がいないとのこと。気持ちの整理を促し、地域の居場所の情報を伝えた。" * 4
)


async def _no_wrap_up(session: object, call_sid: str, now: dt.datetime) -> None:
    """No line is in wrap-up in this bench: the app's hook would find none to end."""


def seed_calls(url: str, n: int) -> None:
    """N connected calls from about n/3 callers, spread over the period (bulk, unmeasured)."""
    from sqlalchemy import insert

    from hotline.calls.models import Call
    from hotline.db import make_engine

    rng = random.Random(9999)
    rows = []
    for i in range(n):
        at = START + dt.timedelta(seconds=rng.randrange(20 * 86400))
        caller = hashlib.sha256(f"caller-{rng.randrange(max(1, n // 3))}".encode()).hexdigest()
        rows.append(
            call_row(
                at,
                call_sid=f"CA{i:032x}",
                entry=rng.choice(("9999", "0120")),
                period_id=PERIOD,
                caller_hash=caller,
                option_id=rng.choice(OPTIONS),
                state="completed",
                org_id=rng.choice(ORGS),
                waiting_since=at + dt.timedelta(seconds=15),
                connected_at=at + dt.timedelta(seconds=15 + rng.randrange(600)),
            )
        )
    engine = make_engine(url)
    async with engine.begin() as conn:
        for start in range(0, n, 5000):
            await conn.execute(insert(Call), rows[start : start + 5000])
    await engine.dispose()


async def make_keys(url: str) -> tuple[dict[str, int], str]:
    """A counsellor key id per organisation, and an operator key."""
    from hotline.auth import store as keys
    from hotline.auth.models import Role
    from hotline.db import make_engine, session_factory

    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    async with session_factory(engine).begin() as s:
        ids = {}
        for org in ORGS:
            row, _ = await keys.create(s, org_id=org, role=Role.COUNSELLOR, name="bench", now=now)
            ids[org] = row.id
        _, operator = await keys.create(s, org_id="sisc", role=Role.OPERATOR, name="b", now=now)
    await engine.dispose()
    return ids, operator


async def write_records(url: str, n: int, concurrency: int, key_ids: dict[str, int]) -> float:
    """Write one record per call through the service, a transaction each; seconds taken."""
    from sqlalchemy import select

    from hotline import config as config_mod
    from hotline.calls.models import Call
    from hotline.cases.service import LINKAGE
    from hotline.common.audit import Actor
    from hotline.common.crypto import box_for
    from hotline.db import make_engine, session_factory
    from hotline.records import service
    from hotline.records.schemas import RecordIn
    from hotline.settings import Settings

    settings = Settings(database_url=url)
    lists = config_mod.load(settings.config_path).records
    box = box_for(settings)
    engine = make_engine(url, pool_size=concurrency, max_overflow=0)
    sessions = session_factory(engine)
    async with sessions() as s:
        calls = (await s.execute(select(Call.call_sid, Call.org_id).order_by(Call.id))).all()
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for call in calls[:n]:
        queue.put_nowait((call[0], call[1]))
    rng = random.Random(7)

    async def worker() -> None:
        while not queue.empty():
            sid, org = queue.get_nowait()
            data = RecordIn(
                call_sid=sid,
                age_group=rng.choice(lists.age_groups),
                gender=rng.choice([*lists.genders, None]),
                categories=rng.sample(lists.categories, rng.randint(1, 3)),
                support=rng.sample(lists.support, 1),
                seriousness=rng.choice(lists.seriousness),
                linkage_needed=rng.random() < 0.02,
                summary=SUMMARY,
            )
            who = Actor(key_ids[org], org, "counsellor", "127.0.0.1")
            async with sessions.begin() as s:
                await service.create(
                    s,
                    who=who,
                    lists=lists,
                    box=box,
                    linkage=LINKAGE,
                    saved=_no_wrap_up,  # the bench's lines take no calls
                    data=data,
                    now=dt.datetime.now(dt.UTC),
                )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


def peak_kib(pid: int, reset: bool = False) -> int:
    """The process's peak resident memory (VmHWM), optionally reset first (Linux)."""
    if reset:
        with suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def download(url: str, pid: int, key: str, query: str) -> tuple[float, int, int, int]:
    """Seconds to the last byte, bytes, lines, and the server's peak memory growth (KiB)."""
    headers = {"Authorization": f"Bearer {key}"}
    before = peak_kib(pid, reset=True)
    size = lines = 0
    started = time.perf_counter()
    with (
        httpx.Client(timeout=120) as client,
        client.stream("GET", f"{url}/api/records/export?{query}", headers=headers) as resp,
    ):
        resp.raise_for_status()
        for chunk in resp.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines, peak_kib(pid) - before


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument(
        "--database-url", default=None, help="an empty database at head (default: fresh)"
    )
    args = p.parse_args()
    try:
        if args.database_url:
            return run(args, args.database_url)
        with fresh_postgres(prefix="hotline_bench") as url:
            return run(args, url)
    except (PostgresUnavailable, ServerFailed) as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG or --database-url)")


def run(args: argparse.Namespace, url: str) -> int:
    n = args.records
    print(f"seeding {n:,} connected calls of {PERIOD} ...", flush=True)
    asyncio.run(seed_calls(url, n))
    key_ids, operator = asyncio.run(make_keys(url))
    print(f"writing {n:,} records with {args.concurrency} workers ...", flush=True)
    took = asyncio.run(write_records(url, n, args.concurrency, key_ids))
    print(f"records written: {n:,} in {took:.1f} s = {n / took:,.0f} records/s")
    log = Path(ROOT / "var" / "bench-records-server.log")
    log.parent.mkdir(exist_ok=True)
    ok = True
    with hotline_serve(url, log, cwd=ROOT, HOTLINE_LOG_LEVEL="WARNING") as live:
        base, pid = live.url, live.pid
        download(base, pid, operator, f"period={PERIOD}&format=csv&table=counts")  # warm up
        for fmt in ("csv", "json"):
            seconds, size, lines, grew = download(
                base, pid, operator, f"period={PERIOD}&format={fmt}"
            )
            rows = lines - 1 if fmt == "csv" else lines - 2  # header; or "[" and "]" lines
            print(
                f"export {fmt}: {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.2f} s "
                f"({rows / seconds:,.0f} rows/s); server peak memory grew {grew / 1024:.1f} MiB"
            )
            ok &= seconds < TARGET_EXPORT_S
        seconds, size, _, grew = download(base, pid, operator, f"period={PERIOD}&table=counts")
        print(f"export counts: {size:,} bytes in {seconds:.2f} s; peak grew {grew / 1024:.1f} MiB")
    verdict = "met" if ok else "MISSED"
    print(f"target: export of {n:,} records under {TARGET_EXPORT_S:.0f} s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
