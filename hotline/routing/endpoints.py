"""Line status API: counsellors mark their organisation's lines available, on break or off."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from hotline.auth.deps import PrincipalDep
from hotline.auth.models import Role
from hotline.deps import NowDep, SessionDep
from hotline.routing.lines import change_status, lines_of
from hotline.routing.models import LineStatus

router = APIRouter(prefix="/api/lines", tags=["lines"])

ERRORS: dict[int | str, dict[str, Any]] = {
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


@router.get("", responses=ERRORS)
async def list_lines(
    request: Request, who: PrincipalDep, session: SessionDep, now: NowDep
) -> list[LineOut]:
    """Lines of the caller's organisation (every line for admins and operators)."""
    org = None if who.role in (Role.ADMIN, Role.OPERATOR) else who.org_id
    views = await lines_of(session, request.app.state.router, org, now)
    return [LineOut.model_validate(v, from_attributes=True) for v in views]


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
    v = await change_status(
        session,
        request.app.state.router,
        line_id=line_id,
        status=body.status,
        org_id=None if who.role == Role.ADMIN else who.org_id,
        now=now,
    )
    return LineOut.model_validate(v, from_attributes=True)
