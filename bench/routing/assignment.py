"""Part 1, the assignment pass: `Router.assign` in this process over waiting calls and
lines built from config/menus.yaml, in two scenarios, each pass rolled back so every pass
starts from the same state:

  steady state: all lines but STEADY_FREE talking (a few reservations per pass);
  cold start:   every line free (a reservation for nearly every line).

The pure engine (`engine.assign`) is timed alone on the same calls and lines, and each pass
is split into its steps (expire, free lines, waiting calls, engine, updates).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.app import settle_gc
from hotline.calls.models import Call
from hotline.config import HotlineConfig, parse
from hotline.db import make_engine, session_factory
from hotline.lines.models import Line
from hotline.routing import engine
from hotline.testing.databases import fresh_postgres, plain_url
from hotline.testing.rows import call_row, connected_row

from . import ROOT
from .figures import MS_HEADER, ms_row
from .instruments import STEPS, GcWatch, TimedRouter
from .machine import busy_now

STEADY_FREE = 10  # free lines in the steady-state scenario
WARMUP_PASSES = 3  # not counted: compiled statements, prepared statements, caches
WAIT_SPREAD = dt.timedelta(minutes=10)  # waiting_since spread over the last 10 minutes
# Share of the waiting callers by option (per-option counts of the trials were not published:
# mostly 孤独・孤立, about 8% under 18 as on いのちの日, a few of the others), and the
# languages of those who chose the foreign-language key.
OPTION_SHARES = {"loneliness": 80, "under18": 8, "women": 5, "gender": 3, "foreign": 4}
LANGUAGE_SHARES = {"en": 35, "zh": 20, "ko": 10, "vi": 10, "pt": 10, "es": 5, "tl": 5, "ne": 5}


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


def waiting_rows(count: int, now: dt.datetime, rng: random.Random) -> list[dict[str, Any]]:
    options = rng.choices(list(OPTION_SHARES), weights=list(OPTION_SHARES.values()), k=count)
    languages = list(LANGUAGE_SHARES)
    rows = []
    for option in options:
        since = now - rng.random() * WAIT_SPREAD
        language = None
        if option == "foreign":
            language = rng.choices(languages, weights=list(LANGUAGE_SHARES.values()))[0]
        joined = since - dt.timedelta(seconds=20)  # the menu took a while
        rows.append(
            call_row(
                joined,
                call_sid="CA" + uuid.UUID(int=rng.getrandbits(128)).hex,
                option_id=option,
                language=language,
                waiting_since=since,
            )
        )
    return rows


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
                    # What the pass did not spend in the other steps went to writing its
                    # reservations (one statement on PostgreSQL) and their pushes.
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both scenarios on a fresh database; the figures printed, and returned for the summary."""
    print(f"\n== assignment pass: {args.calls} waiting calls, {args.lines} lines ==")
    print(f"  {busy_now()} in the 2 s before (other work shares them with these figures)")
    with fresh_postgres(args.pg, prefix="hotline_bench") as url:
        result = asyncio.run(bench_pass(args, url))
    report_pass(args, result)
    return result


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
            talks = [connected_row(now) for _ in range(args.lines)]
            await s.execute(Call.__table__.insert(), talks)
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

        # As `hotline serve` does once its start-up is done (a full collection then walks only
        # what was made since): the pass's full GCs are what the service would pay.
        settle_gc()
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
            engine.FreeLine(i, router.lines[i].org_id, router.languages[i], idle[i]) for i in ids
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
