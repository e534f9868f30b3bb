"""Operator pages: the current period at a glance (refreshed every few seconds), and each
period's report with its chart. Aggregates only: no record, no caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.config import TOKYO
from hotline.console import options_pages
from hotline.console.web import UserDep, page, require
from hotline.deps import ConfigDep, NowDep, SessionDep
from hotline.errors import NotFound
from hotline.hours import closures
from hotline.lines.models import SIGNED_IN
from hotline.reports import chart, conference, labels, queries, report
from hotline.reports.definitions import NONE
from hotline.services import services_of
from hotline.simulate import LATEST_DIR
from hotline.simulate import report as sim_report

router = APIRouter(prefix="/console", include_in_schema=False)
OPS = (Role.OPERATOR, Role.ADMIN)
SIMULATIONS = LATEST_DIR  # where `hotline simulate` leaves its latest run


async def _now_figures(
    request: Request, session: SessionDep, cfg: ConfigDep, now: dt.datetime
) -> dict[str, Any]:
    period = cfg.period_at(now)
    data = await report.build(session, cfg, period.id if period else NONE)
    waiting = await queries.queues(session)
    staffed_ids = set(services_of(request.app).router.scheduled_ids(now))
    lines = await queries.lines(session)
    oldest = [q.oldest for q in waiting.values() if q.oldest is not None]
    return {
        "report": data,
        "waiting": sum(q.waiting for q in waiting.values()),
        "callbacks_open": await queries.callbacks_open(session),
        "longest_wait": int((now - min(oldest)).total_seconds()) if oldest else 0,
        # The same figures as /metrics' hotline_lines_staffed and hotline_lines_busy: signed
        # in (ready, or on a call or its wrap-up) within the line's hours, and on a call now.
        "staffed": sum(1 for i, _, s, _ in lines if s in SIGNED_IN and i in staffed_ids),
        "busy": sum(1 for *_, busy in lines if busy),
        "updated": now,
    }


@router.get("/dashboard")
async def dashboard(
    request: Request, user: UserDep, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> Response:
    require(user, *OPS)
    figures = await _now_figures(request, session, cfg, now)
    # The keys of the menu in force now; another period's option appears only while an
    # operator's closure of it stands, so that it can be reopened.
    offered = set(labels.offered_options(cfg, cfg.menu_at(now)))
    options = [
        o
        for o in await closures.states(session, cfg, now)
        if o.id in offered or o.closed_by_operator
    ]
    done = request.query_params.get("done", "")
    return page(
        request, "dashboard.html", user, f=figures, options=options, tokyo=TOKYO,
        flash=options_pages.FLASH.get(done),
    )  # fmt: skip


@router.get("/dashboard/figures")
async def dashboard_figures(
    request: Request, user: UserDep, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> Response:
    """The figures alone, for the page's refresh."""
    require(user, *OPS)
    figures = await _now_figures(request, session, cfg, now)
    return page(request, "_figures.html", user, f=figures)


@router.get("/reports")
async def reports(request: Request, user: UserDep, session: SessionDep, cfg: ConfigDep) -> Response:
    require(user, *OPS)
    rows = await report.build_all(session, cfg)
    return page(request, "reports.html", user, reports=rows, sim=_latest_simulation())


def _latest_simulation() -> dict[str, Any] | None:
    """The figures of the last `hotline simulate` run on this machine, if there is one."""
    try:
        doc = json.loads((SIMULATIONS / "latest.json").read_text(encoding="utf-8"))
        said = sim_report.in_japanese(doc)
        return {
            "period": doc["period_name"],
            "demand": said["demand"],
            "supply": said["supply"],
            "runs": [
                (sim_report.POLICY_JA.get(r["policy"], r["policy"]), r["total"])
                for r in doc["runs"]
            ],
            "chart": (SIMULATIONS / "latest.png").is_file(),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or a file this version cannot read: show nothing


@router.get("/simulation/latest.png")
async def simulation_chart(user: UserDep) -> Response:
    require(user, *OPS)
    try:
        data = await asyncio.to_thread((SIMULATIONS / "latest.png").read_bytes)
    except OSError:
        raise NotFound("no simulation yet") from None
    return Response(data, media_type="image/png")


async def _report(session: SessionDep, cfg: ConfigDep, period_id: str) -> dict[str, Any]:
    try:
        return await report.build(session, cfg, period_id)
    except report.UnknownPeriod:
        raise NotFound("unknown period") from None


@router.get("/reports/{period_id}")
async def one_report(
    period_id: PathWord, request: Request, user: UserDep, session: SessionDep, cfg: ConfigDep
) -> Response:
    require(user, *OPS)
    r = await _report(session, cfg, period_id)
    missing = None if chart.available() else chart.MISSING
    names = conference.TARGET_NAMES
    return page(request, "report.html", user, r=r, chart_missing=missing, target_names=names)


@router.get("/reports/{period_id}/chart.png")
async def report_chart(
    period_id: PathWord, user: UserDep, session: SessionDep, cfg: ConfigDep
) -> Response:
    require(user, *OPS)
    chart.require()  # 501 with the one line; the report page shows it instead of the image
    data = await _report(session, cfg, period_id)
    return Response(await asyncio.to_thread(chart.png, data), media_type="image/png")
