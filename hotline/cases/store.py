"""SQL of linkage cases and their actions, with the record and call behind each, and the
columns sealed with the records' box. Only flushes: the request's session dependency (or the
command's transaction) commits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call
from hotline.cases.models import LinkageAction, LinkageCase
from hotline.records.linkage import Sealed
from hotline.records.models import ConsultationRecord

SEALED: tuple[Sealed, ...] = ((LinkageCase, "notes_enc"), (LinkageAction, "note_enc"))


async def add(session: AsyncSession, row: LinkageCase | LinkageAction) -> None:
    session.add(row)
    await session.flush()


async def case_of_record(session: AsyncSession, record_id: int) -> LinkageCase | None:
    stmt = select(LinkageCase).where(LinkageCase.record_id == record_id)
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class CaseRow:
    case: LinkageCase
    record: ConsultationRecord
    call: Call


def _cases() -> Select[LinkageCase, ConsultationRecord, Call]:
    return (
        select(LinkageCase, ConsultationRecord, Call)
        .join(ConsultationRecord, ConsultationRecord.id == LinkageCase.record_id)
        .join(Call, Call.id == LinkageCase.call_id)
    )


async def get_case(session: AsyncSession, case_id: int, *, lock: bool = False) -> CaseRow | None:
    stmt = _cases().where(LinkageCase.id == case_id)
    if lock:  # two coordinators updating one case: the second waits, then sees the first
        stmt = stmt.with_for_update(of=LinkageCase)
    row = (await session.execute(stmt)).first()
    return None if row is None else CaseRow(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    destination_type: str | None = None
    org_id: str | None = None
    period_id: str | None = None
    since: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


async def list_cases(session: AsyncSession, f: CaseFilter) -> list[CaseRow]:
    stmt = _cases()
    if f.status is not None:
        stmt = stmt.where(LinkageCase.status == f.status)
    if f.destination_type is not None:
        stmt = stmt.where(LinkageCase.destination_type == f.destination_type)
    if f.org_id is not None:
        stmt = stmt.where(ConsultationRecord.org_id == f.org_id)
    if f.period_id is not None:
        stmt = stmt.where(Call.period_id == f.period_id)
    if f.since is not None:
        stmt = stmt.where(LinkageCase.updated_at >= f.since)
    stmt = stmt.order_by(LinkageCase.updated_at.desc(), LinkageCase.id.desc())
    rows = await session.execute(stmt.limit(f.limit).offset(f.offset))
    return [CaseRow(c, r, call) for c, r, call in rows]


async def actions_of(session: AsyncSession, case_id: int) -> list[LinkageAction]:
    stmt = (
        select(LinkageAction)
        .where(LinkageAction.case_id == case_id)
        .order_by(LinkageAction.on_date, LinkageAction.id)
    )
    return list((await session.execute(stmt)).scalars())


async def statuses(session: AsyncSession, period_id: str) -> Counter[str]:
    """How many cases of the period's calls are in each status."""
    stmt = (
        select(LinkageCase.status, func.count())
        .join(Call, Call.id == LinkageCase.call_id)
        .where(Call.period_id == period_id)
        .group_by(LinkageCase.status)
    )
    return Counter({status: n for status, n in await session.execute(stmt)})
