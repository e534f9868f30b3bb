"""Period report and /metrics scrape times over a million stored calls on PostgreSQL.

Not a test: a script that prints figures. It creates a fresh PostgreSQL database (dropped at
the end), migrates it, inserts 1,000,000 calls in one SQL statement (the fields the webhooks
write; callers redial, as in the trials), then times:

- the catch-up of the report tallies over all those ended calls (`hotline tallies`: once,
  what a rebuild costs; afterwards each read tallies only the calls ended since the last);
- period reports (`hotline.reports.report.build`) of 第5期 (a tenth of the calls) and of
  `none` (the other nine tenths): target < 1 s;
- a /metrics scrape with 50 periods configured: target < 50 ms. The first scrape after a
  start waits for the stored totals; later ones serve the totals read in the background.

    .venv/bin/python bench/reports.py [--calls 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from hotline import config as config_mod
from hotline.app import create_app
from hotline.config import Period
from hotline.db import make_engine, session_factory
from hotline.reports import report, tallies
from hotline.settings import Settings
from hotline.testing.databases import PostgresUnavailable, fresh_postgres, plain_url

ROOT = Path(__file__).resolve().parent.parent
TARGET_REPORT_S, TARGET_SCRAPE_MS = 1.0, 50.0

# One row per call, with the states the webhooks leave: 9% connected and completed, 5%
# closed, the rest abandoned (most while waiting). A tenth are in 第5期 (2023-12-22 to
# 2024-01-10, Tokyo: 100,000 calls, three times the real period); the rest are outside every
# period (`none`), the worst case: a report over 900,000 calls.
FILL = """
INSERT INTO calls (call_sid, entry, period_id, caller_hash, menu_id, option_id, language,
    state, end_stage, priority, org_id, created_at, waiting_since, connected_at, ended_at,
    status_seq)
SELECT 'CA' || g, CASE WHEN g % 7 = 0 THEN '0120' ELSE '9999' END,
    CASE WHEN g % 10 = 0 THEN 'period_5' ELSE 'none' END,
    CASE WHEN g % 40 = 0 THEN NULL
         ELSE md5(c::text) || md5('x' || c::text) END,
    'period-5',
    CASE WHEN g % 13 = 0 THEN NULL
         ELSE (ARRAY['loneliness','loneliness','loneliness','women','under18','gender',
                     'foreign'])[1 + g % 7] END,
    NULL,
    CASE WHEN g % 13 = 0 THEN 'abandoned' WHEN g % 11 = 0 THEN 'completed'
         WHEN g % 20 = 0 THEN 'closed' ELSE 'abandoned' END,
    CASE WHEN g % 13 = 0 THEN 'menu' WHEN g % 11 = 0 OR g % 20 = 0 THEN NULL
         WHEN g % 50 = 0 THEN 'ringing' ELSE 'waiting' END,
    0, CASE WHEN g % 11 = 0 AND g % 13 <> 0 THEN 'inochi' END,
    t, t + interval '25 seconds',
    CASE WHEN g % 11 = 0 AND g % 13 <> 0
         THEN t + interval '25 seconds' + (g % 900) * interval '1 second' END,
    t + interval '15 minutes', -1
FROM (SELECT g, floor(150000 * power(random(), 2))::int AS c,
             CASE WHEN g % 10 = 0
                  THEN timestamp '2023-12-21 15:00' + (g::float / :n) * interval '20 days'
                  ELSE timestamp '2024-02-01 00:00' + (g::float / :n) * interval '300 days'
             END AS t
      FROM generate_series(1, :n) AS g) AS s
