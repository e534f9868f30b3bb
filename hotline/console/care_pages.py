"""Counsellors looked after, in the console (docs/counsellor-care.md): a counsellor marks their
line's call hard (on the lines page; the record form has the same box); coordinators see the
debrief requests with their counts (振り返り), take them and close them."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from starlette.responses import Response

from hotline.auth.models import Role
from hotline.common.http import PathWord
from hotline.config import TOKYO
from hotline.console.forms import CtxDep
from hotline.console.web import form_of, page, require
from hotline.deps import RowId
from hotline.lines import care
from hotline.lines.models import CARE_BREAKS, Line, Presence
from hotline.services import services_of

router = APIRouter(prefix="/console", include_in_schema=False)
SOURCE_LABELS = {"counsellor": "相談員が指定", "risk_level": "記録の深刻度"}
STATE_LABELS = {"open": "未対応", "acknowledged": "対応中", "closed": "終了"}
FLASH = {
    "acknowledge": "振り返りの依頼を引き受けました。",
    "close": "振り返りの依頼を終了にしました。",
}


@router.post("/lines/{line_id}/hard-call")
async def hard_call(line_id: PathWord, c: CtxDep) -> Response:
    """The counsellor's "つらい通話だった": a break after the wrap-up, a debrief request."""
    require(c.user, Role.COUNSELLOR)
    await form_of(c.request)  # the CSRF check
    await care.mark_line_call(
        c.session,
        services_of(c.request.app).router,
        c.who,
        line_id=line_id,
        org_id=c.user.org_id,
        now=c.now,
    )
    return RedirectResponse("/console/lines?done=hard", 303)


@router.get("/debriefs")
async def debriefs(c: CtxDep) -> Response:
    """Open and taken debrief requests, and the counts of the day per organisation."""
    require(c.user, Role.COORDINATOR)
    rows = await care.debriefs(c.session, c.who)
    today = c.now.astimezone(TOKYO).replace(hour=0, minute=0, second=0, microsecond=0)
    hard = await care.hard_calls_since(c.session, today.astimezone(dt.UTC))
    stmt = (
        select(Line.org_id, func.count())
        .where(Line.status == Presence.AWAY, Line.away_reason.in_(list(CARE_BREAKS)))
        .group_by(Line.org_id)
    )
    resting = {org: int(n) for org, n in (await c.session.execute(stmt)).all()}
    opened = await care.open_by_org(c.session)
    counts = [
        (o.id, hard.get(o.id, 0), resting.get(o.id, 0), opened.get(o.id, 0))
        for o in c.cfg.organisations
        if hard.get(o.id) or resting.get(o.id) or opened.get(o.id)
    ]
    done = c.request.query_params.get("done", "")
    return page(
        c.request,
        "debriefs.html",
        c.user,
        debriefs=rows,
        counts=counts,
        sources=SOURCE_LABELS,
        states=STATE_LABELS,
        flash=FLASH.get(done),
    )


@router.post("/debriefs/{debrief_id}")
async def act(debrief_id: RowId, c: CtxDep) -> Response:
    require(c.user, Role.COORDINATOR)
    form = await form_of(c.request)
    action = str(form.get("action", ""))
    await care.handle(
        c.session, c.who, debrief_id=debrief_id, action=action, by=c.user.name, now=c.now
    )
    return RedirectResponse(f"/console/debriefs?done={action}", 303)
