"""Console plumbing: templates, the signed session, CSRF, and who is logged in.

Sessions live in the database (hotline.auth.sessions): the cookie, signed by Starlette
(itsdangerous; HttpOnly, SameSite=Strict, Secure in production, limited to /console), only
carries a random session token and the CSRF token. Logging out, an admin disabling the
account, or HOTLINE_SESSION_HOURS passing ends the session on the server: a copied cookie
is worth nothing afterwards. Every form carries a per-session CSRF token; a POST without the
right one is refused with 403.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth import sessions as console_sessions
from hotline.auth.models import ConsoleUser, Role
from hotline.common.text import storable
from hotline.config import TOKYO
from hotline.deps import SessionDep
from hotline.errors import Forbidden, Invalid
from hotline.lines import care
from hotline.services import services_of

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")


def _tokyo(value: dt.datetime | None) -> str:
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if value else "—"


def _waited(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}分{sec:02d}秒" if minutes else f"{sec}秒"


templates.env.filters.update(tokyo=_tokyo, waited=_waited)
ROLE_HOME = {
    Role.COUNSELLOR: "/console/calls",
    Role.COORDINATOR: "/console/cases",
    Role.OPERATOR: "/console/dashboard",
    Role.ADMIN: "/console/dashboard",
    Role.SUPERVISOR: "/console/board",
}


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page, then back."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return f"/console/login?next={quote(next_url, safe='/')}"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf(request: Request, form: Any) -> None:
    sent, expected = str(form.get("csrf", "")), request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("the form's security token is missing or wrong; reload the page")


async def start_session(
    request: Request, session: AsyncSession, user: ConsoleUser, now: dt.datetime
) -> None:
    hours = services_of(request.app).settings.session_hours
    token = await console_sessions.start(session, user_id=user.id, now=now, hours=hours)
    request.session.clear()  # a new session on login: no fixation
    request.session.update(sid=token, csrf=secrets.token_urlsafe(24))


async def end_session(request: Request, session: AsyncSession, now: dt.datetime) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        await console_sessions.end(session, token, now)
    request.session.clear()


async def current_user(request: Request, session: SessionDep) -> ConsoleUser:
    now: dt.datetime = services_of(request.app).clock()
    token = request.session.get("sid")
    user = await console_sessions.user_of(session, token, now) if isinstance(token, str) else None
    if user is None:
        request.session.clear()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if user.role == Role.COORDINATOR:  # the badge of open debrief requests on every page
        request.state.debriefs_open = sum((await care.open_by_org(session)).values())
    return user


UserDep = Annotated[ConsoleUser, Depends(current_user)]


def require(user: ConsoleUser, *roles: Role) -> None:
    if user.role not in roles:
        raise Forbidden("this page is not for your role")


def page(request: Request, template: str, user: ConsoleUser | None, **context: Any) -> Response:
    cfg = services_of(request.app).cfg
    orgs = {o.id: o.name for o in cfg.organisations}

    def org_name(org_id: str | None) -> str:
        """An organisation as people know it (its name in menus.yaml), not its id."""
        return orgs.get(org_id or "", org_id or "—")

    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": csrf_token(request),
            "role_home": ROLE_HOME,
            "org_name": org_name,
            "debriefs_open": getattr(request.state, "debriefs_open", 0),
            **context,
        },
    )


async def form_of(request: Request) -> Any:
    """The posted form, its CSRF token checked; a field a database cannot store (a NUL, an
    unpaired surrogate: `hotline.common.text`) is refused with a 422 before any statement."""
    form = await request.form()
    check_csrf(request, form)
    for name, value in form.multi_items():
        if isinstance(value, str) and not (storable(value) and storable(name)):
            raise Invalid(name if storable(name) else "form", "not text that can be stored")
    return form


__all__ = ["AsyncSession", "LoginRequired", "UserDep", "check_csrf", "csrf_token", "page"]
