"""Wires the console into the app: session cookies, static files, login redirects."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.middleware.sessions import SessionMiddleware

from hotline.console import cases_pages, ops_pages, options_pages, pages, records_pages
from hotline.console.web import LoginRequired, login_url
from hotline.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.console_secret,
        session_cookie="hotline_console",
        max_age=int(settings.session_hours * 3600),
        path="/console",
        same_site="strict",
        https_only=settings.env == "production",
    )
    app.mount("/console/static", pages.static, name="console-static")
    for module in (pages, records_pages, cases_pages, ops_pages, options_pages):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_url), 303)
