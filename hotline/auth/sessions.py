"""Console sessions kept in the database: started at login, ended at logout, expiry, or when
an admin disables the account (`hotline users disable`) or signs it out everywhere."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import ConsoleSession, ConsoleUser


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(session: AsyncSession, *, user_id: int, now: dt.datetime, hours: float) -> str:
    """A new session for the user; returns its token (for the cookie, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_digest(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    await session.flush()
    return token


async def user_of(session: AsyncSession, token: str, now: dt.datetime) -> ConsoleUser | None:
    """The account of a live session: not revoked, not expired, account not disabled."""
    stmt = (
        select(ConsoleUser)
        .join(ConsoleSession, ConsoleSession.user_id == ConsoleUser.id)
        .where(
            ConsoleSession.token_hash == _digest(token),
            ConsoleSession.revoked_at.is_(None),
            ConsoleSession.expires_at > now,
            ConsoleUser.disabled_at.is_(None),
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def end(session: AsyncSession, token: str, now: dt.datetime) -> None:
    stmt = update(ConsoleSession).where(
        ConsoleSession.token_hash == _digest(token), ConsoleSession.revoked_at.is_(None)
    )
    await session.execute(stmt.values(revoked_at=now))


async def end_all(session: AsyncSession, user_id: int, now: dt.datetime) -> int:
    """Revoke every live session of the account; how many there were."""
    stmt = update(ConsoleSession).where(
        ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None)
    )
    result = await session.execute(stmt.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
