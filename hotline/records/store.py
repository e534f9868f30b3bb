"""SQL of records and the calls behind them, and the re-sealing of stored texts (the records'
own, and those `Linkage.sealed` names). Only flushes: the request's session dependency (or the
command's transaction) commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call, CallState
from hotline.records.linkage import Sealed
from hotline.records.models import ConsultationRecord

TALKED = (CallState.CONNECTED, CallState.COMPLETED)


async def call_by_sid(session: AsyncSession, call_sid: str) -> Call | None:
    stmt = select(Call).where(Call.call_sid == call_sid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_of(
    session: AsyncSession, *, call_id: int, org_id: str
) -> ConsultationRecord | None:
    stmt = select(ConsultationRecord).where(
        ConsultationRecord.call_id == call_id, ConsultationRecord.org_id == org_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_record(session: AsyncSession, values: dict[str, Any]) -> ConsultationRecord | None:
    """Insert a record; None if the call already has one of this organisation. The unique key
    decides, in one statement, so two counsellors racing on one call cannot both succeed."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite  # type: ignore[union-attr]  # our sessions are bound
    stmt = (
        dialect.insert(ConsultationRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["call_id", "org_id"])
        .returning(ConsultationRecord)
    )
    return (await session.scalars(stmt)).one_or_none()


async def get_record(
    session: AsyncSession, record_id: int, *, lock: bool = False
) -> tuple[ConsultationRecord, Call] | None:
    stmt = (
        select(ConsultationRecord, Call)
        .join(Call, Call.id == ConsultationRecord.call_id)
        .where(ConsultationRecord.id == record_id)
    )
    if lock:  # two edits of one record: the second waits and applies on top of the first
        stmt = stmt.with_for_update(of=ConsultationRecord)
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def recent_calls(
    session: AsyncSession, *, org_id: str, since: dt.datetime, without_record: bool, limit: int
) -> list[tuple[Call, int | None]]:
    """Calls the organisation took since `since`, newest first, each with its record's id."""
    stmt = (
        select(Call, ConsultationRecord.id)
        .outerjoin(
            ConsultationRecord,
            (ConsultationRecord.call_id == Call.id) & (ConsultationRecord.org_id == org_id),
        )
        .where(
            Call.org_id == org_id,
            Call.state.in_(TALKED),
            Call.connected_at >= since,
        )
        .order_by(Call.connected_at.desc())
        .limit(limit)
    )
    if without_record:
        stmt = stmt.where(ConsultationRecord.id.is_(None))
    return [(call, record_id) for call, record_id in await session.execute(stmt)]


async def earlier_consultations(
    session: AsyncSession, *, org_id: str, caller_hash: str, before: dt.datetime
) -> list[dt.datetime]:
    """When this caller's earlier calls that the organisation recorded came in."""
    stmt = (
        select(Call.created_at)
        .join(ConsultationRecord, ConsultationRecord.call_id == Call.id)
        .where(
            Call.caller_hash == caller_hash,
            ConsultationRecord.org_id == org_id,
            Call.created_at < before,
        )
        .order_by(Call.created_at)
    )
    return list((await session.execute(stmt)).scalars())


SEALED: tuple[Sealed, ...] = ((ConsultationRecord, "summary_enc"),)


async def reseal_batch(
    session: AsyncSession,
    model: type[Any],
    column: str,
    reseal: Callable[[str], str],
    *,
    after_id: int,
    limit: int,
) -> int | None:
    """Re-seal up to `limit` texts of `model.column` after `after_id`; the last id done, or
    None when there were none left."""
    col = getattr(model, column)
    stmt = (
        select(model.id, col)
        .where(model.id > after_id, col.is_not(None))
        .order_by(model.id)
        .limit(limit)
        # Locked: an edit committed between this read and the update would otherwise be
        # overwritten with the re-sealed older text.
        .with_for_update()
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    # ORM bulk UPDATE by primary key: one statement, many parameter sets.
    await session.execute(update(model), [{"id": i, column: reseal(token)} for i, token in rows])
    return rows[-1][0]
