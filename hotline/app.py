"""The composition root: `create_app` builds the typed `Services` once (settings, config, router,
renderer, pushes, ...) and hands them to the routes, the middleware, the ticker and upkeep."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State
from starlette.types import ASGIApp

from hotline import config as config_mod
from hotline import http_errors, logs
from hotline.auth.ratelimit import RateLimiter
from hotline.calls.lifecycle import Limits
from hotline.cases import endpoints as cases_api
from hotline.cases.service import LINKAGE
from hotline.common.crypto import KeysUnfit, box_for
from hotline.common.hub import Hub
from hotline.conference import api as conference_api
from hotline.conference.escalations import ESCALATIONS
from hotline.config import HotlineConfig
from hotline.console import live as live_calls
from hotline.console import setup as console
from hotline.db import SchemaNotAtHead, Timeouts, check_at_head, make_engine
from hotline.flags import endpoints as flags_api
from hotline.health import check_records_keys
from hotline.hours import options_api
from hotline.ivr import dev_account, fallback, queues, ringback, webhooks
from hotline.ivr.conference import TwilioConference
from hotline.ivr.guard import VoiceGuard
from hotline.ivr.hold_load import HoldLoad, HoldLoadCounter
from hotline.ivr.pushes import Pushes
from hotline.ivr.spool import Spool
from hotline.ivr.twiml import Renderer, Urls
from hotline.ivr.upkeep import rest_client, start_upkeep
from hotline.lines import care, care_api
from hotline.lines import endpoints as lines_api
from hotline.logs import AccessLog
from hotline.metrics import endpoints as metrics_api
from hotline.metrics import observe
from hotline.metrics.prom import Metrics
from hotline.records import endpoints as records_api
from hotline.reports import endpoints as reports_api
from hotline.routing.store import Router
from hotline.routing.ticker import start_ticker
from hotline.security_headers import SecurityHeaders
from hotline.services import Services
from hotline.settings import Settings
from hotline.uow import Units

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class HotlineApp(FastAPI):
    """The FastAPI app with its typed collaborators (`services`). `app.state` is a view of
    the same object, for tests and tools that read it by name (`app.state.router`)."""

    services: Services

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack with `SecurityHeaders` outermost: outside its
        `ServerErrorMiddleware` too, so that the 500 answering an unhandled exception carries
        the headers like every other answer (a user middleware sits inside that one)."""
        return AccessLog(SecurityHeaders(super().build_middleware_stack()))


def create_app(
    settings: Settings | None = None,
    cfg: HotlineConfig | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    *,
    settle: bool = False,
) -> HotlineApp:
    """The app: its services built once (`build_services`) and handed to what needs them."""
    settings = settings or Settings()
    cfg = cfg or config_mod.load(settings.config_path)
    # An emergency direct line nobody has checked for a year: said at every start.
    for stale in config_mod.stale_checks(
        cfg.directory, clock().astimezone(config_mod.TOKYO).date()
    ):
        log.warning("menus.yaml: %s", stale)
    services = build_services(settings, cfg, clock)
    # No interactive docs or schema in production: they map every route for a stranger.
    dev = settings.env != "production"
    app = HotlineApp(
        title="#9999 hotline router",
        version="0.1.0",
        lifespan=_lifespan(services, settle=settle),
        docs_url="/docs" if dev else None,
        redoc_url="/redoc" if dev else None,
        openapi_url="/openapi.json" if dev else None,
    )
    app.services = services
    app.state = State(vars(services))  # a view: `app.state.router` is `services.router`
    _routes(app, settings)
    dev_account.mount(app, services.rest)  # development without an account only
    # Inside the metrics: a fallback is counted as 200.
    app.add_middleware(VoiceGuard, services=services, prefix=webhooks.router.prefix)
    app.add_middleware(HoldLoadCounter, load=services.hold_load)
    metrics_api.install(app, services)  # registry, stored totals, webhook latency middleware
    services.publish = _after_commit(observe.publisher(services.metrics), services.pushes)
    services.live = live_calls.hub_for(services)  # the console's live pages, one per process
    services.publish = _poking(services.publish, services.live)
    services.spool.on_change = _spool_metrics(services.metrics)
    return app


