"""Consultation records: write, read and change them, list the calls that need one, and show
a consenting caller's earlier records. Every rule of who may do what lives here.

Who reads a record's free text: the counsellors of the organisation that wrote it, and
coordinators when the record is behind a linkage case. Operators get aggregates and
pseudonymous exports only. Admins manage keys and configuration and read the audit log, but
never the free text: least privilege, since nothing in their work needs it.

Linkage cases (opening one, a record's case) are reached through the `Linkage` the caller
hands in (`linkage.py`): records never import `hotline.cases`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.common.crypto import Box
from hotline.common.hooks import RecordSaved
from hotline.config import TOKYO
from hotline.config import Records as Lists
from hotline.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    check_many,
    check_one,
    not_allowed,
)
from hotline.records import store
from hotline.records.linkage import CaseRef, Linkage
from hotline.records.models import ConsultationRecord
from hotline.records.schemas import CallOut, HistoryOut, RecordIn, RecordOut, RecordPatch

REQUIRED = ("age_group", "categories", "seriousness", "linkage_needed", "consent_history")


def check_choices(lists: Lists, data: RecordIn | RecordPatch) -> None:
    check_one("age_group", data.age_group, lists.age_groups)
    check_one("gender", data.gender, lists.genders)
    check_many("categories", data.categories or [], lists.categories)
    check_many("support", data.support or [], lists.support)
    check_one("seriousness", data.seriousness, lists.seriousness)


async def _taken_call(session: AsyncSession, who: Actor, call_sid: str) -> Call:
    """The call, if the acting counsellor's organisation took it."""
    who.require(Role.COUNSELLOR)
    call = await store.call_by_sid(session, call_sid)
    if call is None:
        raise NotFound("unknown call")
    if call.org_id != who.org_id:  # another organisation's call, or never connected
        raise Forbidden("this call was not taken by your organisation")
    return call


async def create(
    session: AsyncSession,
    *,
    who: Actor,
    lists: Lists,
    box: Box,
    linkage: Linkage,
    saved: RecordSaved,
    data: RecordIn,
    now: dt.datetime,
) -> RecordOut:
    check_choices(lists, data)
    call = await _taken_call(session, who, data.call_sid)
    row = await store.add_record(
        session,
        dict(
            call_id=call.id,
            org_id=who.org_id,
            author_key_id=who.key_id,
            author_user_id=who.user_id,
            **data.model_dump(exclude={"call_sid", "summary", "hard_call"}),
            summary_enc=box.seal(data.summary),
            created_at=now,
            updated_at=now,
        ),
    )
    if row is None:
        existing = await store.record_of(session, call_id=call.id, org_id=who.org_id)
        raise Conflict(
            "this call already has a record of your organisation; "
            "change it with PATCH /api/records/{record_id}",
            record_id=existing.id if existing else None,
        )
    await audit.write(
        session,
        who,
        action="record.create",
        entity="record",
        entity_id=row.id,
        now=now,
        call_sid=call.call_sid,
    )
    case = (
        await linkage.open_for(session, who=who, record=row, now=now)
        if row.linkage_needed
        else None
    )
    # Ends the wrap-up; a hard call gives the line its break and opens a debrief request.
    await saved(
        session, call.call_sid, now, who=who, seriousness=row.seriousness, hard=data.hard_call
    )
    return out(row, call, case, box)


async def _open_case_if_needed(
    session: AsyncSession, linkage: Linkage, who: Actor, row: ConsultationRecord, now: dt.datetime
) -> CaseRef | None:
    existing = await linkage.of_record(session, row.id)
    if not row.linkage_needed or existing is not None:
        return existing
    return await linkage.open_for(session, who=who, record=row, now=now)


def _may_read(who: Actor, row: ConsultationRecord, case: CaseRef | None) -> None:
    if who.role == Role.COUNSELLOR:
        if row.org_id != who.org_id:
            raise Forbidden("this record belongs to another organisation")
        return
    if who.role == Role.COORDINATOR:
        if case is None:
            raise Forbidden("coordinators read only the records behind linkage cases")
        return
    raise Forbidden("records are read by counsellors of their organisation and coordinators")


async def read(
    session: AsyncSession,
    *,
    who: Actor,
    box: Box,
    linkage: Linkage,
    record_id: int,
    now: dt.datetime,
) -> RecordOut:
    found = await store.get_record(session, record_id)
    if found is None:
        raise NotFound("unknown record")
    row, call = found
    case = await linkage.of_record(session, row.id)
    _may_read(who, row, case)
    await audit.write(
        session, who, action="record.read", entity="record", entity_id=row.id, now=now
    )
    return out(row, call, case, box)


