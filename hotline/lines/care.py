"""Counsellors looked after (docs/counsellor-care.md): a call marked hard gives its line a
break and opens a debrief request for the coordinators, who take it and close it.

A call is marked hard by its counsellor (the lines API, the console's lines page or record
form) or by the record they save at one of the organisation's hard risk levels
(`care.hard_seriousness`). The line owes `care.hard_call_break_minutes`, taken when its
wrap-up ends (at once if it is already idle), during which the pass offers it no call; the
debrief request names the line and the organisation, never the caller or the record.
Coordinators stand for the supervisors on duty: they see the open requests (the console's
振り返り page and its badge, the API), take them and close them, audited.
Only flushes; the caller's transaction commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.common.hooks import RecordSaved
from hotline.errors import Conflict, NotFound, not_allowed
from hotline.lines import breaks, presence
from hotline.lines.lines import Pass, _line, end_wrap_up_of
from hotline.lines.models import (
    CARE_BREAKS,
    AwayReason,
    DebriefRequest,
    DebriefState,
    Line,
    Presence,
)
from hotline.lines.presence import LineFact
from hotline.uow import outbox

SOURCES = ("counsellor", "risk_level")
STILL_OPEN = (DebriefState.OPEN, DebriefState.ACKNOWLEDGED)
NEXT = {"acknowledge": DebriefState.ACKNOWLEDGED, "close": DebriefState.CLOSED}


@dataclass(frozen=True, slots=True)
class Debrief:
    """A debrief request as coordinators see it: no caller, no record."""

    id: int
    org_id: str
    line_id: str
    source: str
    state: str
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    closed_at: dt.datetime | None
    handled_by: str | None


def debrief_of(row: DebriefRequest) -> Debrief:
    return Debrief(
        row.id,
        row.org_id,
        row.line_id,
        row.source,
        row.state,
        row.created_at,
        row.acknowledged_at,
        row.closed_at,
        row.handled_by,
    )


async def mark(
    session: AsyncSession,
    router: Pass,
    who: Actor,
    *,
    call_id: int,
    org_id: str,
    line: Line | None,
    line_id: str,
    source: str,
    now: dt.datetime,
) -> Debrief:
    """The call was hard: its line (still without another call since) owes the break, and
    one debrief request is open for it (marking it again changes nothing)."""
    found = (
        await session.execute(select(DebriefRequest).where(DebriefRequest.call_id == call_id))
    ).scalar_one_or_none()
    if found is not None:
        return debrief_of(found)
    row = DebriefRequest(
        org_id=org_id,
        line_id=line_id,
        call_id=call_id,
        source=source,
        state=DebriefState.OPEN,
        created_at=now,
    )
    session.add(row)
    if line is not None and line_id in router.lines and line.last_call_id == call_id:
        _break_for(session, line, router.care(line_id).hard_call_break_minutes * 60, now)
    await session.flush()
    outbox(session).append(LineFact("hard_call", org_id, reason=source))
    await audit.write(
        session,
        who,
        action="care.hard_call",
        entity="debrief",
        entity_id=row.id,
        now=now,
        line_id=line_id,
        source=source,
    )
    return debrief_of(row)


def _break_for(session: AsyncSession, line: Line, seconds: int, now: dt.datetime) -> None:
    """The break after a hard call: owed until the wrap-up ends, taken now by an idle line,
    lengthened if the line is on a break already."""
    if seconds <= 0:
        return
    if line.status == Presence.AWAY and line.away_reason in CARE_BREAKS:
        until = now + dt.timedelta(seconds=seconds)
        line.away_reason = AwayReason.HARD_CALL
        line.break_until = max(line.break_until or until, until)
        return
    breaks.owe(line, seconds, AwayReason.HARD_CALL)
    if line.status == Presence.READY and line.call_id is None:
        presence.start_break(session, line, now)


async def mark_line_call(
    session: AsyncSession,
    router: Pass,
    who: Actor,
    *,
    line_id: str,
    org_id: str | None,
    now: dt.datetime,
) -> Debrief:
    """A counsellor marks the call their line last talked with (the one it is in, or the one
    just ended) as hard."""
    who.require(Role.COUNSELLOR, Role.ADMIN)
    line = await _line(session, router, line_id, org_id)
    call_id = line.call_id if line.status == Presence.TALKING else line.last_call_id
    if call_id is None:
        raise Conflict("this line has not talked with a caller yet: there is no call to mark")
    if line.status == Presence.TALKING:
        line.last_call_id = call_id  # the break waits for this call's end and wrap-up
    out = await mark(
        session,
        router,
        who,
        call_id=call_id,
        org_id=line.org_id,
        line=line,
        line_id=line.id,
        source="counsellor",
        now=now,
    )
    await router.assign(session, now)
    return out


def record_saved(router: Pass) -> RecordSaved:
    """The hook a saved record calls (`hotline.common.hooks.RecordSaved`): a record marked
    hard, or at one of the organisation's hard risk levels, marks its call hard; then the
    line that talked with it ends its wrap-up (and takes the break it owes)."""

    async def saved(
        session: AsyncSession,
        call_sid: str,
        now: dt.datetime,
        *,
        who: Actor,
        seriousness: str,
        hard: bool,
    ) -> None:
        call = (
            await session.execute(select(Call).where(Call.call_sid == call_sid))
        ).scalar_one_or_none()
        if call is not None:
            await _hard_by_record(session, router, who, call, seriousness, hard, now)
        await end_wrap_up_of(session, call_sid, now)

    return saved


async def _hard_by_record(
    session: AsyncSession,
    router: Pass,
    who: Actor,
    call: Call,
    seriousness: str,
    hard: bool,
    now: dt.datetime,
) -> None:
    stmt = select(Line).where(Line.last_call_id == call.id).with_for_update()
    line = (await session.execute(stmt)).scalars().first()
    line_id = line.id if line is not None else call.line_id
    if line_id is None or line_id not in router.lines:
        return  # no line of ours talked with it: nobody to look after
    if not hard and seriousness not in router.care(line_id).hard_seriousness:
        return
    source = "counsellor" if hard else "risk_level"
    await mark(
        session,
        router,
        who,
        call_id=call.id,
        org_id=call.org_id or (line.org_id if line else ""),
        line=line,
        line_id=line_id,
        source=source,
        now=now,
    )


async def debriefs(
    session: AsyncSession, who: Actor, *, closed_too: bool = False, limit: int = 200
) -> list[Debrief]:
    """The requests coordinators work on: open and taken ones first, oldest first."""
    who.require(Role.COORDINATOR)
    stmt = select(DebriefRequest)
    if not closed_too:
        stmt = stmt.where(DebriefRequest.state.in_(list(STILL_OPEN)))
    stmt = stmt.order_by(DebriefRequest.created_at, DebriefRequest.id).limit(limit)
    return [debrief_of(r) for r in (await session.execute(stmt)).scalars()]


async def handle(
    session: AsyncSession,
    who: Actor,
    *,
    debrief_id: int,
    action: str,
    by: str,
    now: dt.datetime,
) -> Debrief:
    """A coordinator takes a request ("acknowledge") or closes it ("close"), audited."""
    who.require(Role.COORDINATOR)
    if action not in NEXT:
        raise not_allowed("action", list(NEXT))
    row = await session.get(DebriefRequest, debrief_id, with_for_update=True)
    if row is None:
        raise NotFound("unknown debrief request")
    if row.state == DebriefState.CLOSED:
        raise Conflict("this debrief request is closed already")
    row.state = NEXT[action]
    row.handled_by = by[:120]
    if action == "acknowledge":
        row.acknowledged_at = now
    else:
        row.closed_at = now
        row.acknowledged_at = row.acknowledged_at or now
    await session.flush()
    await audit.write(
        session, who, action=f"care.debrief_{action}", entity="debrief", entity_id=row.id, now=now
    )
    return debrief_of(row)


async def open_by_org(session: AsyncSession) -> dict[str, int]:
    """Debrief requests not closed yet, per organisation (the console's badge, /metrics)."""
    stmt = (
        select(DebriefRequest.org_id, func.count())
        .where(DebriefRequest.state.in_(list(STILL_OPEN)))
        .group_by(DebriefRequest.org_id)
    )
    return {org: int(n) for org, n in (await session.execute(stmt)).all()}


async def hard_calls_since(session: AsyncSession, since: dt.datetime) -> dict[str, int]:
    """Calls marked hard since `since`, per organisation (the console's counts)."""
    stmt = (
        select(DebriefRequest.org_id, func.count())
        .where(DebriefRequest.created_at >= since)
        .group_by(DebriefRequest.org_id)
    )
    return {org: int(n) for org, n in (await session.execute(stmt)).all()}
