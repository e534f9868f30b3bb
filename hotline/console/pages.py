"""Console pages every role shares: log in, log out, home, and the counsellor's lines."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.console.web import (
    ROLE_HOME,
    UserDep,
    end_session,
    form_of,
    page,
    require,
    start_session,
)
from hotline.deps import NowDep, SessionDep
from hotline.errors import not_allowed
from hotline.routing.lines import change_status, lines_of
from hotline.routing.models import LineStatus

router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=__file__.rsplit("/", 1)[0] + "/static")
STATUS_LABELS = {"available": "受付中", "break": "休憩中", "off": "受付停止"}
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
async def login(request: Request, now: NowDep) -> Response:
    # No session dependency: no transaction may stay open while the password is checked.
    form = await form_of(request)
    state = request.app.state
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
    async with state.console_sessions.begin() as session:
        await start_session(request, session, user, now)
    return RedirectResponse(target if target != "/console" else ROLE_HOME[Role(user.role)], 303)


@router.post("/logout")
async def logout(request: Request, session: SessionDep, now: NowDep) -> Response:
    await form_of(request)
    await end_session(request, session, now)  # the cookie, even if copied, is dead now
    return RedirectResponse("/console/login", 303)


@router.get("")
async def home(user: UserDep) -> Response:
    return RedirectResponse(ROLE_HOME[Role(user.role)], 303)


@router.get("/lines")
async def lines(request: Request, user: UserDep, session: SessionDep, now: NowDep) -> Response:
    require(user, Role.COUNSELLOR)
    views = await lines_of(session, request.app.state.router, user.org_id, now)
    return page(
        request,
        "lines.html",
        user,
        lines=views,
        labels=STATUS_LABELS,
        flash=request.query_params.get("done") and "回線の状態を変更しました。",
    )


@router.post("/lines/{line_id}/status")
async def set_line(
    line_id: str, request: Request, user: UserDep, session: SessionDep, now: NowDep
) -> Response:
    require(user, Role.COUNSELLOR)
    form = await form_of(request)
    try:
        status = LineStatus(str(form.get("status", "")))
    except ValueError:  # the form offers only these: a forged or stale one
        raise not_allowed("status", [s.value for s in LineStatus]) from None
    await change_status(
        session,
        request.app.state.router,
        line_id=line_id,
        status=status,
        org_id=user.org_id,
        now=now,
    )
    return RedirectResponse("/console/lines?done=1", 303)
