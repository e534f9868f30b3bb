"""Wires the console into the app: session cookies, static files, login redirects."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hotline.console import (
    board_pages,
    care_pages,
    cases_pages,
    flags_pages,
    live_pages,
    ops_pages,
    options_pages,
    pages,
    records_pages,
)
from hotline.console.web import LoginRequired, login_url
from hotline.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        ConsoleSessions,
        secret_key=settings.console_secret,
        session_cookie="hotline_console",
        max_age=int(settings.session_hours * 3600),
        path="/console",
        same_site="strict",
        https_only=settings.env == "production",
    )
    app.mount("/console/static", pages.static, name="console-static")
    for module in (
        pages,
        records_pages,
        cases_pages,
        ops_pages,
        options_pages,
        flags_pages,
        care_pages,
        live_pages,
        board_pages,
    ):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_url), 303)


class ConsoleSessions:
    """The console's cookie sessions, on every path but the voice webhooks: Twilio sends no
    cookie, and reading one on each webhook cost a caller's answer time for nothing."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app, self.sessions = app, SessionMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/voice/"):
            await self.app(scope, receive, send)
        else:
            await self.sessions(scope, receive, send)
