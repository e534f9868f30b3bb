"""The app's collaborators, typed, in one object: what `hotline.app.create_app` (the
composition root) builds and hands explicitly to the voice steps, the pushes, the ticker,
upkeep and the HTTP dependencies (`hotline.deps.ServicesDep`).

Nothing here runs at import but the dataclass: the types are for the reader and mypy (the
import contracts leave type-only imports out), so any module may take a `Services` without
importing what it holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotline.uow import Publish, UnitOfWork, Units

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncEngine

    from hotline.auth.ratelimit import RateLimiter
    from hotline.calls.lifecycle import Limits
    from hotline.common.hooks import RecordSaved
    from hotline.common.hub import Hub
    from hotline.conference.control import ConferenceControl
    from hotline.config import HotlineConfig
    from hotline.console.live import Snapshot
    from hotline.ivr.hold_load import HoldLoad
    from hotline.ivr.pushes import Pushes
    from hotline.ivr.rest import TwilioRest
    from hotline.ivr.spool import Spool
    from hotline.ivr.twiml import Renderer
    from hotline.metrics.collector import StoredTotals
    from hotline.metrics.prom import Metrics
    from hotline.records.emergency import Escalations
    from hotline.records.linkage import Linkage
    from hotline.routing.store import Router
    from hotline.settings import Settings


@dataclass(eq=False, repr=False)
class Services:
    """Everything a step needs besides its own input. The engines and session factories are
    filled in by the app's lifespan (they need the event loop); the metrics by
    `hotline.metrics.endpoints.install`."""

    settings: Settings
    cfg: HotlineConfig
    clock: Callable[[], dt.datetime]
    rest: TwilioRest | None  # Twilio's REST API, when the account is set
    hold_load: HoldLoad
    renderer: Renderer
    limits: Limits
    router: Router
    spool: Spool
    login_limiter: RateLimiter
    linkage: Linkage  # records reach linkage cases through it, never by import
    record_saved: RecordSaved  # a saved record ends its line's wrap-up
    # A call's emergency escalations, which records show (the conference room's, by hook).
    escalations: Escalations
    # Requests to Twilio that committed transitions ask for (a callback's legs, a freed
    # line's dequeue); None without a REST account (then no callback is offered).
    pushes: Pushes | None = None
    # The conference room's commands to Twilio (hotline.conference.control), where callers and
    # counsellors meet in a conference of the call's own (`limits.conference`); else None.
    conference: ConferenceControl | None = None
    webhook_errors: int = 0  # voice webhooks answered with the fallback
    # Voice webhooks past their deadline, answered already and ending (`hotline.ivr.guard`):
    # awaited before the engines close.
    late_webhooks: set[asyncio.Task[None]] = field(default_factory=set)
    # Filled in later (see the class's docstring).
    metrics: Metrics = field(init=False)
    metrics_totals: StoredTotals = field(init=False)
    publish: Publish = field(init=False)  # what a committed unit of work hands on
    engine: AsyncEngine = field(init=False)
    console_engine: AsyncEngine = field(init=False)
    sessions: Units = field(init=False)  # the voice pool (no ping at checkout)
    # Steps of one statement on PostgreSQL, without a transaction; None elsewhere.
    alone_sessions: Units | None = field(init=False)
    console_sessions: Units = field(init=False)  # the console's and the API's own pool
    # The console's live calls, one snapshot per process for every browser watching
    # (`hotline.console.live`); poked by every committed unit of work.
    live: Hub[Snapshot] = field(init=False)

    def unit(self) -> UnitOfWork:
        """A unit of work on the voice pool (webhooks, the ticker, upkeep, pushes)."""
        return self.sessions.unit()

    def console_unit(self) -> UnitOfWork:
        """A unit of work on the console's and the API's pool."""
        return self.console_sessions.unit()


def services_of(app: Any) -> Services:
    """The services the composition root wired into this app (`hotline.app.create_app`)."""
    services: Services = app.services
    return services
