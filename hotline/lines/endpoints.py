"""Line presence API: counsellors sign their organisation's lines in and out, step away, and
end or extend their wrap-up; coordinators, operators and admins see every line live."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hotline.auth.deps import PrincipalDep
from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.common.text import Text
from hotline.deps import NowDep, ServicesDep, SessionDep
from hotline.lines.lines import LineView, change_status, lines_of, parse_status, wrap_up
from hotline.lines.models import Presence

router = APIRouter(prefix="/api/lines", tags=["lines"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or revoked API key"},
    403: {"description": "the line belongs to another organisation, or wrong role"},
    404: {"description": "unknown line"},
    422: {"description": "a status, reason or action not allowed (the answer lists them)"},
}
SEE_ALL = (Role.ADMIN, Role.OPERATOR, Role.COORDINATOR)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # ready (sign in), away (with a reason), offline (sign out); also the older available,
    # break and off.
    status: Text = Field(max_length=16)
    reason: Literal["break", "meeting"] | None = None


class WrapUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["end", "extend"]
    seconds: int = Field(default=60, ge=1, le=3600)


class LineOut(BaseModel):
    id: str
    org_id: str
    presence: Presence
    reason: str | None
    busy: bool
    scheduled: bool
    wrap_up_until: dt.datetime | None
    after_call: str | None
    since: dt.datetime
    # A break after a hard call or long talk: when it ends, or that one waits for the wrap-up.
    break_until: dt.datetime | None
    break_owed: bool


def _out(v: LineView) -> LineOut:
    return LineOut.model_validate(v, from_attributes=True)


@router.get("", responses=ERRORS)
async def list_lines(
    services: ServicesDep, who: PrincipalDep, session: SessionDep, now: NowDep
) -> list[LineOut]:
    """Lines of the caller's organisation (every line for coordinators, operators, admins)."""
    org = None if who.role in SEE_ALL else who.org_id
    return [_out(v) for v in await lines_of(session, services.router, org, now)]


@router.post("/{line_id}/status", responses=ERRORS)
async def set_status(
    line_id: PathWord,
    body: StatusIn,
    services: ServicesDep,
    who: PrincipalDep,
    session: SessionDep,
    now: NowDep,
) -> LineOut:
    """Sign in (ready), step away, or sign out; a ready line is offered callers at once.
    During a call, away and offline take effect when the call ends."""
    who.require(Role.COUNSELLOR, Role.ADMIN)
    status, alias_reason = parse_status(body.status)
    v = await change_status(
        session,
        services.router,
        line_id=line_id,
        status=status,
        reason=body.reason or alias_reason,
        org_id=None if who.role == Role.ADMIN else who.org_id,
        now=now,
    )
    return _out(v)


@router.post("/{line_id}/wrap-up", responses=ERRORS)
async def set_wrap_up(
    line_id: PathWord,
    body: WrapUpIn,
    services: ServicesDep,
    who: PrincipalDep,
    session: SessionDep,
    now: NowDep,
) -> LineOut:
    """End the wrap-up now (ready for the next caller), or take more time (up to the max)."""
    who.require(Role.COUNSELLOR, Role.ADMIN)
    v = await wrap_up(
        session,
        services.router,
        line_id=line_id,
        action=body.action,
        seconds=body.seconds,
        org_id=None if who.role == Role.ADMIN else who.org_id,
        now=now,
    )
    return _out(v)
