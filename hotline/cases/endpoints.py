"""HTTP endpoints of linkage cases (つなぎ支援): coordinators list, filter, read and update
cases across organisations and log actions. Every call is audited (see `service.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from hotline.cases import service as cases
from hotline.cases.schemas import ActionIn, CaseOut, CasePatch, CaseSummary
from hotline.cases.store import CaseFilter
from hotline.common.http import (
    E401,
    E403,
    E404,
    E422,
    E500,
    ActorDep,
    BoxDep,
    ListsDep,
    NoEchoRoute,
    QueryWord,
    errors,
)
from hotline.deps import MAX_ROW_ID, NowDep, RowId, SessionDep

router = APIRouter(
    prefix="/api/cases", tags=["cases"], route_class=NoEchoRoute, max_body_size=64 * 1024
)


@router.get("", responses=errors(E401, E403, E422))
async def list_cases(
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    now: NowDep,
    status: QueryWord = None,
    destination_type: QueryWord = None,
    org: QueryWord = None,
    period: QueryWord = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    # Bounded: an offset past 64 bits overflowed in the driver (a 500).
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> list[CaseSummary]:
    """Cases, most recently updated first, filtered by status, destination type, the
    recording organisation, period, or updated since. Without notes. Coordinators."""
    f = CaseFilter(status, destination_type, org, period, since, limit, offset)
    return await cases.list_cases(session, who=who, lists=lists, f=f, now=now)


@router.get("/{case_id}", responses=errors(E401, E403, E404, E500))
async def read_case(
    case_id: RowId, who: ActorDep, session: SessionDep, lists: ListsDep, box: BoxDep, now: NowDep
) -> CaseOut:
    """A case with its notes and actions. Coordinators; the record behind it is at
    `GET /api/records/{record_id}`."""
    return await cases.read(session, who=who, lists=lists, box=box, case_id=case_id, now=now)


@router.patch("/{case_id}", responses=errors(E401, E403, E404, E422, E500))
async def update_case(
    case_id: RowId,
    body: CasePatch,
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    box: BoxDep,
    now: NowDep,
) -> CaseOut:
    """Change a case's status, destination or notes (the fields given). Coordinators."""
    return await cases.update(
        session, who=who, lists=lists, box=box, case_id=case_id, data=body, now=now
    )


@router.post("/{case_id}/actions", status_code=201, responses=errors(E401, E403, E404, E422, E500))
async def add_action(
    case_id: RowId,
    body: ActionIn,
    who: ActorDep,
    session: SessionDep,
    lists: ListsDep,
    box: BoxDep,
    now: NowDep,
) -> CaseOut:
    """Log an action taken on a case (contact, 面談, 同行支援 ...) with its date. Coordinators."""
    return await cases.add_action(
        session, who=who, lists=lists, box=box, case_id=case_id, data=body, now=now
    )
