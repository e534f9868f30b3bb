"""Console pages every role shares: log in, log out, home, and the counsellor's lines."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.console.forms import actor
from hotline.console.web import ROLE_HOME, UserDep, form_of, page, require, start_session
from hotline.deps import NowDep, SessionDep
from hotline.errors import not_allowed
from hotline.routing import operator
from hotline.routing.lines import change_status, lines_of
from hotline.routing.models import LineStatus

router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=__file__.rsplit("/", 1)[0] + "/static")
STATUS_LABELS = {"available": "受付中", "break": "休憩中", "off": "受付停止"}
# One message whatever was wrong (name, password, lock-out): nothing to learn from it.
LOGIN_FAILED = (
    "アカウント名またはパスワードが正しくありません。しばらくしてから再度お試しください。"
)


def _safe_next(target: str) -> str:
    # Only our own pages: an open redirect would let a link send people elsewhere.
    return target if target.startswith("/console") and not target.startswith("//") else "/console"


@router.get("/login")
async def login_form(request: Request, next: str = "/console") -> Response:
    return page(request, "login.html", None, next=_safe_next(next), name="", error=None)


@router.post("/login")
async def login(request: Request, session: SessionDep, now: NowDep) -> Response:
    form = await form_of(request)
    settings = request.app.state.settings
    lockout = accounts.Lockout(settings.login_attempts, settings.lockout_minutes)
    name, target = str(form.get("name", ""))[:80], _safe_next(str(form.get("next", "")))
    user = await accounts.authenticate(session, name, str(form.get("password", "")), now, lockout)
    if user is None:
        return page(request, "login.html", None, next=target, name=name, error=LOGIN_FAILED)
    start_session(request, user, now)
    return RedirectResponse(target if target != "/console" else ROLE_HOME[Role(user.role)], 303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_of(request)
    request.session.clear()
    return RedirectResponse("/console/login", 303)


@router.get("")
async def home(user: UserDep) -> Response:
    return RedirectResponse(ROLE_HOME[Role(user.role)], 303)


OVERSEERS = (Role.OPERATOR, Role.ADMIN)  # see every line, and may free one by hand
FLASH = {"1": "回線の状態を変更しました。", "freed": "回線を解放しました。"}


@router.get("/lines")
async def lines(request: Request, user: UserDep, session: SessionDep, now: NowDep) -> Response:
    require(user, Role.COUNSELLOR, *OVERSEERS)
    overseer = Role(user.role) in OVERSEERS
    org = None if overseer else user.org_id
    views = await lines_of(session, request.app.state.router, org, now)
    done = request.query_params.get("done")
    return page(
        request,
        "lines.html",
        user,
        lines=views,
        labels=STATUS_LABELS,
        overseer=overseer,
        flash=done
        and ("回線を解放しました。" if done == "freed" else "回線の状態を変更しました。"),
    )


@router.post("/lines/{line_id}/free")
async def free_line(
    line_id: str, request: Request, user: UserDep, session: SessionDep, now: NowDep
) -> Response:
    """An operator frees a line whose call's end was never heard (audited)."""
    require(user, *OVERSEERS)
    await form_of(request)  # the CSRF check
    await operator.free_line(
        session, request.app.state.router, line_id=line_id, who=actor(request, user), now=now
    )
    return RedirectResponse("/console/lines?done=freed", 303)


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
