"""HTTP endpoints of hotline.reports: each period's report, as JSON and as a chart.

The reports need an API key of any role: they are aggregates, which counsellors, operators,
coordinators and admins may all see (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from hotline.auth.deps import PrincipalDep
from hotline.common.http import PathWord
from hotline.deps import ConfigDep, SessionDep
from hotline.errors import NotFound
from hotline.reports import chart, labels, report
from hotline.services import services_of

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or revoked API key"},
    404: {"description": "unknown period; the answer lists the known ones"},
}


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
        return await report.build(
            session, cfg, period_id, sessions=services_of(request.app).sessions
        )
    except report.UnknownPeriod as e:
        raise NotFound(str(e), known_periods=e.known) from None


@router.get("/api/reports/periods/{period_id}", tags=["reports"], responses=ERRORS)
async def period_report(
    period_id: PathWord, request: Request, who: PrincipalDep, session: SessionDep, cfg: ConfigDep
) -> dict[str, Any]:
    """The published table of a period, computed from the stored calls (docs/metrics.md)."""
    return await _report(request, session, cfg, period_id)


@router.get(
    "/api/reports/periods/{period_id}/chart.png",
    tags=["reports"],
    responses={
        **ERRORS,
        200: {"content": {"image/png": {}}},
        501: {"description": "charts not installed (the charts extra): how to add them"},
    },
    response_class=Response,
)
async def period_chart(
    period_id: PathWord,
    request: Request,
    who: PrincipalDep,
    session: SessionDep,
    cfg: ConfigDep,
    lang: Literal["ja", "en"] = "ja",
) -> Response:
    """Answer rate per option, and calls and connected per day, as a PNG (labels in `lang`)."""
    chart.require()  # before the report is computed: 501 names the missing extra
    data = await _report(request, session, cfg, period_id)
    # matplotlib works for a few hundred milliseconds: keep the event loop free for calls.
    return Response(await asyncio.to_thread(chart.png, data, lang), media_type="image/png")
