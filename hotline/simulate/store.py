"""The stored calls a replay needs, and nothing else: arrival, option, language, caller hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call

Row = tuple[dt.datetime, str | None, str | None, str | None]


async def period_calls(session: AsyncSession, period_id: str) -> list[Row]:
    """Every call of the period: when it joined the queue (or arrived), its choice, its caller."""
    stmt = select(
        Call.waiting_since, Call.created_at, Call.option_id, Call.language, Call.caller_hash
    ).where(Call.period_id == period_id)
    return [
        (waiting or created, option, language, caller)
        for waiting, created, option, language, caller in await session.execute(stmt)
    ]
