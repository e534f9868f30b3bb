"""SQL over stored calls, records and lines: every query the reports and /metrics run.

Each function takes a session and returns plain values; the definitions of what is counted
live in `definitions.py`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call, CallState
from hotline.cases.models import LinkageAction, LinkageCase
from hotline.lines.models import Line
from hotline.records.models import ConsultationRecord
from hotline.reports import definitions as d
from hotline.reports import tallies
from hotline.reports.models import CallerDay, CallerDayTotal, CallTally

WAITING = (CallState.WAITING, CallState.RESERVED)
# An open callback request: waiting its turn, its counsellor rung, or its caller dialled (a
# callback in conversation is `connected`, like any call).
CALLBACK_OPEN = (CallState.CALLBACK, CallState.RINGING, CallState.CALLING)
COUNTS = ("calls", "connected", "closed", *(f"abandoned_{s}" for s in d.STAGES))
ANON = ("anonymous", "anonymous_connected")
CALLBACKS = tuple(f"callbacks_{o}" for o in d.CALLBACK_OUTCOMES)


def dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _counts(row: Any) -> dict[str, int]:
    return {k: int(getattr(row, k)) for k in d.KEYS}


# -- one period --------------------------------------------------------------------------------
# Every count adds the tallies (ended calls, `tallies.py`) to the calls not tallied yet, in one
# statement: one snapshot, so a catch-up committing meanwhile neither drops nor doubles a call.
def _groups(period_id: str | None, dialect_name: str) -> Any:
    """Counts by (period, option, entry, Tokyo day), tallied and not, as one subquery."""
    option, day = d.option_label(), tallies.day_label(dialect_name)
    live = select(Call.period_id, option.label("option"), Call.entry, day.label("day"), *d.counts())
    live = live.where(tallies.UNTALLIED).group_by(Call.period_id, option, Call.entry, day)
    kept = select(
        CallTally.period_id,
        CallTally.option_id.label("option"),
        CallTally.entry,
        CallTally.day,
        *(getattr(CallTally, k).label(k) for k in d.KEYS),
    )
    if period_id is not None:
        live = live.where(Call.period_id == period_id)
        kept = kept.where(CallTally.period_id == period_id)
    return union_all(live, kept).subquery()


def _summed(g: Any, *keys: str) -> Any:
    sums = (func.sum(g.c[k]).label(k) for k in d.KEYS)
    return select(*(g.c[k] for k in keys), *sums).group_by(*(g.c[k] for k in keys))


async def period_groups(session: AsyncSession, period_id: str) -> list[dict[str, Any]]:
    """Counts by (option, entry, Tokyo day): every total of the report adds these up."""
    stmt = _summed(_groups(period_id, dialect(session)), "option", "entry", "day")
    rows = (await session.execute(stmt)).all()
    return [{"option": r.option, "entry": r.entry, "day": str(r.day), **_counts(r)} for r in rows]


async def caller_days(session: AsyncSession, period_id: str) -> tuple[int, int]:
    """Distinct (caller hash, Tokyo day) pairs, and how many of them reached a counsellor at
    least once, directly or by a callback (`definitions.REACHED`). Anonymous calls are left
    out here: each counts as a caller of its own (`counts`).

    The tallied caller-days are counted per day already; the calls not tallied yet add the
    pairs the tallies lack, and connect the pairs they have unconnected.
    """
    day = tallies.day_label(dialect(session))
    live = (
        select(Call.caller_hash, day.label("day"), d.any_reached().label("reached"))
        .where(tallies.UNTALLIED, Call.period_id == period_id, Call.caller_hash.is_not(None))
        .group_by(Call.caller_hash, day)
        .subquery()
    )
    kept = (
        select(CallerDay.reached)
        .where(
            CallerDay.period_id == period_id,
            CallerDay.day == live.c.day,
            CallerDay.caller_hash == live.c.caller_hash,
        )
        .scalar_subquery()
    )
    new = d.tally(kept.is_(None)).label("n")
    newly_reached = d.tally(and_(live.c.reached == 1, func.coalesce(kept, 0) == 0)).label("r")
    fresh = select(new, newly_reached).select_from(live).subquery()
    stmt = select(
        fresh.c.n + _kept(CallerDayTotal.caller_days, period_id),
        fresh.c.r + _kept(CallerDayTotal.reached, period_id),
    )
    total, reached = (await session.execute(stmt)).one()
    return int(total), int(reached)


def _kept(column: Any, period_id: str) -> Any:
    total = func.coalesce(func.sum(column), 0)
    return select(total).where(CallerDayTotal.period_id == period_id).scalar_subquery()


async def waits(session: AsyncSession, period_id: str) -> list[float]:
    """Wait in seconds of each connected call of the period."""
    stmt = select(d.wait_seconds(dialect(session))).where(
        Call.period_id == period_id, d.CONNECTED, Call.waiting_since.is_not(None)
    )
    return [float(w) for w in (await session.execute(stmt)).scalars()]


# つなぎに関して調整した深刻な相談対応, as the seed counts them: linkage cases a coordinator
# actually worked on (調整した), not every case a record opened. Worked on: an action was
# logged (a contact, 面談, 同行支援), or the case moved past `open` to anything but `closed`
# (対応中, つなぎ完了, 連絡がつかない: someone tried). A case closed without an action was
# judged not to need linkage, and one still `open` has not been touched.
WORKED_ON = or_(
    select(LinkageAction.id).where(LinkageAction.case_id == LinkageCase.id).exists(),
    LinkageCase.status.not_in(("open", "closed")),
)


async def serious_cases(session: AsyncSession, period_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(LinkageCase)
        .join(Call, Call.id == LinkageCase.call_id)
        .where(Call.period_id == period_id, WORKED_ON)
    )
    return int((await session.execute(stmt)).scalar_one())


async def records(session: AsyncSession, period_id: str) -> tuple[Counter[str], Counter[str]]:
    """Estimated age groups and consultation types of the period's consultation records."""
    stmt = (
        select(ConsultationRecord.age_group, ConsultationRecord.categories)
        .join(Call, Call.id == ConsultationRecord.call_id)
        .where(Call.period_id == period_id)
    )
    ages: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for age, categories in (await session.execute(stmt)).all():
        ages[age] += 1
        # Counted in Python: JSON arrays unnest differently on each database, and a period
        # has at most a few thousand records.
        kinds.update(json.loads(categories) if isinstance(categories, str) else categories or [])
    return ages, kinds


