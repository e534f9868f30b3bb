"""Readiness: the database is reachable and at head, and the records keys open stored text.

A wrong records key (one that did not seal what is stored) is found here, at start-up and
by /readyz, rather than as a 500 on the first record someone opens.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cases.models import LinkageCase
from hotline.common.crypto import Box
from hotline.records.models import ConsultationRecord


async def check_records_keys(sessions: async_sessionmaker[AsyncSession], box: Box) -> None:
    """Open the newest sealed summary and case note; raises KeysUnfit if the keys cannot."""
    async with sessions() as session:
        for column, key in (
            (ConsultationRecord.summary_enc, ConsultationRecord.id),
            (LinkageCase.notes_enc, LinkageCase.id),
        ):
            stmt = select(column).where(column.is_not(None)).order_by(key.desc()).limit(1)
            token = (await session.execute(stmt)).scalar_one_or_none()
            box.open(token)
