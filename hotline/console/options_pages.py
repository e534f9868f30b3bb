"""Operators close an option at once, for an emergency, and reopen it (audited): the forms
on the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.console.forms import actor
from hotline.console.web import UserDep, form_of, require
from hotline.deps import ConfigDep, NowDep, SessionDep
from hotline.hours import closures

router = APIRouter(prefix="/console", include_in_schema=False)
OPS = (Role.OPERATOR, Role.ADMIN)
FLASH = {"closed": "窓口の受付を停止しました。", "reopened": "窓口の受付を再開しました。"}


@router.post("/options/{option_id}/close")
async def close_option(
    option_id: PathWord,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    now: NowDep,
) -> Response:
    require(user, *OPS)
    form = await form_of(request)  # the CSRF check
    reason = str(form.get("reason", "")).strip()[:200] or None
    who = actor(request, user)
    await closures.close(session, cfg, option_id=option_id, reason=reason, who=who, now=now)
    return RedirectResponse("/console/dashboard?done=closed#options", 303)


@router.post("/options/{option_id}/reopen")
async def reopen_option(
    option_id: PathWord,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    now: NowDep,
) -> Response:
    require(user, *OPS)
    await form_of(request)
    await closures.reopen(session, cfg, option_id=option_id, who=actor(request, user), now=now)
    return RedirectResponse("/console/dashboard?done=reopened#options", 303)