# -- every period at once (the /metrics collector) ------------------------------------------
async def totals(session: AsyncSession) -> list[dict[str, Any]]:
    """Counts by (period, option, entry) over every stored call."""
    stmt = _summed(_groups(None, dialect(session)), "period_id", "option", "entry")
    rows = (await session.execute(stmt)).all()
    return [
        {"period": r.period_id, "option": r.option, "entry": r.entry, **_counts(r)} for r in rows
    ]


async def serious_cases_by_period(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(Call.period_id, func.count())
        .select_from(LinkageCase)
        .join(Call, Call.id == LinkageCase.call_id)
        .where(WORKED_ON)
        .group_by(Call.period_id)
    )
    return {p: int(n) for p, n in (await session.execute(stmt)).all()}


# -- now ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Queue:
    waiting: int
    oldest: dt.datetime | None


async def queues(session: AsyncSession) -> dict[str, Queue]:
    """Callers waiting (or reserved, not yet on the line) per option, and the longest wait."""
    stmt = (
        select(Call.option_id, func.count(), func.min(Call.waiting_since))
        .where(Call.state.in_(WAITING))
        .group_by(Call.option_id)
    )
    out = {}
    for option, n, oldest in (await session.execute(stmt)).all():
        # min() over a UTCDateTime column comes back untyped on SQLite: a naive UTC string.
        if isinstance(oldest, str):
            oldest = dt.datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        out[option or d.NONE] = Queue(int(n), oldest)
    return out


async def callbacks_open(session: AsyncSession) -> int:
    """Callback requests not served yet: callers who will be called back (the state index)."""
    stmt = select(func.count()).select_from(Call).where(Call.state.in_(CALLBACK_OPEN), d.CALLBACK)
    return int((await session.execute(stmt)).scalar_one())


async def lines(session: AsyncSession) -> list[tuple[str, str, str, bool]]:
    """(line, organisation, status, busy) of every line with a state row."""
    stmt = select(Line.id, Line.org_id, Line.status, Line.call_id.is_not(None))
    return [(i, o, s, bool(b)) for i, o, s, b in (await session.execute(stmt)).all()]


async def held_past(session: AsyncSession, connected_before: dt.datetime) -> dict[str, int]:
    """Lines per organisation held by a conversation connected before `connected_before`
    (past the talk bound: reconciliation should have ended it; docs/faults.md)."""
    stmt = (
        select(Line.org_id, func.count())
        .join(Call, Call.id == Line.call_id)
        .where(Call.state == CallState.CONNECTED, Call.connected_at < connected_before)
        .group_by(Line.org_id)
    )
    return {org: int(n) for org, n in (await session.execute(stmt)).all()}
