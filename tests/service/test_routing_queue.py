"""The pass reads the head of each queue class in queue order, on both databases.

PostgreSQL reads each (option, language) class as a range of the queue index and SQLite
ranks with a window: both must hand the engine exactly the first callers of each class
that may be served now, whoever is behind them, in whatever mix of classes and states.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.routing import engine as routing_engine
from hotline.routing.store import Router
from hotline.testing.rows import call_row

NOW = dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC)
FRESH = dt.timedelta(seconds=30)  # the router's reservation timeout below


def _queue(rng: random.Random) -> list[dict[str, Any]]:
    """Callers of several classes (Japanese, with no language, beside spoken languages, an
    explicit "ja" too), priorities, tied waits, callback requests in and out of their pause,
    callers who stopped polling, and calls that are not queued at all."""
    rows = []
    ties = [NOW - dt.timedelta(seconds=s) for s in (10, 20, 30)]
    for _ in range(300):
        option = rng.choice(["loneliness", "under18", "women", "foreign", "foreign"])
        language = rng.choice([None, None, "en", "zh", "ja"]) if option == "foreign" else None
        if option == "under18" and rng.random() < 0.2:
            language = "en"
        since = (
            rng.choice(ties)
            if rng.random() < 0.3
            else NOW - dt.timedelta(seconds=rng.randint(0, 900))
        )
        state = rng.choice(["waiting"] * 6 + ["callback", "reserved", "menu", "completed"])
        row = call_row(
            since - dt.timedelta(seconds=20),
            option_id=option,
            language=language,
            state=state,
            priority=rng.choice([0, 0, 0, 1, 2]),
            waiting_since=since,
        )
        if state == "callback":
            row["callback_after"] = NOW + dt.timedelta(seconds=rng.choice([-60, 60]))
        elif rng.random() < 0.3:  # a holding caller's last poll, recent or long ago
            row["last_seen_at"] = NOW - dt.timedelta(seconds=rng.choice([5, 300]))
        rows.append(row)
    return rows


def _expected(rows: list[dict[str, Any]], ids: list[int], limit: int) -> set[int]:
    """The first `limit` of each class in queue order, among those the pass may serve now."""
    classes: dict[tuple[str, str | None], list[tuple[Any, ...]]] = {}
    for call_id, row in zip(ids, rows, strict=True):
        seen, after = row.get("last_seen_at"), row.get("callback_after")
        if row["state"] not in ("waiting", "callback"):
            continue
        if seen is not None and seen < NOW - FRESH or after is not None and after > NOW:
            continue
        key = (-row["priority"], row["waiting_since"], call_id)
        classes.setdefault((row["option_id"], row["language"]), []).append(key)
    return {k[2] for queue in classes.values() for k in sorted(queue)[:limit]}


@pytest.mark.parametrize("seed", [1, 2])
async def test_each_class_hands_its_first_callers_in_queue_order(db_url, cfg, seed) -> None:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    router = Router(cfg, reservation_timeout=int(FRESH.total_seconds()), cooldown=60)
    rows = _queue(random.Random(seed))
    try:
        async with sessions.begin() as s:
            ids = []
            for row in rows:
                call = Call(**row)
                s.add(call)
                await s.flush()
                ids.append(call.id)
        for limit in (1, 3, 10, 1000):
            async with sessions() as s:
                calls, sids = await router._waiting(s, limit=limit, now=NOW)
                await s.rollback()
            assert {c.call_id for c in calls} == _expected(rows, ids, limit), limit
            states = {i: rows[ids.index(i)]["state"] for i in sids}
            assert {i: state for i, (_, state) in sids.items()} == states
    finally:
        await engine.dispose()


@pytest.mark.parametrize("seed", [3, 4])
async def test_reading_fewer_of_a_class_than_lines_could_serve_changes_no_reservation(
    db_url, cfg, seed
) -> None:
    """Given the pass's free lines, a class is read only as far as those lines could serve
    it: the engine makes the same reservations as from the whole head of each class."""
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    router = Router(cfg, reservation_timeout=int(FRESH.total_seconds()), cooldown=60)
    rng = random.Random(seed)
    rows = _queue(rng)
    try:
        async with sessions.begin() as s:
            for row in rows:
                s.add(Call(**row))
        ids = sorted(router.lines)
        for size in (1, 2, 5, len(ids)):
            lines = [
                routing_engine.FreeLine(
                    i,
                    router.lines[i].org_id,
                    router.languages[i],
                    NOW - dt.timedelta(seconds=rng.randint(0, 3600)),
                )
                for i in rng.sample(ids, size)
            ]
            async with sessions() as s:
                read, _ = await router._waiting(s, limit=size, now=NOW, lines=lines)
                await s.rollback()
            async with sessions() as s:
                whole, _ = await router._waiting(s, limit=size, now=NOW)
                await s.rollback()
            assert {c.call_id for c in read} <= {c.call_id for c in whole}
            made = routing_engine.assign(read, lines, router.table, NOW)
            assert made == routing_engine.assign(whole, lines, router.table, NOW), size
    finally:
        await engine.dispose()
