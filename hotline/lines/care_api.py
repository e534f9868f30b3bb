"""Counsellors looked after, over HTTP (docs/counsellor-care.md): a counsellor marks their
line's call hard (a break for the line, a debrief request); coordinators list the debrief
requests, take them and close them. Rules are in `hotline.lines.care`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from hotline.common.http import (
    E401,
    E403,
    E404,
    E422,
    ActorDep,
    PathWord,
    ResponsesDoc,
    errors,
)
from hotline.deps import NowDep, RowId, ServicesDep, SessionDep
from hotline.lines import care
from hotline.lines.care import Debrief

router = APIRouter(tags=["care"])
E409: ResponsesDoc = {
    409: {"description": "no call to mark, or the debrief request is closed already"}
}


class DebriefOut(BaseModel):
    """A debrief request: the line and organisation, never the caller or the record."""

    id: int
    org_id: str
    line_id: str
    source: Literal["counsellor", "risk_level"]
    state: Literal["open", "acknowledged", "closed"]
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    closed_at: dt.datetime | None
    handled_by: str | None


class DebriefAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["acknowledge", "close"]


def _out(d: Debrief) -> DebriefOut:
    return DebriefOut.model_validate(d, from_attributes=True)


@router.post("/api/lines/{line_id}/hard-call", responses=errors(E401, E403, E404, E409))
async def hard_call(
    line_id: PathWord, services: ServicesDep, who: ActorDep, session: SessionDep, now: NowDep
) -> DebriefOut:
    """Mark the call this line is in, or last talked with, as hard: the line takes its break
    after the wrap-up (no caller is offered it meanwhile) and the coordinators get a debrief
    request. Marking the same call again changes nothing."""
    d = await care.mark_line_call(
        session,
        services.router,
        who,
        line_id=line_id,
        org_id=None if who.role == "admin" else who.org_id,
        now=now,
    )
    return _out(d)


@router.get("/api/debriefs", responses=errors(E401, E403))
async def list_debriefs(
    who: ActorDep, session: SessionDep, closed: bool = False
) -> list[DebriefOut]:
    """Debrief requests not closed yet, oldest first (coordinators); `closed=true`: all."""
    return [_out(d) for d in await care.debriefs(session, who, closed_too=closed)]


@router.post("/api/debriefs/{debrief_id}", responses=errors(E401, E403, E404, E409, E422))
async def act_on_debrief(
    debrief_id: RowId, body: DebriefAction, who: ActorDep, session: SessionDep, now: NowDep
) -> DebriefOut:
    """Take the request ("acknowledge": a coordinator is on it) or close it (audited)."""
    d = await care.handle(
        session, who, debrief_id=debrief_id, action=body.action, by=f"key {who.key_id}", now=now
    )
    return _out(d)
