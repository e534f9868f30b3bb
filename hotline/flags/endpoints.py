"""Caller flags API: coordinators and operators flag the caller of a call, list the flags in
force and lift one (audited). Counsellors cannot: a flag is decided away from the call."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hotline.auth.deps import PrincipalDep
from hotline.auth.models import Role
from hotline.common.http import E401, ActorDep, ResponsesDoc, errors
from hotline.common.text import Text
from hotline.deps import NowDep, RowId, SessionDep
from hotline.flags import store
from hotline.flags.models import CallerFlag

router = APIRouter(prefix="/api/flags", tags=["flags"])
# Who may flag, list and lift: the people who look after the service, not the counsellor on
# the call (a flag is decided afterwards, by someone who can weigh it).
FLAGGERS = (Role.COORDINATOR, Role.OPERATOR)

ERRORS: ResponsesDoc = errors(
    E401,
    {403: {"description": "not a coordinator or operator key"}},
    {404: {"description": "unknown call, or unknown or expired flag"}},
    {409: {"description": "the caller has a flag of this kind in force: its id (flag_id)"}},
    {422: {"description": "a kind, reason or expiry not allowed, or a withheld number"}},
)


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_sid: Text = Field(min_length=1, max_length=64)  # a call of the caller to flag
    kind: Text = Field(max_length=16)  # repeat or abusive
    reason: Text = Field(min_length=1, max_length=200)
    expires_in_hours: int = Field(ge=store.MIN_HOURS, le=store.MAX_HOURS)


class FlagOut(BaseModel):
    id: int
    kind: str
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime
    created_by: str
    from_call_sid: str  # never the number, nor its hash


def _out(row: CallerFlag) -> FlagOut:
    return FlagOut.model_validate(row, from_attributes=True)


@router.get("", responses=ERRORS)
async def list_flags(who: PrincipalDep, session: SessionDep, now: NowDep) -> list[FlagOut]:
    """The flags in force, the latest first."""
    who.require(*FLAGGERS)
    return [_out(row) for row in await store.active(session, now)]


@router.post("", status_code=201, responses=ERRORS)
async def create_flag(
    body: FlagIn, who: PrincipalDep, actor: ActorDep, session: SessionDep, now: NowDep
) -> FlagOut:
    """Flag the caller of a call until `expires_in_hours` from now (24 hours to 5 years)."""
    who.require(*FLAGGERS)
    new = store.NewFlag(body.call_sid, body.kind, body.reason, body.expires_in_hours)
    return _out(await store.flag(session, new, who=actor, now=now))


@router.delete("/{flag_id}", status_code=204, responses=ERRORS)
async def lift_flag(
    flag_id: RowId, who: PrincipalDep, actor: ActorDep, session: SessionDep, now: NowDep
) -> None:
    """Lift a flag now (audited)."""
    who.require(*FLAGGERS)
    await store.lift(session, flag_id, who=actor, now=now)
