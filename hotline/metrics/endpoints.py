"""HTTP endpoints of hotline.metrics: /metrics for Prometheus, and the period reports.

/metrics needs no key: Prometheus scrapes it, and it carries only counts by period, option,
entry number and organisation, never anything about a caller. Keep it off the public
internet all the same (bind the scrape path to the internal network at the proxy).
The reports need an API key of any role: they are aggregates, which counsellors, operators,
coordinators and admins may all see (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from hotline.auth.deps import PrincipalDep
from hotline.deps import ConfigDep, NowDep, SessionDep
from hotline.errors import NotFound
from hotline.metrics import chart, labels, report
from hotline.metrics.collector import StoredTotals
from hotline.metrics.middleware import MetricsMiddleware
from hotline.metrics.prom import Metrics

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or revoked API key"},
    404: {"description": "unknown period; the answer lists the known ones"},
}


def install(app: FastAPI) -> None:
    """Give the app its own registry, the stored-totals collector and the latency middleware.

    The stored totals are rendered apart from the registry (`StoredTotals.exposition`), so
    that their text is cached between database reads.
    """
    metrics = Metrics(app.state.cfg)
    totals = StoredTotals(app.state.cfg, app.state.router)
    metrics.routes([r.path for r in app.routes if getattr(r, "path", "").startswith("/voice/")])
    app.state.metrics, app.state.metrics_totals = metrics, totals
    app.add_middleware(MetricsMiddleware, metrics=metrics)


@router.get("/metrics", tags=["metrics"], response_class=Response)
async def metrics(request: Request, now: NowDep) -> Response:
    """Prometheus exposition format. Unauthenticated: aggregates only, no caller data."""
    state = request.app.state
    state.metrics_totals.webhook_errors = state.webhook_errors
    await state.metrics_totals.refresh(state.sessions, now)
    body = generate_latest(state.metrics.registry) + state.metrics_totals.exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/api/reports/periods", tags=["reports"], responses=ERRORS)
async def list_periods(who: PrincipalDep, cfg: ConfigDep) -> list[dict[str, Any]]:
    """Every configured period, and `none` for calls outside every period."""
    return [
        {"id": p.id, "name": p.name, "start": p.start, "end": p.end, "menu": p.menu}
        for p in labels.periods(cfg)
    ]


async def _report(
    request: Request, session: SessionDep, cfg: ConfigDep, period_id: str
) -> dict[str, Any]:
    try:
        return await report.build(session, cfg, period_id, sessions=request.app.state.sessions)
    except report.UnknownPeriod as e:
        raise NotFound(str(e), known_periods=e.known) from None


@router.get("/api/reports/periods/{period_id}", tags=["reports"], responses=ERRORS)
async def period_report(
    period_id: str, request: Request, who: PrincipalDep, session: SessionDep, cfg: ConfigDep
) -> dict[str, Any]:
    """The published table of a period, computed from the stored calls (docs/metrics.md)."""
    return await _report(request, session, cfg, period_id)


@router.get(
    "/api/reports/periods/{period_id}/chart.png",
    tags=["reports"],
    responses={**ERRORS, 200: {"content": {"image/png": {}}}},
    response_class=Response,
)
async def period_chart(
    period_id: str, request: Request, who: PrincipalDep, session: SessionDep, cfg: ConfigDep
) -> Response:
    """Answer rate per option, and calls and connected per day, as a PNG."""
    data = await _report(request, session, cfg, period_id)
    # matplotlib works for a few hundred milliseconds: keep the event loop free for calls.
    return Response(await asyncio.to_thread(chart.png, data), media_type="image/png")
