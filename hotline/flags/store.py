"""Caller flags stored, read and purged; every change audited. Only flushes.

A flag is set from a call (its CallSid, which staff see in the console and in Twilio's logs):
the flag keeps that call's keyed hash of the number (`calls.caller_hash`), so no one needs to
see, type or store a number. A withheld number has no hash and cannot be flagged. The voice
steps ask `kinds_for` with one indexed statement; a flag past its expiry is never read
(`expires_at > now`), so it stops acting at that moment, and `purge` deletes it afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import store as calls_store
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.errors import Conflict, Invalid, NotFound, not_allowed
from hotline.flags.models import CallerFlag, FlagKind

# 24 hours to 5 years, as Aselo's caller blocks: long enough to cover a night of calls,
# short enough that nobody is turned away for ever by a flag everyone forgot.
MIN_HOURS = 24
MAX_HOURS = 5 * 365 * 24
KINDS = tuple(k.value for k in FlagKind)

_KINDS = (
    select(CallerFlag.kind)
    .where(
        CallerFlag.caller_hash == bindparam("caller_hash"),
        CallerFlag.expires_at > bindparam("now"),
    )
    .distinct()
)


@dataclass(frozen=True, slots=True)
class NewFlag:
    call_sid: str
    kind: str
    reason: str
    hours: int


def check(new: NewFlag) -> None:
    """The request's own values: the kind, a reason, an expiry within bounds."""
    if new.kind not in KINDS:
        raise not_allowed("kind", KINDS)
    if not new.reason.strip():
        raise Invalid("reason", "a reason is required")
    if not MIN_HOURS <= new.hours <= MAX_HOURS:
        raise Invalid(
            "expires_in_hours",
            f"between {MIN_HOURS} (24 hours) and {MAX_HOURS} (5 years)",
            min=MIN_HOURS,
            max=MAX_HOURS,
        )


async def kinds_for(session: AsyncSession, caller_hash: str | None, now: dt.datetime) -> set[str]:
    """The kinds of the caller's flags in force now (none for a withheld number)."""
    if caller_hash is None:
        return set()
    rows = await session.execute(_KINDS, {"caller_hash": caller_hash, "now": now})
    return set(rows.scalars())


async def active(session: AsyncSession, now: dt.datetime) -> list[CallerFlag]:
    """The flags in force, the latest first."""
    stmt = (
        select(CallerFlag)
        .where(CallerFlag.expires_at > now)
        .order_by(CallerFlag.created_at.desc(), CallerFlag.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def flag(session: AsyncSession, new: NewFlag, *, who: Actor, now: dt.datetime) -> CallerFlag:
    """Flag the caller of call `new.call_sid` (audited). A caller with a flag of this kind in
    force already is a conflict naming it: lift it first to change it."""
    check(new)
    call = await calls_store.get_call(session, new.call_sid)
    if call is None:
        raise NotFound("unknown call")
    if call.caller_hash is None:
        raise Invalid("call_sid", "this call's number was withheld: there is no caller to flag")
    same = (
        select(CallerFlag.id)
        .where(
            CallerFlag.caller_hash == call.caller_hash,
            CallerFlag.kind == new.kind,
            CallerFlag.expires_at > now,
        )
        .limit(1)
    )
    existing = (await session.execute(same)).scalar()
    if existing is not None:
        raise Conflict("this caller already has a flag of this kind", flag_id=existing)
    row = CallerFlag(
        caller_hash=call.caller_hash,
        kind=new.kind,
        reason=new.reason.strip()[:200],
        created_at=now,
        expires_at=now + dt.timedelta(hours=new.hours),
        created_by=f"{who.role}:{who.org_id}"[:64],
        from_call_sid=call.call_sid,
    )
    session.add(row)
    await session.flush()
    # The audit entry names the flag, its kind and expiry; never the reason's words nor a hash.
    await audit.write(
        session, who, action="flag.create", entity="caller_flag", entity_id=row.id, now=now,
        kind=new.kind, hours=new.hours, call_id=call.id,
    )  # fmt: skip
    return row


async def lift(session: AsyncSession, flag_id: int, *, who: Actor, now: dt.datetime) -> None:
    """End a flag now, by hand (audited)."""
    row = await session.get(CallerFlag, flag_id, with_for_update=True)
    if row is None or row.expires_at <= now:
        raise NotFound("unknown or expired flag")
    await session.delete(row)
    await session.flush()
    await audit.write(
        session, who, action="flag.lift", entity="caller_flag", entity_id=flag_id, now=now,
        kind=row.kind,
    )  # fmt: skip


async def purge(session: AsyncSession, now: dt.datetime) -> int:
    """Delete the flags past their expiry; how many. They stopped acting when they expired."""
    done = await session.execute(delete(CallerFlag).where(CallerFlag.expires_at <= now))
    return int(getattr(done, "rowcount", 0) or 0)
