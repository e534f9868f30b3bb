"""Several service instances against one PostgreSQL never double-book a line or a caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

from sqlalchemy import func, select, update

from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.lines.models import Line
from hotline.routing.engine import eligible_tier
from hotline.routing.store import Router
from tests.conftest import new_sid

NOW = dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC)


async def _seed(sessions, router: Router, calls: int) -> None:  # type: ignore[no-untyped-def]
    async with sessions.begin() as s:
        await router.sync_lines(s, NOW)
        await s.execute(update(Line).values(status="ready", call_id=None))
        rng = random.Random(7)
        for _ in range(calls):
            option = rng.choice(["loneliness", "under18", "women", "gender", "foreign"])
            s.add(
                Call(
                    call_sid=new_sid(),
                    entry="9999",
                    period_id="period_5",
                    menu_id="period-5",
                    option_id=option,
                    language="en" if option == "foreign" else None,
                    state="waiting",
                    priority=0,
                    status_seq=-1,
                    created_at=NOW,
                    waiting_since=NOW - dt.timedelta(seconds=rng.randint(0, 600)),
                )
            )


async def _instance(url: str, cfg, passes: int, seed: int) -> int:  # type: ignore[no-untyped-def]
    """One service instance: its own engine and router, running passes as events arrive."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    router = Router(cfg, reservation_timeout=30, cooldown=60)
    rng, made = random.Random(seed), 0
    try:
        for i in range(passes):
            async with sessions.begin() as s:
                if i % 3 == 2:  # a conversation ends somewhere: free one line
                    busy = (
                        await s.execute(
                            select(Line)
                            .where(Line.call_id.is_not(None))
                            .with_for_update(skip_locked=True)
                            .limit(5)
                        )
                    ).scalars()
                    for line in list(busy)[: rng.randint(0, 2)]:
                        call = await s.get(Call, line.call_id, with_for_update=True)
                        call.state, call.line_id = "completed", None
                        line.call_id = None
                made += len(await router.assign(s, NOW + dt.timedelta(seconds=i)))
    finally:
        await engine.dispose()
    return made


async def test_four_instances_never_give_one_line_two_callers(pg_url, cfg) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    try:
        await _seed(sessions, Router(cfg, reservation_timeout=30, cooldown=60), calls=400)
        made = await asyncio.gather(*(_instance(pg_url, cfg, 12, seed) for seed in range(4)))
        assert sum(made) > 0
        async with sessions() as s:
            lines = (await s.execute(select(Line))).scalars().all()
            held = [line.call_id for line in lines if line.call_id is not None]
            assert len(held) == len(set(held)), "a caller holds two lines"
            reserved = (
                (await s.execute(select(Call).where(Call.state == "reserved"))).scalars().all()
            )
            by_line = {line.id: line.call_id for line in lines}
            for call in reserved:  # each reserved caller's line points back at that caller
                assert by_line[call.line_id] == call.id
            per_line = (
                await s.execute(
                    select(Call.line_id, func.count())
                    .where(Call.state == "reserved")
                    .group_by(Call.line_id)
                )
            ).all()
            assert all(n == 1 for _, n in per_line), "a line reserved for two callers"
        # Work conservation: after one more pass, no free line may serve a waiting caller.
        last = NOW + dt.timedelta(seconds=20)
        router = Router(cfg, reservation_timeout=3600, cooldown=60)
        async with sessions.begin() as s:
            await router.assign(s, last)
        async with sessions() as s:
            free = await router._free_lines(s, last)
            waiting, _ = await router._waiting(s, limit=10_000, now=last)
        assert waiting and not any(
            eligible_tier(c, line, router.table, last) is not None for c in waiting for line in free
        )
    finally:
        await engine.dispose()
        from tests.conftest import _truncate

        await _truncate(pg_url)