def build_services(
    settings: Settings, cfg: HotlineConfig, clock: Callable[[], dt.datetime]
) -> Services:
    """Everything but the database (built by the lifespan: `_open_database`)."""
    rest = rest_client(settings)  # Twilio's REST API, when the account is set
    # With pushes a freed line takes the caller out of the hold at once: the poll is only
    # the safety net, so its segments can be long (6x fewer polls at the defaults).
    # Not the development stand-in (`dev_account`): it places callbacks, nobody holds in it.
    pushed = rest is not None and rest.pushes
    hold_seconds = settings.hold_pushed_segment_seconds if pushed else settings.hold_segment_seconds
    hold_load = HoldLoad(
        base_seconds=hold_seconds,
        busy_polls=settings.hold_busy_polls,
        max_seconds=settings.hold_max_segment_seconds,
    )
    limits = Limits(
        queue_errors=settings.queue_error_limit,
        queue_error_window=dt.timedelta(seconds=settings.queue_error_window_seconds),
        callback_retries=cfg.callback.retries,
        callback_retry_after=dt.timedelta(minutes=cfg.callback.retry_after_minutes),
        # The caller and the counsellor meet in a conference of the call's own where a REST
        # account places the counsellor's leg (Twilio, a stand-in, or a development service's
        # own, which the terminal phone plays); without one, the two-leg bridge (no hold, no
        # transfer).
        conference=rest is not None,
    )
    timing = _hold_timing(settings, cfg, hold_seconds, pushed=pushed)
    router = Router(cfg, cooldown=settings.line_cooldown_seconds, limits=limits, **timing)
    services = Services(
        settings=settings,
        cfg=cfg,
        clock=clock,
        rest=rest,
        hold_load=hold_load,
        renderer=Renderer(cfg, Urls(settings.public_base), hold_seconds, hold_load),
        limits=limits,
        router=router,
        spool=Spool(settings.spool_dir, settings.spool_max_bytes),
        login_limiter=RateLimiter(settings.login_rate_per_minute, window_seconds=60),
        linkage=LINKAGE,  # records reach linkage cases through it, never by import
        # A saved record ends its line's wrap-up and may mark the call hard (a break, a
        # debrief request); records reach lines and routing only through this.
        record_saved=care.record_saved(router),
        escalations=ESCALATIONS,  # records show a call's escalations, never by import
    )
    # Requests to Twilio that committed transitions ask for (a callback's legs); without a
    # REST account no callback is offered.
    services.pushes = Pushes(services, rest) if rest is not None else None
    # The conference room's commands to Twilio (hold, parties, end), where calls meet in one.
    if rest is not None and limits.conference:
        services.conference = TwilioConference(rest, services.renderer.urls, cfg)
    return services


def _lifespan(
    services: Services, *, settle: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    settings = services.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None] | None] = []
        try:
            # Facts kept before a restart are counted from the start, not from the next
            # append or replay (an alert on the backlog must see them at once).
            backlog = await asyncio.to_thread(services.spool.backlog)
            services.metrics.spool_backlog.set(backlog)
            await _open_database(services)
            async with services.unit() as uow:
                await services.router.sync_lines(uow.session, services.clock())
            if settle:
                settle_gc()
            # Twilio's queues with their MaxSize and SIDs kept: waited for a few seconds at
            # most, never a reason not to start (the upkeep tries again).
            setting_up = await queues.set_up_at_start(services, wait=5.0)
            tasks = [
                setting_up,
                start_ticker(services, settings.tick_seconds),
                start_upkeep(services, settings.tick_seconds, settings.reconcile_every_seconds),
            ]
            yield
        finally:
            for task in tasks:
                if task is not None:
                    task.cancel()
            await _close(services)

    return lifespan


async def _open_database(services: Services) -> None:
    """The engines and session factories, once the schema and the records keys are checked."""
    settings = services.settings
    # No ping at checkout, a round trip per webhook: a webhook that finds its connection
    # closed by the server is run again on a new one (`VoiceGuard`). The ticker, upkeep,
    # pushes, the scrape's totals and reports use this pool too, without that rerun:
    # after a restart the first of them to meet a closed connection fails once (and the
    # pool drops the rest); each is done again by its next run or the sweeps. The
    # console's pool keeps the ping: its requests are few and have no such retry.
    # Within the webhooks' deadline (docs/faults.md): a stalled database fails a step in
    # seconds and the caller hears our fallback, not Twilio's.
    timeouts = Timeouts(*settings.db_timeouts)
    engine = services.engine = make_engine(
        settings.database_url, timeouts=timeouts, pool_pre_ping=False
    )
    # The console and the API get a small pool of their own: a login flood or a long
    # export never takes a connection a caller's webhook needs.
    # Its statements may be long (an export, a report): no bound on one, the same on waits.
    services.console_engine = make_engine(
        settings.database_url,
        timeouts=Timeouts(timeouts.connect, None, timeouts.pool),
        pool_size=settings.console_pool_size,
        max_overflow=0,
    )
    await check_at_head(engine)  # refuse to serve on a schema the code does not know
    # Metric facts and pushes are published after their transaction commits, never before
    # (`hotline.uow`).
    services.sessions = Units(engine, services.publish)
    # Steps of one statement need no transaction (`hotline.ivr.webhooks.voice`'s `alone`): on
    # PostgreSQL a statement is atomic by itself. SQLite takes its write lock at BEGIN, so
    # it keeps the transaction.
    services.alone_sessions = (
        Units(engine.execution_options(isolation_level="AUTOCOMMIT"), services.publish)
        if engine.dialect.name == "postgresql"
        else None
    )
    services.console_sessions = Units(services.console_engine, services.publish)
    # Keys that cannot open the stored text: refuse to start, not a 500 later.
    await check_records_keys(services.console_sessions, box_for(settings))


