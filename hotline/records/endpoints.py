"""HTTP endpoints of hotline.records: records, the calls that need them, a consenting caller's
history, the period export and the audit log. Linkage cases are in `hotline.cases`.

Handlers only translate HTTP to service calls; the rules are in `service.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from hotline.auth.models import Role
from hotline.common import audit
from hotline.common.audit import AuditFilter
from hotline.common.http import (
    E401,
    E403,
    E404,
    E409,
    E422,
    E500,
    ActorDep,
    BoxDep,
    ListsDep,
    NoEchoRoute,
    PathWord,
    QueryWord,
    errors,
)
from hotline.common.text import Stored
from hotline.deps import MAX_ROW_ID, ConfigDep, NowDep, RowId, SessionDep
from hotline.records import emergency, export, service
from hotline.records.emergency import DraftOut
from hotline.records.http import EscalationsDep, LinkageDep, SavedDep
from hotline.records.schemas import (
    AuditOut,
    CallOut,
    FormOut,
    HistoryOut,
    RecordIn,
    RecordOut,
    RecordPatch,
)
from hotline.services import services_of

# Bodies here are a few kilobytes at most; refuse anything far larger before parsing it.
router = APIRouter(route_class=NoEchoRoute, max_body_size=64 * 1024)


@router.get("/api/records/form", tags=["records"], responses=errors(E401))
async def form(who: ActorDep, lists: ListsDep) -> FormOut:
    """The configured lists of the shared record form (any role)."""
    return FormOut(**lists.model_dump(exclude={"export"}))


@router.post(
    "/api/records",
    status_code=201,
    tags=["records"],
    responses=errors(E401, E403, E404, E409, E422),
)
async def create_record(
    body: RecordIn,
    request: Request,
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    box: BoxDep,
    linkage: LinkageDep,
    saved: SavedDep,
    now: NowDep,
) -> RecordOut:
    """Write the record of a call your organisation took (counsellors). A record that needs
    linkage opens a linkage case. 404: unknown call; 403: another organisation's call; 409: the
    call has a record already (`record_id` names it; change it with PATCH)."""
    return await service.create(
        session, who=who, lists=lists, box=box, linkage=linkage, saved=saved, data=body, now=now
    )


@router.get(
    "/api/records/export",
    tags=["export"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV or JSON, streamed",
            "content": {"text/csv": {}, "application/json": {}},
        },
        **errors(E401, E403, E422),
    },
)
async def export_period(
    request: Request,
    who: ActorDep,
    session: SessionDep,
    cfg: ConfigDep,
    linkage: LinkageDep,
    now: NowDep,
    period: Annotated[str, Query(max_length=48), Stored],
    format: export.Format = "csv",
    table: export.Table = "records",
) -> StreamingResponse:
    """A period's records without free text or caller, one row per record (`table=records`),
    or its counts with small cells coarsened (`table=counts`). Operators only."""
    periods = [p.id for p in cfg.periods] + ["none"]
    await service.start_export(
        session, who=who, periods=periods, period=period, fmt=format, table=table, now=now
    )
    # The one commit outside the session dependency, on purpose: the audit entry is durable
    # before any data leaves, and the stream, which runs after this handler returns, reads in
    # a transaction of its own (SQLite would otherwise wait on this one's write lock). The
    # dependency's own commit then finds nothing left to do.
    await session.commit()
    chunks = export.stream(
        services_of(request.app).console_sessions,
        linkage=linkage,
        period_id=period,
        fmt=format,
        table=table,
        min_cell=cfg.records.export.min_cell,
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    name = f"records-{period}-{table}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks, media_type=media, headers=headers)


@router.get("/api/records/draft", tags=["records"], responses=errors(E401, E403, E404, E422))
async def record_draft(
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    escalations: EscalationsDep,
    call_sid: Annotated[str, Query(min_length=1, max_length=64), Stored],
) -> DraftOut:
    """The record form of a call, pre-filled: a call escalated to the emergency services
    starts at the most serious level (緊急), with its escalations (who, when, to whom)."""
    return await emergency.draft(
        session, who=who, lists=lists, escalations=escalations, call_sid=call_sid
    )


@router.get("/api/records/{record_id}", tags=["records"], responses=errors(E401, E403, E404, E500))
async def read_record(
    record_id: RowId,
    who: ActorDep,
    session: SessionDep,
    box: BoxDep,
    linkage: LinkageDep,
    escalations: EscalationsDep,
    now: NowDep,
) -> RecordOut:
    """A record with its summary: counsellors of its organisation, or coordinators when the
    record is behind a linkage case; with the call's emergency escalations. Audited."""
    record = await service.read(
        session, who=who, box=box, linkage=linkage, record_id=record_id, now=now
    )
    call_id = await service.call_id_of(session, record.id)
    record.emergencies = await escalations.of_call(session, call_id)
    return record


@router.patch(
    "/api/records/{record_id}", tags=["records"], responses=errors(E401, E403, E404, E422, E500)
)
async def update_record(
    record_id: RowId,
    body: RecordPatch,
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    box: BoxDep,
    linkage: LinkageDep,
    now: NowDep,
) -> RecordOut:
    """Change the fields given (counsellors of the record's organisation). Audited, with the
    names of the fields changed."""
    return await service.update(
        session,
        who=who,
        lists=lists,
        box=box,
        linkage=linkage,
        record_id=record_id,
        data=body,
        now=now,
    )


@router.get("/api/calls", tags=["records"], responses=errors(E401, E403, E422))
async def recent_calls(
    who: ActorDep,
    session: SessionDep,
    now: NowDep,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 72,
    without_record: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CallOut]:
    """Your organisation's connected calls of the last `hours`, newest first, each with its
    record's id (null: not written yet). Counsellors."""
    return await service.recent_calls(
        session, who=who, hours=hours, without_record=without_record, limit=limit, now=now
    )


@router.get("/api/calls/{call_sid}/history", tags=["records"], responses=errors(E401, E403, E404))
async def caller_history(
    call_sid: PathWord, who: ActorDep, session: SessionDep, now: NowDep
) -> HistoryOut:
    """How many earlier records your organisation has of this call's caller, and their
    dates; only if this call's record says the caller consented (403 otherwise). Audited."""
    return await service.history(session, who=who, call_sid=call_sid, now=now)


@router.get("/api/audit", tags=["audit"], responses=errors(E401, E403, E422))
async def audit_log(
    who: ActorDep,
    session: SessionDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    key_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    entity: Annotated[str | None, Query(max_length=16), Stored] = None,
    entity_id: QueryWord = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The audit log, newest first (admins). Page back with `before_id`."""
    who.require(Role.ADMIN)
    f = AuditFilter(since, until, key_id, entity, entity_id, limit, before_id)
    rows = await audit.entries(session, f)
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
