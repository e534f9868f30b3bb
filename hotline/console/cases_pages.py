"""Coordinator pages: linkage cases in one place, each with its record and its actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.console.forms import actor, field_errors, one
from hotline.console.web import UserDep, form_of, page, require
from hotline.deps import ConfigDep, NowDep, SessionDep, SettingsDep
from hotline.records import cases
from hotline.records.crypto import box_for
from hotline.records.schemas import ActionIn, CasePatch
from hotline.records.store import CaseFilter

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/cases")
async def list_cases(
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    now: NowDep,
    status: str = "",
    older_than_days: int = 0,
) -> Response:
    """Filter by status and by age (opened at least N days ago)."""
    require(user, Role.COORDINATOR)
    statuses = cfg.records.case_statuses
    f = CaseFilter(status=status if status in statuses else None, limit=500)
    rows = await cases.list_cases(
        session, who=actor(request, user), lists=cfg.records, f=f, now=now
    )
    if older_than_days > 0:
        cutoff = now - dt.timedelta(days=older_than_days)
        rows = [r for r in rows if r.created_at <= cutoff]
    return page(
        request,
        "cases.html",
        user,
        cases=rows,
        statuses=statuses,
        status=status,
        older_than_days=older_than_days,
    )


async def _show(
    request: Request,
    user: Any,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
    case_id: int,
    *,
    errors: dict[str, str],
    flash: str | None = None,
    status_code: int = 200,
) -> Response:
    out = await cases.read(
        session,
        who=actor(request, user),
        lists=cfg.records,
        box=box_for(settings),
        case_id=case_id,
        now=now,
    )
    response = page(
        request,
        "case.html",
        user,
        c=out,
        lists=cfg.records,
        errors=errors,
        flash=flash,
        today=now.date().isoformat(),
    )
    response.status_code = status_code
    return response


@router.get("/cases/{case_id}")
async def show_case(
    case_id: int,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COORDINATOR)
    flash = "案件を更新しました。" if request.query_params.get("saved") else None
    return await _show(request, user, session, cfg, settings, now, case_id, errors={}, flash=flash)


@router.post("/cases/{case_id}")
async def update_case(
    case_id: int,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COORDINATOR)
    form = await form_of(request)
    try:
        data = CasePatch(
            status=one(form, "status"),
            destination_type=one(form, "destination_type"),
            destination_name=one(form, "destination_name"),
            notes=one(form, "notes"),
        )
        await cases.update(
            session,
            who=actor(request, user),
            lists=cfg.records,
            box=box_for(settings),
            case_id=case_id,
            data=data,
            now=now,
        )
    except (ValidationError, HTTPException) as e:
        if isinstance(e, HTTPException) and e.status_code != 422:
            raise
        return await _show(
            request,
            user,
            session,
            cfg,
            settings,
            now,
            case_id,
            errors=field_errors(e),
            status_code=422,
        )
    return RedirectResponse(f"/console/cases/{case_id}?saved=1", 303)


@router.post("/cases/{case_id}/actions")
async def add_action(
    case_id: int,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COORDINATOR)
    form = await form_of(request)
    try:
        data = ActionIn(
            kind=one(form, "kind") or "", on_date=one(form, "on_date") or "", note=one(form, "note")
        )
        await cases.add_action(
            session,
            who=actor(request, user),
            lists=cfg.records,
            box=box_for(settings),
            case_id=case_id,
            data=data,
            now=now,
        )
    except (ValidationError, HTTPException) as e:
        if isinstance(e, HTTPException) and e.status_code != 422:
            raise
        return await _show(
            request,
            user,
            session,
            cfg,
            settings,
            now,
            case_id,
            errors=field_errors(e),
            status_code=422,
        )
    return RedirectResponse(f"/console/cases/{case_id}?saved=1", 303)
