"""Counsellor pages: the organisation's recent calls, and the shared record form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.console.forms import actor, field_errors, many, one
from hotline.console.web import UserDep, form_of, page, require
from hotline.deps import ConfigDep, NowDep, SessionDep, SettingsDep
from hotline.records import service
from hotline.records.crypto import box_for
from hotline.records.schemas import RecordIn, RecordPatch

router = APIRouter(prefix="/console", include_in_schema=False)


def _values(form: Any) -> dict[str, Any]:
    return {
        "age_group": one(form, "age_group"),
        "gender": one(form, "gender"),
        "categories": many(form, "categories"),
        "support": many(form, "support"),
        "seriousness": one(form, "seriousness"),
        "linkage_needed": form.get("linkage_needed") == "on",
        "consent_history": form.get("consent_history") == "on",
        "summary": one(form, "summary"),
    }


@router.get("/calls")
async def calls(
    request: Request, user: UserDep, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> Response:
    require(user, Role.COUNSELLOR)
    rows = await service.recent_calls(
        session, who=actor(request, user), hours=24 * 7, without_record=False, limit=200, now=now
    )
    names = {o.id: o.name for o in cfg.options}
    missing = sum(1 for r in rows if r.record_id is None)
    return page(request, "calls.html", user, calls=rows, names=names, missing=missing)


def _form(
    request: Request,
    user: Any,
    cfg: ConfigDep,
    *,
    action: str,
    values: dict[str, Any],
    errors: dict[str, str],
    title: str,
    call_sid: str,
    status: int = 200,
) -> Response:
    response = page(
        request,
        "record_form.html",
        user,
        lists=cfg.records,
        action=action,
        v=values,
        errors=errors,
        title=title,
        call_sid=call_sid,
    )
    response.status_code = status
    return response


@router.get("/calls/{call_sid}/record")
async def new_record(call_sid: str, request: Request, user: UserDep, cfg: ConfigDep) -> Response:
    require(user, Role.COUNSELLOR)
    return _form(
        request,
        user,
        cfg,
        action=f"/console/calls/{call_sid}/record",
        values={},
        errors={},
        title="相談記録を書く",
        call_sid=call_sid,
    )


@router.post("/calls/{call_sid}/record")
async def create_record(
    call_sid: str,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COUNSELLOR)
    values = _values(await form_of(request))
    try:
        data = RecordIn(call_sid=call_sid, **values)
        out = await service.create(
            session,
            who=actor(request, user),
            lists=cfg.records,
            box=box_for(settings),
            data=data,
            now=now,
        )
    except (ValidationError, HTTPException) as e:
        if isinstance(e, HTTPException) and e.status_code == 409:
            existing = e.detail.get("record_id") if isinstance(e.detail, dict) else None
            return RedirectResponse(f"/console/records/{existing}?exists=1", 303)
        return _form(
            request,
            user,
            cfg,
            action=f"/console/calls/{call_sid}/record",
            values=values,
            errors=field_errors(e),
            title="相談記録を書く",
            call_sid=call_sid,
            status=422,
        )
    return RedirectResponse(f"/console/records/{out.id}?saved=1", 303)


@router.get("/records/{record_id}")
async def show_record(
    record_id: int,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COUNSELLOR, Role.COORDINATOR)
    out = await service.read(
        session, who=actor(request, user), box=box_for(settings), record_id=record_id, now=now
    )
    flash = (
        "記録を保存しました。"
        if request.query_params.get("saved")
        else "この電話の記録はすでにあります。"
        if request.query_params.get("exists")
        else None
    )
    if user.role == Role.COORDINATOR:
        return page(request, "record_view.html", user, r=out, flash=flash)
    return (
        _form(
            request,
            user,
            cfg,
            action=f"/console/records/{record_id}",
            values=out.model_dump(),
            errors={},
            title="相談記録",
            call_sid=out.call_sid,
        )
        if not flash
        else _with_flash(request, user, cfg, out, record_id, flash)
    )


def _with_flash(
    request: Request, user: Any, cfg: ConfigDep, out: Any, record_id: int, flash: str
) -> Response:
    return page(
        request,
        "record_form.html",
        user,
        lists=cfg.records,
        action=f"/console/records/{record_id}",
        v=out.model_dump(),
        errors={},
        title="相談記録",
        call_sid=out.call_sid,
        flash=flash,
    )


@router.post("/records/{record_id}")
async def update_record(
    record_id: int,
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    require(user, Role.COUNSELLOR)
    values = _values(await form_of(request))
    try:
        data = RecordPatch(**values)
        out = await service.update(
            session,
            who=actor(request, user),
            lists=cfg.records,
            box=box_for(settings),
            record_id=record_id,
            data=data,
            now=now,
        )
    except (ValidationError, HTTPException) as e:
        if isinstance(e, HTTPException) and e.status_code != 422:
            raise
        return _form(
            request,
            user,
            cfg,
            action=f"/console/records/{record_id}",
            values=values,
            errors=field_errors(e),
            title="相談記録",
            call_sid="",
            status=422,
        )
    return RedirectResponse(f"/console/records/{out.id}?saved=1", 303)
