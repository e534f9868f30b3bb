"""Linkage cases (つなぎ支援): a record that needs linkage opens one; coordinators list, read
and update them across organisations, and log the actions taken (contact, 面談, 同行支援) with
their dates. Every access is audited in the records' audit log.

`LINKAGE` is what records ask of cases (`hotline.records.linkage`): `create_app` and the
`hotline` command hand it to them, since records do not import this package."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import Role
from hotline.cases import store
from hotline.cases.models import LinkageAction, LinkageCase
from hotline.cases.schemas import ActionIn, ActionOut, CaseOut, CasePatch, CaseSummary
from hotline.cases.store import CaseFilter, CaseRow
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.common.crypto import Box
from hotline.config import Records as Lists
from hotline.errors import NotFound, check_one
from hotline.records.linkage import CaseRef, Sealed
from hotline.records.models import ConsultationRecord


async def of_record(session: AsyncSession, record_id: int) -> LinkageCase | None:
    return await store.case_of_record(session, record_id)


async def open_for(
    session: AsyncSession, *, who: Actor, record: ConsultationRecord, now: dt.datetime
) -> LinkageCase:
    """Open the case of a record that needs linkage (in the record's transaction)."""
    case = LinkageCase(
        record_id=record.id,
        call_id=record.call_id,
        status="open",
        created_at=now,
        updated_at=now,
    )
    await store.add(session, case)
    await audit.write(
        session,
        who,
        action="case.create",
        entity="case",
        entity_id=case.id,
        now=now,
        record_id=record.id,
    )
    return case


def _check_filter(lists: Lists, f: CaseFilter) -> None:
    check_one("status", f.status, list(lists.case_statuses))
    check_one("destination_type", f.destination_type, lists.destination_types)


async def list_cases(
    session: AsyncSession, *, who: Actor, lists: Lists, f: CaseFilter, now: dt.datetime
) -> list[CaseSummary]:
    who.require(Role.COORDINATOR)
    _check_filter(lists, f)
    rows = await store.list_cases(session, f)
    filters = {k: v for k, v in _filters(f).items() if v is not None}
    await audit.write(
        session,
        who,
        action="case.list",
        entity="case",
        entity_id=None,
        now=now,
        count=len(rows),
        filters=filters,
    )
    return [summary(lists, r) for r in rows]


def _filters(f: CaseFilter) -> dict[str, object]:
    return {
        "status": f.status,
        "destination_type": f.destination_type,
        "org_id": f.org_id,
        "period_id": f.period_id,
        "since": f.since.isoformat() if f.since else None,
    }


async def _case(session: AsyncSession, who: Actor, case_id: int, *, lock: bool) -> CaseRow:
    who.require(Role.COORDINATOR)
    row = await store.get_case(session, case_id, lock=lock)
    if row is None:
        raise NotFound("unknown case")
    return row


async def read(
    session: AsyncSession, *, who: Actor, lists: Lists, box: Box, case_id: int, now: dt.datetime
) -> CaseOut:
    row = await _case(session, who, case_id, lock=False)
    await audit.write(session, who, action="case.read", entity="case", entity_id=case_id, now=now)
    return await full(session, lists, box, row)


async def update(
    session: AsyncSession,
    *,
    who: Actor,
    lists: Lists,
    box: Box,
    case_id: int,
    data: CasePatch,
    now: dt.datetime,
) -> CaseOut:
    check_one("status", data.status, list(lists.case_statuses))
    check_one("destination_type", data.destination_type, lists.destination_types)
    row = await _case(session, who, case_id, lock=True)
    given = data.model_fields_set
    if "status" in given and data.status is not None:  # a case always has a status
        row.case.status = data.status
    for field in given & {"destination_type", "destination_name"}:
        setattr(row.case, field, getattr(data, field))
    if "notes" in given:
        row.case.notes_enc = box.seal(data.notes)
    row.case.updated_at = now
    await session.flush()
    await audit.write(
        session,
        who,
        action="case.update",
        entity="case",
        entity_id=case_id,
        now=now,
        fields=sorted(given),
        status=row.case.status,
    )
    return await full(session, lists, box, row)


async def add_action(
    session: AsyncSession,
    *,
    who: Actor,
    lists: Lists,
    box: Box,
    case_id: int,
    data: ActionIn,
    now: dt.datetime,
) -> CaseOut:
    check_one("kind", data.kind, lists.action_kinds)
    row = await _case(session, who, case_id, lock=True)
    action = LinkageAction(
        case_id=case_id,
        kind=data.kind,
        on_date=data.on_date,
        note_enc=box.seal(data.note),
        created_at=now,
        author_key_id=who.key_id,
        author_user_id=who.user_id,
    )
    await store.add(session, action)
    row.case.updated_at = now
    await session.flush()
    await audit.write(
        session,
        who,
        action="case.action",
        entity="case",
        entity_id=case_id,
        now=now,
        action_id=action.id,
        kind=data.kind,
    )
    return await full(session, lists, box, row)


def summary(lists: Lists, row: CaseRow) -> CaseSummary:
    case = row.case
    return CaseSummary(
        id=case.id,
        record_id=case.record_id,
        call_sid=row.call.call_sid,
        org_id=row.record.org_id,
        period_id=row.call.period_id,
        option_id=row.call.option_id,
        seriousness=row.record.seriousness,
        status=case.status,
        # A status removed from config since keeps showing its id rather than failing.
        status_label=lists.case_statuses.get(case.status, case.status),
        destination_type=case.destination_type,
        destination_name=case.destination_name,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


async def full(session: AsyncSession, lists: Lists, box: Box, row: CaseRow) -> CaseOut:
    actions = [
        ActionOut(
            id=a.id,
            kind=a.kind,
            on_date=a.on_date,
            note=box.open(a.note_enc),
            created_at=a.created_at,
        )
        for a in await store.actions_of(session, row.case.id)
    ]
    return CaseOut(
        **summary(lists, row).model_dump(), notes=box.open(row.case.notes_enc), actions=actions
    )


class Linkage:
    """Linkage cases as records see them (`hotline.records.linkage.Linkage`)."""

    sealed: tuple[Sealed, ...] = store.SEALED

    async def of_record(self, session: AsyncSession, record_id: int) -> CaseRef | None:
        case = await of_record(session, record_id)
        return None if case is None else CaseRef(case.id, case.status)

    async def open_for(
        self, session: AsyncSession, *, who: Actor, record: ConsultationRecord, now: dt.datetime
    ) -> CaseRef:
        case = await open_for(session, who=who, record=record, now=now)
        return CaseRef(case.id, case.status)

    async def statuses(self, session: AsyncSession, period_id: str) -> Counter[str]:
        return await store.statuses(session, period_id)


LINKAGE = Linkage()
