"""Stored call state: create, look up and move calls; append events. Only flushes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call, CallEvent, CallState
from hotline.metrics import observe

ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable"}
TERMINAL = {CallState.COMPLETED, CallState.ABANDONED, CallState.CLOSED}
WAITING = (CallState.WAITING, CallState.RESERVED)


def caller_hash(secret: bytes, number: str | None) -> str | None:
    """Keyed hash of the caller's number; the raw number is never stored."""
    norm = (number or "").strip().lower()
    if norm in ANONYMOUS:
        return None
    return hmac.new(secret, norm.encode(), hashlib.sha256).hexdigest()


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def get_call(session: AsyncSession, call_sid: str, *, lock: bool = False) -> Call | None:
    stmt = select(Call).where(Call.call_sid == call_sid)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def ensure_call(
    session: AsyncSession,
    *,
    call_sid: str,
    entry: str,
    period_id: str,
    caller: str | None,
    menu_id: str,
    now: dt.datetime,
) -> Call:
    """The call with this CallSid, created if new; a retry or a race creates nothing twice."""
    call = await get_call(session, call_sid, lock=True)
    if call is not None:  # every webhook after the first: one statement, not two
        return call
    values = dict(
        call_sid=call_sid,
        entry=entry,
        period_id=period_id,
        caller_hash=caller,
        menu_id=menu_id,
        state=CallState.MENU,
        priority=0,
        status_seq=-1,
        created_at=now,
    )
    stmt = (
        _insert(session)(Call).values(**values).on_conflict_do_nothing(index_elements=["call_sid"])
    )
    inserted = await session.execute(stmt)
    call = await get_call(session, call_sid, lock=True)
    assert call is not None
    observe.call_received(call, inserted.rowcount)  # never raises; counts a new CallSid only
    return call


async def add_event(
    session: AsyncSession,
    call: Call,
    step: str,
    kind: str,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Append an event; False if this step was already applied (a Twilio retry)."""
    stmt = (
        _insert(session)(CallEvent)
        .values(call_id=call.id, step=step[:96], kind=kind, detail=detail or {}, at=now)
        .on_conflict_do_nothing(index_elements=["call_id", "step"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)


async def events(session: AsyncSession, call: Call) -> list[CallEvent]:
    stmt = select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    return list((await session.execute(stmt)).scalars())


def queue(
    call: Call, *, option_id: str, language: str | None, priority: int, now: dt.datetime
) -> None:
    """The call joins its option's queue; a call queued before keeps its first waiting time."""
    call.option_id, call.language, call.priority = option_id, language, priority
    call.state, call.last_seen_at = CallState.WAITING, now
    if call.waiting_since is None:
        call.waiting_since = now


def end(call: Call, now: dt.datetime) -> None:
    """The call is over: connected calls complete, the others were abandoned where they were."""
    if call.state in TERMINAL:
        return
    if call.state == CallState.CONNECTED:
        call.state = CallState.COMPLETED
    else:
        call.end_stage = "waiting" if call.state in WAITING else call.state
        call.state = CallState.ABANDONED
    call.ended_at = now
    observe.ended(call)  # never raises


async def waiting_ahead(session: AsyncSession, call: Call) -> int:
    """Callers of the same option who will be offered a line before this one."""
    if call.waiting_since is None or call.option_id is None:
        return 0
    stmt = (
        select(func.count())
        .select_from(Call)
        .where(
            Call.option_id == call.option_id,
            Call.state.in_(WAITING),
            Call.id != call.id,
            (Call.priority > call.priority)
            | ((Call.priority == call.priority) & (Call.waiting_since < call.waiting_since))
            | (
                (Call.priority == call.priority)
                & (Call.waiting_since == call.waiting_since)
                & (Call.id < call.id)
            ),
        )
    )
    return int((await session.execute(stmt)).scalar_one())
