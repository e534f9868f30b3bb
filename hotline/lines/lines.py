"""A line's presence as counsellors change it: the one rule for the API and the console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call
from hotline.config import Care, Staffing
from hotline.errors import Conflict, Forbidden, NotFound, not_allowed
from hotline.lines import presence
from hotline.lines.models import ALIASES, CARE_BREAKS, ON_A_CALL, AwayReason, Line, Presence


class Pass(Protocol):
    """What presence changes need of the routing pass (hotline.routing.store.Router): the
    configured lines, which are scheduled now, their staffing, and a pass to run."""

    @property
    def lines(self) -> Collection[str]: ...

    def scheduled_ids(self, now: dt.datetime) -> list[str]: ...

    def staffing(self, line_id: str) -> Staffing: ...

    def care(self, line_id: str) -> Care: ...

    async def assign(self, session: AsyncSession, now: dt.datetime) -> list[Any]: ...


class UnknownLine(NotFound):
    """No such line in the configuration."""

    def __init__(self, line_id: str) -> None:
        super().__init__(f"unknown line {line_id!r}")


class NotYourLine(Forbidden):
    """The line belongs to another organisation."""

    def __init__(self) -> None:
        super().__init__("this line belongs to another organisation")


@dataclass(frozen=True, slots=True)
class LineView:
    id: str
    org_id: str
    presence: Presence
    reason: str | None  # why a line is away
    busy: bool  # reserved, ringing or talking
    scheduled: bool  # within its hours
    wrap_up_until: dt.datetime | None
    after_call: str | None  # where the counsellor goes when the call ends
    since: dt.datetime
    break_until: dt.datetime | None = None  # the end of a break after a hard call or long talk
    break_owed: bool = False  # a break waits for the end of the wrap-up


def view(router: Pass, line: Line, now: dt.datetime) -> LineView:
    return LineView(
        line.id,
        line.org_id,
        Presence(line.status),
        line.away_reason,
        line.status in ON_A_CALL,
        line.id in router.scheduled_ids(now),
        line.wrap_up_until,
        line.after_call,
        line.status_changed_at,
        line.break_until,
        (line.break_owed_seconds or 0) > 0,
    )


async def lines_of(
    session: AsyncSession, router: Pass, org_id: str | None, now: dt.datetime
) -> list[LineView]:
    """The lines of an organisation (every line when org_id is None), in config order."""
    rows = {r.id: r for r in (await session.execute(select(Line))).scalars()}
    return [
        view(router, rows[i], now)
        for i in router.lines
        if i in rows and (org_id is None or rows[i].org_id == org_id)
    ]


def on_a_care_break(line: Line) -> bool:
    return line.status == Presence.AWAY and line.away_reason in CARE_BREAKS


def parse_status(value: str) -> tuple[Presence, str | None]:
    """What a counsellor may ask for: ready, away (break), offline, or the old words."""
    if value in ALIASES:
        target = ALIASES[value]
        return target, AwayReason.BREAK if target == Presence.AWAY else None
    try:
        target = Presence(value)
    except ValueError:
        raise not_allowed("status", [*CHOOSABLE, *ALIASES]) from None
    if target not in CHOOSABLE:
        raise not_allowed("status", [*CHOOSABLE, *ALIASES])
    return target, None


CHOOSABLE = (Presence.READY, Presence.AWAY, Presence.OFFLINE)
REASONS = (AwayReason.BREAK, AwayReason.MEETING)


async def _line(session: AsyncSession, router: Pass, line_id: str, org_id: str | None) -> Line:
    line = await session.get(Line, line_id, with_for_update=True)
    if line is None or line_id not in router.lines:
        raise UnknownLine(line_id)
    if org_id is not None and line.org_id != org_id:
        raise NotYourLine()
    return line


async def change_status(
    session: AsyncSession,
    router: Pass,
    *,
    line_id: str,
    status: Presence,
    reason: str | None = None,
    org_id: str | None,
    now: dt.datetime,
) -> LineView:
    """Sign in (ready), step away (with a reason) or sign out; org_id None: any
    organisation's line. A line that becomes ready is offered to waiting callers at once."""
    line = await _line(session, router, line_id, org_id)
    if status == Presence.READY and on_a_care_break(line) and org_id is not None:
        # The break after a hard call is the counsellor's protection, not a choice made in the
        # moment: their own organisation's console and keys cannot cut it short; an admin
        # (org_id None) may, and signing out or a meeting ends it too.
        raise Conflict(
            "this line is on a break after a hard call or long talk; "
            "it is ready by itself when the break is over"
        )
    if status == Presence.AWAY:
        reason = reason or AwayReason.BREAK
        if reason not in REASONS:
            raise not_allowed("reason", list(REASONS))
    presence.counsellor_sets(session, line, status, now, reason)
    await session.flush()
    await router.assign(session, now)  # a line staffed: offer it to waiting callers now
    await session.refresh(line)
    return view(router, line, now)


async def wrap_up(
    session: AsyncSession,
    router: Pass,
    *,
    line_id: str,
    action: str,
    org_id: str | None,
    now: dt.datetime,
    seconds: int = 60,
) -> LineView:
    """End the wrap-up now ("end"), or take `seconds` more ("extend", up to the maximum)."""
    line = await _line(session, router, line_id, org_id)
    if action == "end":
        presence.end_wrap_up(session, line, now)
    elif action == "extend":
        presence.extend_wrap_up(line, router.staffing(line_id), seconds, now)
    else:
        raise not_allowed("action", ["end", "extend"])
    await session.flush()
    await router.assign(session, now)
    await session.refresh(line)
    return view(router, line, now)


async def end_wrap_up_of(session: AsyncSession, call_sid: str, now: dt.datetime) -> None:
    """The record of a call is saved: the line that talked with it ends its wrap-up."""
    stmt = (
        select(Line)
        .join(Call, Call.id == Line.last_call_id)
        .where(Call.call_sid == call_sid, Line.status == Presence.WRAP_UP)
        .with_for_update(of=Line)
    )
    for line in (await session.execute(stmt)).scalars():
        presence.end_wrap_up(session, line, now)
