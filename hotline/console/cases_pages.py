"""Coordinator pages: linkage cases in one place, each with its record and its actions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.cases import service as cases
from hotline.cases.schemas import ActionIn, CasePatch
from hotline.cases.store import CaseFilter
from hotline.config import TOKYO
from hotline.console.forms import Ctx, CtxDep, field_errors, one
from hotline.console.web import form_of, page, require
from hotline.deps import RowId
from hotline.errors import HotlineError

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/cases")
async def list_cases(
    c: CtxDep, status: str = "", older_than_days: Annotated[int, Query(ge=0, le=3650)] = 0
) -> Response:
    """Filter by status and by age (opened at least N days ago)."""
    require(c.user, Role.COORDINATOR)
    statuses = c.lists.case_statuses
    f = CaseFilter(status=status if status in statuses else None, limit=500)
    rows = await cases.list_cases(c.session, who=c.who, lists=c.lists, f=f, now=c.now)
    if older_than_days > 0:
        cutoff = c.now - dt.timedelta(days=older_than_days)
        rows = [r for r in rows if r.created_at <= cutoff]
    return page(
        c.request,
        "cases.html",
        c.user,
        cases=rows,
        statuses=statuses,
        status=status,
        older_than_days=older_than_days,
    )


async def _show(
    c: Ctx, case_id: int, *, errors: dict[str, str] | None = None, flash: str | None = None
) -> Response:
    out = await cases.read(
        c.session, who=c.who, lists=c.lists, box=c.box, case_id=case_id, now=c.now
    )
    response = page(
        c.request,
        "case.html",
        c.user,
        c=out,
        lists=c.lists,
        errors=errors or {},
        flash=flash,
        today=c.now.astimezone(TOKYO).date().isoformat(),
    )
    response.status_code = 422 if errors else 200
    return response


@router.get("/cases/{case_id}")
async def show_case(case_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COORDINATOR)
    saved = c.request.query_params.get("saved")
    return await _show(c, case_id, flash="案件を更新しました。" if saved else None)


@router.post("/cases/{case_id}")
async def update_case(case_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COORDINATOR)
    form = await form_of(c.request)
    try:
        data = CasePatch(
            **{k: one(form, k) for k in ("status", "destination_type", "destination_name", "notes")}
        )
        await cases.update(
            c.session, who=c.who, lists=c.lists, box=c.box, case_id=case_id, data=data, now=c.now
        )
    except (ValidationError, HotlineError) as e:
        return await _show(c, case_id, errors=field_errors(e))
    return RedirectResponse(f"/console/cases/{case_id}?saved=1", 303)


@router.post("/cases/{case_id}/actions")
async def add_action(case_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COORDINATOR)
    form = await form_of(c.request)
    try:
        data = ActionIn.model_validate(
            {
                "kind": one(form, "kind") or "",
                "on_date": one(form, "on_date") or "",
                "note": one(form, "note"),
            }
        )
        await cases.add_action(
            c.session, who=c.who, lists=c.lists, box=c.box, case_id=case_id, data=data, now=c.now
        )
    except (ValidationError, HotlineError) as e:
        return await _show(c, case_id, errors=field_errors(e))
    return RedirectResponse(f"/console/cases/{case_id}?saved=1", 303)
