"""Replay: a period's stored calls as the simulator's demand, on both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from hotline.calls.models import Call
from hotline.config import HotlineConfig
from hotline.db import make_engine, session_factory
from hotline.simulate import store
from hotline.simulate.demand import period_bounds, replayed
from hotline.simulate.model import load_model
from hotline.simulate.results import summarise
from hotline.simulate.run import simulate
from hotline.simulate.supply import from_config
from hotline.testing.rows import call_row

PERIOD = "year_end_2022"


async def test_stored_calls_replay_with_their_repeat_callers(
    db_url: str, cfg: HotlineConfig
) -> None:
    start, end = period_bounds(cfg, PERIOD)
    first = start.astimezone(dt.UTC) + dt.timedelta(hours=10)
    rows = [
        # one person calling three times on the first morning, then once the next day
        *(
            call_row(first + dt.timedelta(minutes=m), caller_hash="a" * 64, state="abandoned")
            for m in (0, 20, 40)
        ),
        call_row(first + dt.timedelta(days=1), caller_hash="a" * 64, state="completed"),
        call_row(first, caller_hash="b" * 64, option_id="under18", state="completed"),
        call_row(first, caller_hash="c" * 64, option_id=None, state="abandoned"),  # in the menu
        call_row(first, caller_hash="d" * 64, period_id="period_5"),  # another period
    ]
    for r in rows:
        if r["period_id"] == "none":
            r["period_id"] = PERIOD
    engine = make_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(insert(Call), rows)
            await session.commit()
            stored = await store.period_calls(session, PERIOD)
    finally:
        await engine.dispose()
    assert len(stored) == 6 and all(len(r) == 4 for r in stored)  # nothing else leaves

    demand = replayed(stored, start, end, "test")
    assert len(demand.callers) == 5 and demand.no_option == 1
    assert {c.person for c in demand.callers} == {"a" * 64, "b" * 64}
    assert not any(c.redials for c in demand.callers)  # the redials are in the data

    result = summarise(simulate(cfg, load_model(), demand, from_config(cfg), "pooled", seed=1))
    loneliness = result["options"]["loneliness"]
    assert loneliness["calls"] == 4 and loneliness["people"] == 2  # (caller, day) pairs
    assert result["total"]["calls"] == 6 and result["options"]["none"]["calls"] == 1
