"""Changing a line's live status: the one rule for the API and the console alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Forbidden, NotFound
from hotline.routing.models import Line, LineStatus
from hotline.routing.store import Router


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
    status: LineStatus
    busy: bool
    scheduled: bool


def view(router: Router, line: Line, now: dt.datetime) -> LineView:
    return LineView(
        line.id,
        line.org_id,
        LineStatus(line.status),
        line.call_id is not None,
        line.id in router.scheduled_ids(now),
    )


async def lines_of(
    session: AsyncSession, router: Router, org_id: str | None, now: dt.datetime
) -> list[LineView]:
    """The lines of an organisation (every line when org_id is None), in config order."""
    rows = [await session.get(Line, i) for i in router.lines]
    return [
        view(router, r, now)
        for r in rows
        if r is not None and (org_id is None or r.org_id == org_id)
    ]


async def change_status(
    session: AsyncSession,
    router: Router,
    *,
    line_id: str,
    status: LineStatus,
    org_id: str | None,
    now: dt.datetime,
) -> LineView:
    """Set a line's status (org_id None: any organisation's); a staffed line is offered at once."""
    line = await session.get(Line, line_id, with_for_update=True)
    if line is None or line_id not in router.lines:
        raise UnknownLine(line_id)
    if org_id is not None and line.org_id != org_id:
        raise NotYourLine()
    await router.set_status(session, line, status, now)
    await session.flush()
    await router.assign(session, now)  # a line staffed: offer it to waiting callers now
    await session.refresh(line)
    return view(router, line, now)