async def call_id_of(session: AsyncSession, record_id: int) -> int:
    """The calls row of a record (read after `read` allowed it)."""
    found = await store.get_record(session, record_id)
    if found is None:
        raise NotFound("unknown record")
    return found[0].call_id


async def update(
    session: AsyncSession,
    *,
    who: Actor,
    lists: Lists,
    box: Box,
    linkage: Linkage,
    record_id: int,
    data: RecordPatch,
    now: dt.datetime,
) -> RecordOut:
    who.require(Role.COUNSELLOR)
    check_choices(lists, data)
    given = data.model_fields_set
    for field in given & set(REQUIRED):
        if getattr(data, field) is None:
            raise Invalid(field, "may not be null")
    found = await store.get_record(session, record_id, lock=True)
    if found is None:
        raise NotFound("unknown record")
    row, call = found
    if row.org_id != who.org_id:
        raise Forbidden("this record belongs to another organisation")
    # Unsetting linkage_needed leaves an open case alone: closing it is a coordinator's call.
    for field in sorted(given - {"summary"}):
        setattr(row, field, getattr(data, field))
    if "summary" in given:
        row.summary_enc = box.seal(data.summary)
    row.updated_at = now
    await session.flush()
    case = await _open_case_if_needed(session, linkage, who, row, now)
    await audit.write(
        session,
        who,
        action="record.update",
        entity="record",
        entity_id=row.id,
        now=now,
        fields=sorted(given),
    )
    return out(row, call, case, box)


def out(row: ConsultationRecord, call: Call, case: CaseRef | None, box: Box) -> RecordOut:
    return RecordOut(
        id=row.id,
        call_sid=call.call_sid,
        org_id=row.org_id,
        age_group=row.age_group,
        gender=row.gender,
        categories=list(row.categories),
        support=list(row.support),
        seriousness=row.seriousness,
        linkage_needed=row.linkage_needed,
        summary=box.open(row.summary_enc),
        consent_history=row.consent_history,
        case_id=case.id if case else None,
        case_status=case.status if case else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def recent_calls(
    session: AsyncSession,
    *,
    who: Actor,
    hours: int,
    without_record: bool,
    limit: int,
    now: dt.datetime,
) -> list[CallOut]:
    """The organisation's connected calls, so that none is left without its record."""
    who.require(Role.COUNSELLOR)
    since = now - dt.timedelta(hours=hours)
    rows = await store.recent_calls(
        session, org_id=who.org_id, since=since, without_record=without_record, limit=limit
    )
    return [
        CallOut(
            call_sid=call.call_sid,
            connected_at=call.connected_at,
            option_id=call.option_id,
            language=call.language,
            waited_seconds=_waited(call),
            record_id=record_id,
        )
        for call, record_id in rows
    ]


def _waited(call: Call) -> int | None:
    if call.connected_at is None or call.waiting_since is None:
        return None
    return max(0, round((call.connected_at - call.waiting_since).total_seconds()))


async def history(
    session: AsyncSession, *, who: Actor, call_sid: str, now: dt.datetime
) -> HistoryOut:
    """Earlier records of this caller in the counsellor's own organisation, only if the
    caller consented on this call's record; never other organisations', never the hash."""
    call = await _taken_call(session, who, call_sid)
    row = await store.record_of(session, call_id=call.id, org_id=who.org_id)
    if row is None:
        raise NotFound("unknown record for this call (write it first, with the caller's consent)")
    if not row.consent_history:
        raise Forbidden("the caller has not consented to their earlier records being looked up")
    times: list[dt.datetime] = []
    if call.caller_hash is not None:
        times = await store.earlier_consultations(
            session, org_id=who.org_id, caller_hash=call.caller_hash, before=call.created_at
        )
    await audit.write(
        session,
        who,
        action="history.read",
        entity="record",
        entity_id=row.id,
        now=now,
        earlier_records=len(times),
    )
    return HistoryOut(
        earlier_records=len(times),
        dates=sorted({t.astimezone(TOKYO).date() for t in times}),
        caller_known=call.caller_hash is not None,
    )


async def start_export(
    session: AsyncSession,
    *,
    who: Actor,
    periods: list[str],
    period: str,
    fmt: str,
    table: str,
    now: dt.datetime,
) -> None:
    """Check that an operator may export this period, and audit it before any row is read."""
    who.require(Role.OPERATOR)
    if period not in periods:
        raise not_allowed("period", periods, where="query")
    await audit.write(
        session,
        who,
        action="records.export",
        entity="period",
        entity_id=period,
        now=now,
        format=fmt,
        table=table,
    )
