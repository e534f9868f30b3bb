"""Keeping the report tallies: ended calls added up, a batch at a time, by whoever reads.

An ended call (completed, abandoned, closed) never changes a counted field again. `catch_up`
moves the ended calls not tallied yet into the tallies (`models.py`) and marks them, in one
transaction per batch, so a reader sees each call either in the tallies or among the calls
still at `tallied = 0`, never in both: the reports add the two (`queries.py`), and their
figures do not depend on how current the tallies are. The /metrics background read and the
period report call it, so the calls left to count from the calls table stay few; `hotline
tallies --rebuild` starts them again from the calls table.

The lifecycle is not involved: nothing here runs while a webhook waits.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from sqlalchemy import (
    String,
    Table,
    case,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from hotline.calls.lifecycle import TERMINAL
from hotline.calls.models import Call
from hotline.reports import definitions as d
from hotline.reports.models import CallerDay, CallerDayTotal, CallTally
from hotline.uow import UnitOfWork

Sessions = async_sessionmaker[AsyncSession]
BATCH = 20_000  # calls per transaction: a cold start over a million calls commits as it goes
FLAGS = d.KEYS[1:]  # what each call adds to its group, besides 1 to `calls`
RESTATE = 10_000  # calls tallied in one catch-up past which the planner's statistics are renewed
LOCK_KEY = 9999_0013  # the PostgreSQL advisory lock that makes catch-ups take turns
# A literal, not a parameter: a prepared statement's generic plan can use the partial index
# `ix_calls_untallied` only if it sees the same condition.
UNTALLIED: ColumnElement[bool] = Call.tallied == literal_column("0")
ENDED: ColumnElement[bool] = Call.state.in_(sorted(TERMINAL))


def day_label(dialect: str) -> ColumnElement[str]:
    """The Tokyo day of arrival as ISO text, as stored in the tallies."""
    return sql_cast(d.tokyo_day(dialect), String)


async def catch_up(sessions: Sessions, *, batch: int = BATCH) -> int:
    """Tally the ended calls not tallied yet; how many there were."""
    done = 0
    while True:
        async with UnitOfWork(sessions()) as uow:
            n = await _tally_batch(uow.session, batch)
            if n < batch and done + n >= RESTATE:
                await _restate(uow.session)
        done += n
        if n < batch:
            return done


async def _restate(s: AsyncSession) -> None:
    """Fresh planner statistics after many calls were marked at once (a first catch-up, a
    rebuild): with the old ones PostgreSQL still thinks every call untallied, and scans."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(text("ANALYZE calls"))


async def rebuild(sessions: Sessions, *, batch: int = BATCH) -> int:
    """Empty the tallies and tally every ended call again, in one transaction."""
    async with UnitOfWork(sessions()) as uow:
        s = uow.session
        await _take_turn(s)
        for table in (CallTally, CallerDay, CallerDayTotal):
            await s.execute(delete(table))
        await s.execute(update(Call).where(Call.tallied != 0).values(tallied=0))
        done = 0
        while (n := await _tally_batch(s, batch)) == batch:
            done += n
        await _restate(s)
        return done + n


async def _take_turn(s: AsyncSession) -> None:
    # Two catch-ups at once would each count the callers of a day without the other's new
    # ones. SQLite has one writer at a time anyway.
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


async def _tally_batch(s: AsyncSession, batch: int) -> int:
    """Mark up to `batch` ended calls tallied and add them up, in the caller's transaction."""
    await _take_turn(s)
    dialect = s.get_bind().dialect.name
    stmt = (
        select(
            Call.id,
            Call.period_id,
            d.option_label().label("option"),
            Call.entry,
            day_label(dialect).label("day"),
            Call.caller_hash,
            d.reached().label("reached"),
            *d.flags(),
        )
        .where(UNTALLIED, ENDED)
        .limit(batch)
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    # A read, then the mark: with the turn taken (and SQLite's one writer), nobody else
    # tallies these rows meanwhile, and an ended call does not change. (One UPDATE ...
    # RETURNING would do both, but SQLite 3.40 returned wrong CASE values from it here.)
    rows = (await s.execute(stmt)).all()
    if rows:
        ids = [r.id for r in rows]
        calls = cast(Table, Call.__table__)
        await s.execute(update(calls).where(calls.c.id.in_(ids)).values(tallied=1))
    if rows:
        groups, callers = _fold(rows)
        await _add_groups(s, groups)
        await _add_callers(s, callers)
    return len(rows)


def _fold(rows: Any) -> tuple[dict[tuple[str, ...], list[int]], dict[tuple[str, ...], int]]:
    groups: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * (1 + len(FLAGS)))
    callers: dict[tuple[str, ...], int] = {}
    for r in rows:
        sums = groups[(r.period_id, r.option, r.entry, str(r.day))]
        sums[0] += 1
        for i, k in enumerate(FLAGS, 1):
            sums[i] += int(getattr(r, k))
        if r.caller_hash is not None:
            key = (r.period_id, str(r.day), r.caller_hash)
            callers[key] = max(callers.get(key, 0), int(r.reached))
    return groups, callers


def _insert(s: AsyncSession) -> Any:
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _add_groups(s: AsyncSession, groups: dict[tuple[str, ...], list[int]]) -> None:
    names = ("calls", *FLAGS)
    keys = ("period_id", "option_id", "entry", "day")
    columns = (*keys, *names)
    values = [dict(zip(columns, (*k, *sums), strict=True)) for k, sums in groups.items()]
    ins = _insert(s)(CallTally)
    stmt = ins.on_conflict_do_update(
        index_elements=["period_id", "option_id", "entry", "day"],
        set_={k: getattr(CallTally, k) + getattr(ins.excluded, k) for k in names},
    )
    await s.execute(stmt, values)


async def _add_callers(s: AsyncSession, callers: dict[tuple[str, ...], int]) -> None:
    if not callers:
        return
    ins = _insert(s)(CallerDay)
    stmt = ins.on_conflict_do_update(
        index_elements=["period_id", "day", "caller_hash"],
        set_={
            "reached": case(
                (ins.excluded.reached > CallerDay.reached, ins.excluded.reached),
                else_=CallerDay.reached,
            )
        },
    )
    values = [
        {"period_id": p, "day": day, "caller_hash": h, "reached": r}
        for (p, day, h), r in callers.items()
    ]
    await s.execute(stmt, values)
    await _recount_days(s, {(p, day) for p, day, _ in callers})


async def _recount_days(s: AsyncSession, days: set[tuple[str, str]]) -> None:
    """Count the callers of the days just added to (a few days: the batch's)."""
    counted = (
        select(
            CallerDay.period_id,
            CallerDay.day,
            func.count().label("caller_days"),
            func.sum(CallerDay.reached).label("reached"),
        )
        .where(tuple_(CallerDay.period_id, CallerDay.day).in_(sorted(days)))
        .group_by(CallerDay.period_id, CallerDay.day)
    )
    values = [
        {"period_id": p, "day": day, "caller_days": int(n), "reached": int(r)}
        for p, day, n, r in (await s.execute(counted)).all()
    ]
    ins = _insert(s)(CallerDayTotal)
    stmt = ins.on_conflict_do_update(
        index_elements=["period_id", "day"],
        set_={"caller_days": ins.excluded.caller_days, "reached": ins.excluded.reached},
    )
    await s.execute(stmt, values)
