"""HTTP endpoint of hotline.metrics: /metrics for Prometheus.

/metrics carries only counts by period, option, entry number and organisation, never
anything about a caller. With HOTLINE_METRICS_TOKEN set (production requires it) it answers
only `Authorization: Bearer <token>`, as Prometheus sends with `authorization:` in its
scrape config; in development it is open. Keep it off the public internet all the same.
The period reports are in hotline.reports.endpoints.
"""

from __future__ import annotations

import datetime as dt
import hmac

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from hotline.deps import NowDep, ServicesDep
from hotline.errors import Unauthorized
from hotline.metrics.collector import StoredTotals
from hotline.metrics.middleware import MetricsMiddleware
from hotline.metrics.prom import Metrics
from hotline.services import Services

router = APIRouter()


def install(app: FastAPI, services: Services) -> None:
    """Give the app its own registry, the stored-totals collector and the latency middleware.

    The stored totals are rendered apart from the registry (`StoredTotals.exposition`), so
    that their text is cached between database reads.
    """
    metrics = Metrics(services.cfg)
    bound = dt.timedelta(seconds=services.settings.max_talk_seconds)
    totals = StoredTotals(services.cfg, services.router, talk_bound=bound)
    paths = (getattr(r, "path", "") for r in app.routes)  # a Mount or Host may have none
    metrics.routes([p for p in paths if p.startswith("/voice/")])
    services.metrics, services.metrics_totals = metrics, totals
    app.add_middleware(MetricsMiddleware, metrics=metrics)


@router.get("/metrics", tags=["metrics"], response_class=Response)
async def metrics(request: Request, services: ServicesDep, now: NowDep) -> Response:
    """Prometheus exposition format: aggregates only, no caller data."""
    _check_token(request, services.settings.metrics_token)
    totals = services.metrics_totals
    totals.webhook_errors = services.webhook_errors
    # The console's pool, which has no per-statement limit: the tallies' catch-up after a
    # migration or a long outage commits batches of thousands of calls, which the voice pool's
    # command timeout (HOTLINE_DB_COMMAND_TIMEOUT_SECONDS, for webhooks) would cut short, and a
    # scrape never takes a connection a caller's webhook needs.
    await totals.refresh(services.console_sessions, now)
    body = generate_latest(services.metrics.registry) + totals.exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _check_token(request: Request, token: str) -> None:
    if not token:
        return  # development: production refuses to start without a token
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip(), token):
        raise Unauthorized("/metrics needs the scrape token (Authorization: Bearer TOKEN)")
