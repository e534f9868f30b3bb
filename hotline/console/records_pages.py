"""Counsellor pages: the organisation's recent calls, and the shared record form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.console.forms import Ctx, CtxDep, field_errors, many, one
from hotline.console.web import form_of, page, require
from hotline.deps import RowId
from hotline.errors import Conflict, HotlineError
from hotline.records import service
from hotline.records.http import linkage_of, saved_of
from hotline.records.schemas import RecordIn, RecordPatch

router = APIRouter(prefix="/console", include_in_schema=False)
SAVED, EXISTS = "記録を保存しました。", "この電話の記録はすでにあります。"


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


def _hard_levels(c: Ctx) -> list[str]:
    """The risk levels that mark a call hard for the counsellor's organisation."""
    org = next((o for o in c.cfg.organisations if o.id == c.user.org_id), None)
    return c.cfg.care_of(org).hard_seriousness if org else c.cfg.care.hard_seriousness


@router.get("/calls")
async def calls(c: CtxDep) -> Response:
    require(c.user, Role.COUNSELLOR)
    rows = await service.recent_calls(
        c.session, who=c.who, hours=24 * 7, without_record=False, limit=200, now=c.now
    )
    names = {o.id: o.name for o in c.cfg.options}
    missing = sum(1 for r in rows if r.record_id is None)
    return page(c.request, "calls.html", c.user, calls=rows, names=names, missing=missing)


def _form(
    c: Ctx,
    action: str,
    values: dict[str, Any],
    *,
    title: str = "相談記録",
    errors: dict[str, str] | None = None,
    flash: str | None = None,
) -> Response:
    response = page(
        c.request,
        "record_form.html",
        c.user,
        lists=c.lists,
        hard_levels=_hard_levels(c),
        action=action,
        v=values,
        errors=errors or {},
        title=title,
        flash=flash,
    )
    response.status_code = 422 if errors else 200
    return response


@router.get("/calls/{call_sid}/record")
async def new_record(call_sid: PathWord, c: CtxDep) -> Response:
    require(c.user, Role.COUNSELLOR)
    return _form(c, f"/console/calls/{call_sid}/record", {}, title="相談記録を書く")


@router.post("/calls/{call_sid}/record")
async def create_record(call_sid: PathWord, c: CtxDep) -> Response:
    require(c.user, Role.COUNSELLOR)
    form = await form_of(c.request)
    values = _values(form)
    hard = form.get("hard_call") == "on"  # not kept with the record: a break, a debrief
    try:
        out = await service.create(
            c.session,
            who=c.who,
            lists=c.lists,
            box=c.box,
            linkage=linkage_of(c.request),
            saved=saved_of(c.request),  # the wrap-up ends
            data=RecordIn(call_sid=call_sid, hard_call=hard, **values),
            now=c.now,
        )
    except Conflict as e:
        # Written already (by a colleague, or a second tab): show that record.
        return RedirectResponse(f"/console/records/{e.context.get('record_id')}?exists=1", 303)
    except (ValidationError, HotlineError) as e:
        return _form(
            c,
            f"/console/calls/{call_sid}/record",
            {**values, "hard_call": hard},
            title="相談記録を書く",
            errors=field_errors(e),
        )
    return RedirectResponse(f"/console/records/{out.id}?saved=1", 303)


@router.get("/records/{record_id}")
async def show_record(record_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COUNSELLOR, Role.COORDINATOR)
    out = await service.read(
        c.session,
        who=c.who,
        box=c.box,
        linkage=linkage_of(c.request),
        record_id=record_id,
        now=c.now,
    )
    if c.user.role == Role.COORDINATOR:
        return page(c.request, "record_view.html", c.user, r=out)
    query = c.request.query_params
    flash = SAVED if query.get("saved") else EXISTS if query.get("exists") else None
    return _form(c, f"/console/records/{record_id}", out.model_dump(), flash=flash)


@router.post("/records/{record_id}")
async def update_record(record_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COUNSELLOR)
    values = _values(await form_of(c.request))
    try:
        out = await service.update(
            c.session,
            who=c.who,
            lists=c.lists,
            box=c.box,
            linkage=linkage_of(c.request),
            record_id=record_id,
            data=RecordPatch(**values),
            now=c.now,
        )
    except (ValidationError, HotlineError) as e:
        return _form(c, f"/console/records/{record_id}", values, errors=field_errors(e))
    return RedirectResponse(f"/console/records/{out.id}?saved=1", 303)
