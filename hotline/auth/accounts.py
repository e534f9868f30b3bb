"""Console accounts: create, check a password (argon2id), lock out after repeated failures,
disable, enable and unlock."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.auth import sessions as console_sessions
from hotline.auth.models import ConsoleUser, Role
from hotline.errors import Conflict, Invalid, NotFound
from hotline.uow import UnitOfWork

_hasher = PasswordHasher()
# Verifying against this when the name is unknown takes as long as a real check, so the
# answer time does not tell whether an account exists.
_DUMMY = _hasher.hash("not a password of anyone")
MIN_PASSWORD = 10
T = TypeVar("T")


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


# At most two checks at once per process (a thread pool of its own, not the loop's default
# one): a flood of guesses queues here, not on the CPU that answers the voice webhooks.
_argon2 = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def _in_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_argon2, fn, *args)


async def _verify(hashed: str, password: str) -> bool:
    # argon2 takes ~0.2 s of CPU by design: off the event loop, and never inside a database
    # transaction (on SQLite that would hold the write lock every webhook needs).
    return await _in_pool(_verify_now, hashed, password)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a login needs to know of an account, read in a short transaction of its own."""

    id: int
    password_hash: str
    usable: bool  # exists, enabled and not locked


async def _look_up(
    sessions: async_sessionmaker[AsyncSession], name: str, now: dt.datetime
) -> _Seen | None:
    async with sessions() as session:
        stmt = select(ConsoleUser).where(ConsoleUser.name == name)
        user = (await session.execute(stmt)).scalar_one_or_none()
        if user is None:
            return None
        locked = user.locked_until is not None and user.locked_until > now
        return _Seen(user.id, user.password_hash, user.disabled_at is None and not locked)


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    password: str,
    now: dt.datetime,
    lockout: Lockout,
) -> ConsoleUser | None:
    """The user if name and password match and the account is usable; else None.

    Three steps, no transaction open across the slow one: read the account, check the
    password (argon2, in a thread), then record the outcome in a short transaction.
    Every failure looks the same to the caller (wrong name, wrong password, locked).
    """
    seen = await _look_up(sessions, name.strip(), now)
    if seen is None or not seen.usable:
        await _verify(_DUMMY, password)
        return None
    ok = await _verify(seen.password_hash, password)
    rehashed = None
    if ok and _hasher.check_needs_rehash(seen.password_hash):
        rehashed = await _in_pool(_hasher.hash, password)
    async with UnitOfWork(sessions()) as uow:
        user = await uow.session.get(ConsoleUser, seen.id, with_for_update=True)
        if user is None or user.password_hash != seen.password_hash:
            return None  # deleted or given a new password meanwhile
        if not ok:
            _failed(user, now, lockout)
            return None
        user.failed_logins, user.locked_until = 0, None
        user.password_hash = rehashed or user.password_hash
    return user


def _failed(user: ConsoleUser, now: dt.datetime, lockout: Lockout) -> None:
    user.failed_logins += 1
    if user.failed_logins >= lockout.attempts:
        user.locked_until = now + dt.timedelta(minutes=lockout.minutes)
        user.failed_logins = 0


async def set_disabled(
    session: AsyncSession, *, name: str, disabled: bool, now: dt.datetime
) -> ConsoleUser:
    """Disable (every session ends at once) or enable an account."""
    user = await _named(session, name)
    user.disabled_at = now if disabled else None
    if disabled:
        await console_sessions.end_all(session, user.id, now)
    return user


async def sign_out(session: AsyncSession, *, name: str, now: dt.datetime) -> ConsoleUser:
    """End every session of an account (a lost laptop); the account may log in again."""
    user = await _named(session, name)
    await console_sessions.end_all(session, user.id, now)
    return user


async def unlock(session: AsyncSession, *, name: str) -> ConsoleUser:
    """Lift a lock-out after wrong passwords (the person proved who they are some other way)."""
    user = await _named(session, name)
    user.failed_logins, user.locked_until = 0, None
    return user


async def _named(session: AsyncSession, name: str) -> ConsoleUser:
    user = await by_name(session, name)
    if user is None:
        raise NotFound(f"no account named {name!r}")
    return user
