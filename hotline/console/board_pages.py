"""The supervisor's board (通話の見守り): the live calls of their organisation (option,
language, wait, talking for, phase, who is in; never a number), kept up to date over
server-sent events, with listen, coach and join; the counsellors' help requests as they
come; and going on and off duty as one of the organisation's configured supervisors.

Each form calls the conference room's service (hotline.conference), which checks that the
asker is a supervisor of the call's organisation and audits every supervision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline.auth.models import ConsoleUser, Role
from hotline.common.audit import Actor
from hotline.conference import service
from hotline.console import events, live
from hotline.console.forms import actor
from hotline.console.live_pages import carry_out, context, live_stream, org_filter
from hotline.console.web import UserDep, form_of, page, require
from hotline.deps import RowId, SessionDep
from hotline.services import services_of

router = APIRouter(prefix="/console/board", include_in_schema=False)
WATCHERS = (Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)
DONE = {
    "listen": "通話を聞いています（相談員の画面に表示されます）。",
    "coach": "助言を始めました（相談員にだけ聞こえます）。",
    "join": "通話に参加しました。",
    "duty-on": "当番を始めました。",
    "duty-off": "当番を終えました。",
    "acknowledge": "ヘルプ要請に対応します。相談員に伝わりました。",
    "close": "ヘルプ要請を終了にしました。",
}


def _board_context(request: Request, user: ConsoleUser, calls: list[live.LiveCall]) -> Any:
    ctx = context(request, user, calls)
    ctx["act"] = Role(user.role) == Role.SUPERVISOR
    org = next((o for o in services_of(request.app).cfg.organisations if o.id == user.org_id), None)
    ctx["supervisors"] = org.supervisors if org is not None else []
    return ctx


async def _board_page(
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    services = services_of(request.app)
    calls = live.of_org(await live.snapshot(session, services.cfg), org_filter(user))
    who = actor(request, user)
    supervisor = Role(user.role) == Role.SUPERVISOR
    duty = await service.duty_now(session, services, who) if supervisor else []
    done = DONE.get(request.query_params.get("done", ""))
    ctx = _board_context(request, user, calls)
    resp = page(
        request, "board.html", user, flash=done, error=error, duty=duty,
        version=events.version(calls), **ctx,
    )  # fmt: skip
    resp.status_code = status
    return resp


@router.get("")
async def board(request: Request, user: UserDep, session: SessionDep) -> Response:
    require(user, *WATCHERS)
    return await _board_page(request, user, session)


@router.get("/events")
async def board_events(request: Request, user: UserDep) -> Response:
    require(user, *WATCHERS)
    return live_stream(request, user, "_board.html", _board_context, "board")


async def _act(
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    do: Callable[[Actor], Awaitable[object]],
    done: str,
) -> Response:
    return await carry_out(request, user, session, do, _board_page, f"/console/board?done={done}")


@router.post("/{call_id}/supervise")
async def supervise(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    require(user, Role.SUPERVISOR)
    form = await form_of(request)
    mode, chosen = str(form.get("mode", "")), str(form.get("supervisor_id", ""))
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.supervise(session, s, who, call_id, mode=mode, supervisor_id=chosen),
        mode if mode in DONE else "listen",
    )


@router.post("/duty")
async def duty(request: Request, user: UserDep, session: SessionDep) -> Response:
    require(user, Role.SUPERVISOR)
    form = await form_of(request)
    on = str(form.get("on", "")) == "1"
    chosen = str(form.get("supervisor_id", "")) or None
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.set_duty(session, s, who, on=on, supervisor_id=chosen),
        "duty-on" if on else "duty-off",
    )


@router.post("/help/{help_id}")
async def handle_help(
    help_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    require(user, Role.SUPERVISOR)
    form = await form_of(request)
    action: Literal["acknowledge", "close"] = (
        "acknowledge" if str(form.get("action", "")) == "acknowledge" else "close"
    )
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.handle_help(session, s, who, help_id, action=action),
        action,
    )
