"""Console accounts: create, check a password (argon2id), lock out after repeated failures."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import ConsoleUser, Role
from hotline.errors import Conflict, Invalid

_hasher = PasswordHasher()
# Verifying against this when the name is unknown takes as long as a real check, so the
# answer time does not tell whether an account exists.
_DUMMY = _hasher.hash("not a password of anyone")
MIN_PASSWORD = 10


@dataclass(frozen=True, slots=True)
class Lockout:
    attempts: int
    minutes: int


async def create(
    session: AsyncSession, *, name: str, org_id: str, role: Role, password: str, now: dt.datetime
) -> ConsoleUser:
    if len(password) < MIN_PASSWORD:
        raise Invalid("password", f"needs at least {MIN_PASSWORD} characters")
    existing = await by_name(session, name)
    if existing is not None:
        raise Conflict(f"an account named {name!r} exists already", account_id=existing.id)
    user = ConsoleUser(
        name=name,
        org_id=org_id,
        role=role,
        password_hash=_hasher.hash(password),
        failed_logins=0,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def by_name(session: AsyncSession, name: str) -> ConsoleUser | None:
    stmt = select(ConsoleUser).where(ConsoleUser.name == name).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def _verify_now(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def _verify(hashed: str, password: str) -> bool:
    # argon2 takes ~0.2 s of CPU by design: off the event loop, or every login (and every
    # guess) would stall the voice webhooks of every caller for that long.
    return await asyncio.to_thread(_verify_now, hashed, password)


async def authenticate(
    session: AsyncSession, name: str, password: str, now: dt.datetime, lockout: Lockout
) -> ConsoleUser | None:
    """The user if name and password match and the account is not locked; else None.

    Every failure looks the same to the caller (wrong name, wrong password, locked).
    """
    user = await by_name(session, name.strip())
    if user is None or user.disabled_at is not None:
        await _verify(_DUMMY, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        await _verify(_DUMMY, password)
        return None
    if not await _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= lockout.attempts:
            user.locked_until = now + dt.timedelta(minutes=lockout.minutes)
            user.failed_logins = 0
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