async def _close(services: Services) -> None:
    # Webhooks past their deadline (answered already) end before their connections close.
    await asyncio.gather(*services.late_webhooks, return_exceptions=True)
    await services.live.close()  # its task loads no snapshot past this point
    for name in ("engine", "console_engine"):
        engine = getattr(services, name, None)  # not made when start-up failed early
        if engine is not None:
            await engine.dispose()
    if services.rest is not None:
        await services.rest.aclose()  # its connections to Twilio


def _routes(app: HotlineApp, settings: Settings) -> None:
    http_errors.install(app)  # the domain's refusals (hotline.errors) as HTTP, in one place
    app.include_router(webhooks.router)
    app.include_router(ringback.router)  # needs no database: the conference's sounds
    app.include_router(fallback.router)  # needs no database: Twilio's fallback URL
    _audio(app, settings)
    app.include_router(lines_api.router)
    app.include_router(care_api.router)
    app.include_router(options_api.router)
    app.include_router(records_api.router)
    app.include_router(cases_api.router)
    app.include_router(flags_api.router)
    app.include_router(conference_api.router)
    app.include_router(metrics_api.router)
    app.include_router(reports_api.router)
    console.install(app, settings)
    _health(app)


def create_served_app(
    settings: Settings | None = None, cfg: HotlineConfig | None = None
) -> FastAPI:
    """The app `hotline serve` runs (its workers build it by this name): `create_app`'s,
    with the process's garbage collector settled once start-up is done (`settle_gc`), and the
    log configured (a worker process starts with none)."""
    settings = settings or Settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings, cfg, settle=True)


def settle_gc() -> None:
    """Move everything alive after start-up (modules, config, compiled statements, the
    router) out of the collector's reach: a full collection then walks only what requests
    made since, instead of the hundreds of thousands of objects the libraries hold (a pause
    of tens of milliseconds, where the routing pass's p99 came from). Only for a serving
    process: frozen objects are never collected, so tests that build many apps do not."""
    gc.collect()
    gc.freeze()


# What a hold segment says before its music (a message, the place in line, the offer or the
# choice): at most about this long; the music is timed from the poll, so it comes on top.
HOLD_SPEECH_SECONDS = 30


def _hold_timing(
    settings: Settings, cfg: HotlineConfig, hold_seconds: int, *, pushed: bool
) -> dict[str, int]:
    """The router's rules that follow the hold's segments: how long a reservation waits for
    the caller (`reservation_timeout`), how long a holding caller may go without a poll before
    they are taken for gone (`stale_after`), and without one and still be offered a line
    (`fresh_after`).

    A caller still holding polls once a segment (its pause plus what is said): a reservation
    whose push failed lasts until their next poll takes it. Polling alone, a reserved line
    waits for that poll, so only a caller who polled within the reservation's time is offered
    one. With pushed reservations the caller is taken out of the hold at once, whatever plays:
    a segment may be as long as the hold music (`hold.music_seconds`, an upper bound of the
    track, played only when it fits before the next announcement, `hold.announce_every_seconds`)
    and the rules follow it."""
    timing = {
        "reservation_timeout": max(settings.reservation_timeout_seconds, 2 * hold_seconds),
    }
    gap = max(hold_seconds, settings.hold_max_segment_seconds)
    if not pushed:
        return {**timing, "stale_after": max(90, gap + 30)}
    if cfg.hold.music is not None:  # music plays only when it fits before an announcement
        music = min(cfg.hold.music_seconds, cfg.hold.announce_every_seconds)
        gap = max(gap, music + HOLD_SPEECH_SECONDS)
    return {**timing, "stale_after": max(90, gap + 60), "fresh_after": gap + 15}


def _poking(
    publish: Callable[[list[object]], None], hub: Hub[Any]
) -> Callable[[list[object]], None]:
    """A committed unit of work may have changed a live call: the console's watchers (if
    any) get a fresh look within the hub's floor."""

    def committed(facts: list[object]) -> None:
        publish(facts)
        hub.poke()

    return committed


def _after_commit(
    publish: Callable[[list[object]], None], pushes: Pushes | None
) -> Callable[[list[object]], None]:
    """What a committed unit of work hands on: metric facts, then requests to Twilio."""

    def committed(facts: list[object]) -> None:
        publish(facts)
        if pushes is not None:
            pushes(facts)

    return committed


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


def _health(app: HotlineApp) -> None:
    services = app.services

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """The database is reachable and migrated to head; the records keys open its text."""
        try:
            await check_at_head(services.engine)
            await check_records_keys(services.console_sessions, box_for(services.settings))
        except Exception as e:  # unreachable database, wrong revision, wrong keys
            # The detail (host, revision) stays in the log; repr: some errors' text is empty.
            log.warning("not ready (%s): %r", _reason(e), e)
            return JSONResponse({"status": "not ready", "reason": _reason(e)}, 503)
        return JSONResponse({"status": "ready"})


def _reason(e: Exception) -> str:
    if isinstance(e, SchemaNotAtHead):
        return "schema not at head"
    return "records keys" if isinstance(e, KeysUnfit) else "database"