"""


async def fill(url: str, calls: int) -> float:
    conn = await asyncpg.connect(plain_url(url))
    try:
        start = time.perf_counter()
        await conn.execute(FILL.replace(":n", str(calls)))
        await conn.execute("VACUUM ANALYZE calls")
        return time.perf_counter() - start
    finally:
        await conn.close()


async def time_catch_up(url: str) -> None:
    engine = make_engine(url)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        n = await tallies.catch_up(session_factory(engine))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        await engine.dispose()
    print(f"  tallies caught up with {n:,} ended calls in {wall:.1f} s "
          f"({cpu:.1f} s of this process' CPU; once, as a rebuild)")  # fmt: skip
    # The catch-up rewrote every row: what autovacuum does to a table after that, untimed
    # (the waits' index is read alone only from pages vacuum has marked all-visible).
    conn = await asyncpg.connect(plain_url(url))
    try:
        start = time.perf_counter()
        await conn.execute("VACUUM ANALYZE calls")
        took = time.perf_counter() - start
        print(f"  VACUUM ANALYZE calls afterwards (autovacuum's work): {took:.1f} s")
    finally:
        await conn.close()


async def time_reports(
    url: str, cfg: config_mod.HotlineConfig, period: str, runs: int
) -> list[float]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    times = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            async with sessions() as s:
                r = await report.build(s, cfg, period, sessions=sessions)
            times.append(time.perf_counter() - start)
    finally:
        await engine.dispose()
    median = statistics.median(times)
    bare = await time_bare_count(url, period)
    verdict = "OK" if median < TARGET_REPORT_S else "OVER TARGET"
    print(f"  report of {period}: {r['calls']:,} calls, {r['connected']:,} connected, "
          f"{r['unique_callers']['caller_days']:,} caller-days")  # fmt: skip
    print(f"    median of {runs}: {median * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f})  [{verdict}]; target {TARGET_REPORT_S * 1000:.0f} ms; "
          f"bare baseline, SELECT count(*) of the period's calls: {bare:.0f} ms")  # fmt: skip
    return times


async def time_bare_count(url: str, period: str) -> float:
    """What merely counting the period's calls costs in the same run (median of 3, in ms)."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            await conn.fetchval("SELECT count(*) FROM calls WHERE period_id = $1", period)
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)
    finally:
        await conn.close()


def fifty_periods(cfg: config_mod.HotlineConfig) -> config_mod.HotlineConfig:
    extra = [
        Period(
            id=f"bench_{i:02d}",
            name=f"期間{i}",
            start=dt.date(2030, 1, 1) + dt.timedelta(days=7 * i),
            end=dt.date(2030, 1, 8) + dt.timedelta(days=7 * i),
            menu="period-5",
        )  # fmt: skip
        for i in range(50 - len(cfg.periods))
    ]
    return cfg.model_copy(update={"periods": [*cfg.periods, *extra]})


async def time_scrapes(url: str, cfg: config_mod.HotlineConfig, runs: int) -> None:
    settings = Settings(env="test", database_url=url, tick_seconds=0)
    app = create_app(settings, cfg)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            times, size = [], 0
            for _ in range(runs + 1):
                start = time.perf_counter()
                resp = await client.get("/metrics")
                times.append(1000 * (time.perf_counter() - start))
                size = len(resp.text.splitlines())
                await asyncio.sleep(0.2)
            bare = []
            for _ in range(runs):
                start = time.perf_counter()
                await client.get("/healthz")
                bare.append(1000 * (time.perf_counter() - start))
            totals = app.state.metrics_totals
            start = time.perf_counter()
            await totals._read_totals(app.state.sessions)  # what the background read costs
            background = 1000 * (time.perf_counter() - start)
    warm = statistics.median(times[1:])
    print(f"  /metrics with {len(cfg.periods)} periods: {size:,} lines")
    print(f"  first scrape (waits for the stored totals): {times[0]:.0f} ms")
    verdict = "OK" if warm < TARGET_SCRAPE_MS else "OVER TARGET"
    print(f"  later scrapes, median of {runs}: {warm:.1f} ms  [{verdict}]; target "
          f"{TARGET_SCRAPE_MS:.0f} ms; bare baseline, GET /healthz: "
          f"{statistics.median(bare):.1f} ms")  # fmt: skip
    print(f"  background read of the stored totals: {background:.0f} ms (every 15 s at most)")


async def measure(url: str, args: argparse.Namespace) -> None:
    cfg = config_mod.load(ROOT / "config" / "menus.yaml")
    print(f"inserted {args.calls:,} calls in {await fill(url, args.calls):.1f} s")
    await time_catch_up(url)
    for period in ("period_5", "none"):
        await time_reports(url, cfg, period, args.runs)
    await time_scrapes(url, fifty_periods(cfg), args.runs)


def main(args: argparse.Namespace) -> None:
    try:
        with fresh_postgres(prefix="hotline_bench") as url:  # dropped at the end
            asyncio.run(measure(url, args))
    except PostgresUnavailable as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args())
