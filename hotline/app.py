"""create_app(): settings, config, database engine and routers, wired in one place."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from hotline import config as config_mod
from hotline import http_errors
from hotline.calls.lifecycle import Limits
from hotline.cases import endpoints as cases_api
from hotline.config import HotlineConfig
from hotline.console import setup as console
from hotline.db import SchemaNotAtHead, check_at_head, make_engine, session_factory
from hotline.ivr import fallback, webhooks
from hotline.ivr.spool import Spool
from hotline.ivr.twiml import Renderer, Urls
from hotline.ivr.upkeep import rest_client, start_upkeep
from hotline.metrics import endpoints as metrics_api
from hotline.metrics import observe
from hotline.metrics.prom import Metrics
from hotline.records import endpoints as records_api
from hotline.reports import endpoints as reports_api
from hotline.routing import endpoints as lines_api
from hotline.routing import options_api
from hotline.routing.store import Router
from hotline.routing.ticker import start_ticker
from hotline.settings import Settings

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings | None = None,
    cfg: HotlineConfig | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> FastAPI:
    settings = settings or Settings()
    cfg = cfg or config_mod.load(settings.config_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.warn_if_development()
        engine = make_engine(settings.database_url)
        try:
            await check_at_head(engine)  # refuse to serve on a schema the code does not know
            app.state.engine = engine
            # Metric facts are published after their transaction commits, never before.
            app.state.sessions = session_factory(engine, observe.publisher(app.state.metrics))
            async with app.state.sessions.begin() as session:
                await app.state.router.sync_lines(session, clock())
            tasks = [
                start_ticker(app, settings.tick_seconds),
                start_upkeep(app, settings.tick_seconds, settings.reconcile_every_seconds),
            ]
            yield
        finally:
            for task in locals().get("tasks", []):
                if task is not None:
                    task.cancel()
            await engine.dispose()

    app = FastAPI(title="#9999 hotline router", version="0.1.0", lifespan=lifespan)
    app.state.settings, app.state.cfg, app.state.clock = settings, cfg, clock
    app.state.renderer = Renderer(cfg, Urls(settings.public_base), settings.hold_segment_seconds)
    app.state.router = Router(
        cfg,
        reservation_timeout=settings.reservation_timeout_seconds,
        cooldown=settings.line_cooldown_seconds,
    )
    app.state.limits = Limits(
        queue_errors=settings.queue_error_limit,
        queue_error_window=dt.timedelta(seconds=settings.queue_error_window_seconds),
    )
    app.state.webhook_errors = 0
    app.state.rest = rest_client(settings)  # Twilio's REST API, when the account is set
    app.state.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
    http_errors.install(app)  # the domain's refusals (hotline.errors) as HTTP, in one place
    app.include_router(webhooks.router)
    app.include_router(fallback.router)  # needs no database: Twilio's fallback URL
    _audio(app, settings)
    app.include_router(lines_api.router)
    app.include_router(options_api.router)
    app.include_router(records_api.router)
    app.include_router(cases_api.router)
    app.include_router(metrics_api.router)
    app.include_router(reports_api.router)
    console.install(app, settings)
    _health(app)
    app.add_middleware(webhooks.VoiceGuard)  # inside the metrics: a fallback is counted as 200
    metrics_api.install(app)  # per-app registry, stored totals, webhook latency middleware
    app.state.spool.on_change = _spool_metrics(app.state.metrics)
    return app


def _audio(app: FastAPI, settings: Settings) -> None:
    """Recordings named in menus.yaml (`play:`), fetched by Twilio for <Play>."""
    audio = settings.config_path.parent / "audio"
    if audio.is_dir():
        app.mount("/audio", StaticFiles(directory=audio), name="audio")


def _spool_metrics(metrics: Metrics) -> Callable[[int, int], None]:
    def changed(backlog: int, dropped: int) -> None:
        metrics.spool_backlog.set(backlog)
        if dropped:
            metrics.spool_dropped.inc(dropped)

    return changed


def _health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """The database is reachable and migrated to head."""
        try:
            await check_at_head(app.state.engine)
        except Exception as e:  # unreachable database or wrong revision
            log.warning("not ready: %s", e)  # the detail (host, revision) stays in the log
            reason = "schema not at head" if isinstance(e, SchemaNotAtHead) else "database"
            return JSONResponse({"status": "not ready", "reason": reason}, 503)
        return JSONResponse({"status": "ready"})
