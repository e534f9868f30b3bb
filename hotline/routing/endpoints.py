"""Line status API: counsellors mark their organisation's lines available, on break or off."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from hotline.auth.deps import PrincipalDep
from hotline.auth.models import Role
from hotline.deps import NowDep, SessionDep
from hotline.routing.models import Line, LineStatus
from hotline.routing.store import Router

router = APIRouter(prefix="/api/lines", tags=["lines"])

ERRORS = {
    401: {"description": "missing or revoked API key"},
    403: {"description": "the line belongs to another organisation, or wrong role"},
    404: {"description": "unknown line"},
}


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: LineStatus


class LineOut(BaseModel):
    id: str
    org_id: str
    status: LineStatus
    busy: bool
    scheduled: bool


def _out(router_: Router, line: Line, now: NowDep) -> LineOut:
    return LineOut(
        id=line.id,
        org_id=line.org_id,
        status=LineStatus(line.status),
        busy=line.call_id is not None,
        scheduled=line.id in router_.scheduled_ids(now),
    )


@router.get("", responses=ERRORS)
async def list_lines(
    request: Request, who: PrincipalDep, session: SessionDep, now: NowDep
) -> list[LineOut]:
    """Lines of the caller's organisation (every line for admins and operators)."""
    router_: Router = request.app.state.router
    lines = [await session.get(Line, i) for i in router_.lines]
    return [
        _out(router_, line, now)
        for line in lines
        if line is not None
        and (who.role in (Role.ADMIN, Role.OPERATOR) or line.org_id == who.org_id)
    ]


@router.post("/{line_id}/status", responses=ERRORS)
async def set_status(
    line_id: str,
    body: StatusIn,
    request: Request,
    who: PrincipalDep,
    session: SessionDep,
    now: NowDep,
) -> LineOut:
    """Mark a line available, on break or off; an available line is offered callers at once."""
    who.require(Role.COUNSELLOR, Role.ADMIN)
    router_: Router = request.app.state.router
    line = await session.get(Line, line_id, with_for_update=True)
    if line is None or line_id not in router_.lines:
        raise HTTPException(404, f"unknown line {line_id!r}")
    if who.role != Role.ADMIN and line.org_id != who.org_id:
        raise HTTPException(403, "this line belongs to another organisation")
    await router_.set_status(session, line, body.status, now)
    await session.flush()
    await router_.assign(session, now)  # a line staffed: offer it to waiting callers now
    await session.refresh(line)
    return _out(router_, line, now)
