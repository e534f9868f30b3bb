"""Coordinators and operators flag a caller from one of their calls (its 通話ID, the CallSid),
see the flags in force and lift one: the console's side of hotline/flags (audited there)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from hotline.config import TOKYO
from hotline.console.forms import Ctx, CtxDep, actor, field_errors, one
from hotline.console.web import form_of, page, require
from hotline.deps import RowId
from hotline.errors import Conflict, HotlineError, NotFound
from hotline.flags import store
from hotline.flags.endpoints import FLAGGERS

router = APIRouter(prefix="/console", include_in_schema=False)
KIND_LABELS = {
    "repeat": "繰り返しの電話（相談員に伝える）",
    "abusive": "迷惑・悪質（受け付けない）",
}
# The expiries offered, 24 hours to 5 years (store.MIN_HOURS, store.MAX_HOURS).
EXPIRIES = {24: "24時間", 168: "7日", 720: "30日", 2160: "90日", 8760: "1年", 43800: "5年"}
FLASH = {"created": "フラグを付けました。", "lifted": "フラグを解除しました。"}


async def _show(
    c: Ctx, *, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    flash = FLASH.get(c.request.query_params.get("done", ""))
    response = page(
        c.request, "flags.html", c.user, flags=await store.active(c.session, c.now),
        kinds=KIND_LABELS, expiries=EXPIRIES, form=form or {}, errors=errors or {},
        flash=flash, tokyo=TOKYO,
    )  # fmt: skip
    response.status_code = 422 if errors else 200
    return response


@router.get("/flags")
async def list_flags(c: CtxDep) -> Response:
    require(c.user, *FLAGGERS)
    call = c.request.query_params.get("call", "")[:64]
    return await _show(c, form={"call_sid": call})


@router.post("/flags")
async def create_flag(c: CtxDep) -> Response:
    require(c.user, *FLAGGERS)
    posted = await form_of(c.request)
    form = {k: one(posted, k) or "" for k in ("call_sid", "kind", "reason", "hours")}
    hours = int(form["hours"]) if form["hours"].isdigit() else 0
    new = store.NewFlag(form["call_sid"][:64], form["kind"], form["reason"][:200], hours)
    try:
        await store.flag(c.session, new, who=actor(c.request, c.user), now=c.now)
    except NotFound:
        return await _show(c, form=form, errors={"call_sid": "この通話IDの電話は見つかりません。"})
    except Conflict:
        taken = "この相談者には、同じ種類のフラグがすでに付いています。"
        return await _show(c, form=form, errors={"kind": taken})
    except HotlineError as e:
        errors = field_errors(e)
        if "call_sid" in errors:
            errors["call_sid"] = "番号非通知の電話には、フラグを付けられません。"
        return await _show(c, form=form, errors=errors)
    return RedirectResponse("/console/flags?done=created", 303)


@router.post("/flags/{flag_id}/lift")
async def lift_flag(flag_id: RowId, c: CtxDep) -> Response:
    require(c.user, *FLAGGERS)
    await form_of(c.request)
    await store.lift(c.session, flag_id, who=actor(c.request, c.user), now=c.now)
    return RedirectResponse("/console/flags?done=lifted", 303)
