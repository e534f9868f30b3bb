"""Options API: operators see which options are open, and close or reopen one at once (an
emergency), audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hotline.auth.deps import PrincipalDep
from hotline.auth.models import Role
from hotline.common.http import ActorDep, PathWord
from hotline.common.text import Text
from hotline.deps import ConfigDep, NowDep, SessionDep
from hotline.hours import closures

router = APIRouter(prefix="/api/options", tags=["options"])
OPS = (Role.OPERATOR, Role.ADMIN)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or revoked API key"},
    403: {"description": "not an operator or admin key"},
    404: {"description": "unknown option"},
}


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text | None = Field(default=None, max_length=200)


class OptionOut(BaseModel):
    id: str
    name: str
    open: bool  # a caller choosing it now is queued (if a line is on duty)
    open_by_hours: bool
    opens_at: dt.datetime | None  # when closed by its hours: the next opening (Asia/Tokyo)
    closed_by_operator: bool
    closed_at: dt.datetime | None
    reason: str | None
    changed: bool | None = None  # on close/reopen: False when it already was so


async def _one(session: SessionDep, cfg: ConfigDep, option_id: str, now: dt.datetime) -> OptionOut:
    state = next(s for s in await closures.states(session, cfg, now) if s.id == option_id)
    return OptionOut.model_validate(state, from_attributes=True)


@router.get("", responses=ERRORS)
async def list_options(
    who: PrincipalDep, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> list[OptionOut]:
    """Every option: open now by its hours, closed by an operator, and when it opens."""
    who.require(*OPS)
    states = await closures.states(session, cfg, now)
    return [OptionOut.model_validate(s, from_attributes=True) for s in states]


@router.post("/{option_id}/close", responses=ERRORS)
async def close(
    option_id: PathWord,
    who: PrincipalDep,
    actor: ActorDep,
    session: SessionDep,
    cfg: ConfigDep,
    now: NowDep,
    body: CloseIn | None = None,
) -> OptionOut:
    """Close an option at once: callers choosing it hear the closed message (audited)."""
    who.require(*OPS)
    reason = body.reason if body else None
    changed = await closures.close(
        session, cfg, option_id=option_id, reason=reason, who=actor, now=now
    )
    return (await _one(session, cfg, option_id, now)).model_copy(update={"changed": changed})


@router.post("/{option_id}/reopen", responses=ERRORS)
async def reopen(
    option_id: PathWord,
    who: PrincipalDep,
    actor: ActorDep,
    session: SessionDep,
    cfg: ConfigDep,
    now: NowDep,
) -> OptionOut:
    """Reopen an option an operator closed (audited); its hours apply again."""
    who.require(*OPS)
    changed = await closures.reopen(session, cfg, option_id=option_id, who=actor, now=now)
    return (await _one(session, cfg, option_id, now)).model_copy(update={"changed": changed})
