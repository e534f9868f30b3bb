"""Console pages every role shares: log in, log out, home, and the counsellor's lines."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.console.forms import actor
from hotline.console.web import (
    ROLE_HOME,
    UserDep,
    end_session,
    form_of,
    page,
    require,
    start_session,
)
from hotline.deps import NowDep, ServicesDep, SessionDep
from hotline.lines.lines import change_status, lines_of, parse_status, wrap_up
from hotline.routing import operator

router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=__file__.rsplit("/", 1)[0] + "/static")
STATUS_LABELS = {
    "offline": "サインアウト",
    "ready": "受付可",
    "reserved": "つなぎ中",
    "ringing": "呼出中",
    "talking": "通話中",
    "wrap_up": "後処理中",
    "away": "離席",
}
REASON_LABELS = {
    "break": "休憩",
    "meeting": "会議",
    "missed": "不在着信が続いたため",
    "hard_call": "つらい通話のあとの休憩",
    "talk_limit": "長く続いた通話のあとの休憩",
}
# What a counsellor can press, and what it asks for (the presence and a reason for away).
ACTIONS = {"ready": "受付開始", "break": "休憩", "meeting": "会議", "offline": "サインアウト"}
# One message whatever was wrong (name, password, lock-out): nothing to learn from it.
LOGIN_FAILED = (
    "アカウント名またはパスワードが正しくありません。しばらくしてから再度お試しください。"
)
TOO_MANY = "ログインの試行が多すぎます。1分ほど待ってから再度お試しください。"


def _safe_next(target: str) -> str:
    # Only our own pages: an open redirect would let a link send people elsewhere.
    return target if target.startswith("/console") and not target.startswith("//") else "/console"


@router.get("/login")
async def login_form(request: Request, next: str = "/console") -> Response:
    return page(request, "login.html", None, next=_safe_next(next), name="", error=None)


@router.post("/login")
async def login(request: Request, services: ServicesDep, now: NowDep) -> Response:
    # No session dependency: no transaction may stay open while the password is checked.
    form = await form_of(request)
    state = services
    name, target = str(form.get("name", ""))[:80], _safe_next(str(form.get("next", "")))
    client = request.client.host if request.client else "unknown"
    if not state.login_limiter.allow(client, now):
        resp = page(request, "login.html", None, next=target, name=name, error=TOO_MANY)
        resp.status_code = 429
        return resp
    lockout = accounts.Lockout(state.settings.login_attempts, state.settings.lockout_minutes)
    password = str(form.get("password", ""))
    user = await accounts.authenticate(state.console_sessions, name, password, now, lockout)
    if user is None:
        return page(request, "login.html", None, next=target, name=name, error=LOGIN_FAILED)
    async with state.console_unit() as uow:
        await start_session(request, uow.session, user, now)
    return RedirectResponse(target if target != "/console" else ROLE_HOME[Role(user.role)], 303)


@router.post("/logout")
async def logout(request: Request, session: SessionDep, now: NowDep) -> Response:
    await form_of(request)
    await end_session(request, session, now)  # the cookie, even if copied, is dead now
    return RedirectResponse("/console/login", 303)


@router.get("")
async def home(user: UserDep) -> Response:
    return RedirectResponse(ROLE_HOME[Role(user.role)], 303)


OVERSEERS = (Role.OPERATOR, Role.ADMIN)  # see every line, and may free one by hand
WATCHERS = (Role.COORDINATOR, *OVERSEERS)  # see every line's presence live
FLASH = {
    "1": "回線の状態を変更しました。",
    "freed": "回線を解放しました。",
    "hard": (
        "つらい通話として伝えました。後処理のあと休憩に入り、"
        "振り返りの依頼がコーディネーターに届きます。"
    ),
}


@router.get("/lines")
async def lines(
    request: Request, services: ServicesDep, user: UserDep, session: SessionDep, now: NowDep
) -> Response:
    require(user, Role.COUNSELLOR, *WATCHERS)
    overseer = Role(user.role) in OVERSEERS
    org = None if Role(user.role) in WATCHERS else user.org_id
    views = await lines_of(session, services.router, org, now)
    done = request.query_params.get("done")
    return page(
        request,
        "lines.html",
        user,
        lines=views,
        labels=STATUS_LABELS,
        reasons=REASON_LABELS,
        actions=ACTIONS if Role(user.role) == Role.COUNSELLOR else {},
        overseer=overseer,
        flash=FLASH.get(done or ""),
    )


@router.post("/lines/{line_id}/free")
async def free_line(
    line_id: PathWord,
    request: Request,
    services: ServicesDep,
    user: UserDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """An operator frees a line whose call's end was never heard (audited)."""
    require(user, *OVERSEERS)
    await form_of(request)  # the CSRF check
    await operator.free_line(
        session, services.router, line_id=line_id, who=actor(request, user), now=now
    )
    return RedirectResponse("/console/lines?done=freed", 303)


@router.post("/lines/{line_id}/status")
async def set_line(
    line_id: PathWord,
    request: Request,
    services: ServicesDep,
    user: UserDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    require(user, Role.COUNSELLOR)
    form = await form_of(request)
    wanted = str(form.get("status", ""))
    router = services.router
    if wanted in ("end-wrap-up", "extend-wrap-up"):
        action = "end" if wanted == "end-wrap-up" else "extend"
        await wrap_up(session, router, line_id=line_id, action=action, org_id=user.org_id, now=now)
    else:
        status, reason = parse_status("away" if wanted in ("break", "meeting") else wanted)
        reason = wanted if wanted in ("break", "meeting") else reason
        await change_status(
            session,
            router,
            line_id=line_id,
            status=status,
            reason=reason,
            org_id=user.org_id,
            now=now,
        )
    return RedirectResponse("/console/lines?done=1", 303)
