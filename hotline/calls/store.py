"""Stored call state: create, look up and move calls; append events. Only flushes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import lifecycle
from hotline.calls.models import Call, CallEvent
from hotline.db import outbox

ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable"}
TERMINAL = lifecycle.TERMINAL
WAITING = lifecycle.HOLDING


def caller_hash(secret: bytes, number: str | None) -> str | None:
    """Keyed hash of the caller's number; the raw number is never stored."""
    norm = (number or "").strip().lower()
    if norm in ANONYMOUS:
        return None
    return hmac.new(secret, norm.encode(), hashlib.sha256).hexdigest()


def _insert(session: AsyncSession) -> Callable[[type[Any]], postgresql.Insert | sqlite.Insert]:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


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
    new: bool = False,
) -> Call:
    """The call with this CallSid, created if new; a retry or a race creates nothing twice.

    `new`: the call is most likely new (Twilio's first webhook of a call), so try the
    INSERT first; otherwise look it up first. Either way, one statement in the common case.
    """
    if not new:
        call = await get_call(session, call_sid, lock=True)
        if call is not None:  # every webhook after the first: one statement, not two
            return call
    values, received = lifecycle.new_call(
        call_sid=call_sid,
        entry=entry,
        period_id=period_id,
        caller=caller,
        menu_id=menu_id,
        now=now,
    )
    # The new row comes back as the ORM object (and is ours: an inserted row is locked until
    # commit); a CallSid that already exists (a retry, a concurrent request) returns nothing.
    stmt = (
        _insert(session)(Call)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(Call)
    )
    created = (await session.scalars(stmt)).one_or_none()
    if created is not None:
        outbox(session).append(received)
        return created
    call = await get_call(session, call_sid, lock=True)
    assert call is not None
    return call


@dataclass(frozen=True, slots=True)
class Pushed:
    """A request to Twilio that a transition asked for (`lifecycle.Push`), made after the
    transaction commits (hotline.ivr.pushes): never for a change that was rolled back."""

    call_id: int
    call_sid: str
    effect: lifecycle.Push


def push(session: AsyncSession, call_id: int, call_sid: str, effect: lifecycle.Push) -> None:
    outbox(session).append(Pushed(call_id, call_sid, effect))


def apply_changes(call: Call, changes: dict[str, Any]) -> None:
    """Write a transition's changes on the call (the lifecycle decided them)."""
    for name, value in changes.items():
        setattr(call, name, value)


class LineHolder(Protocol):
    """What carrying out a transition needs of the router (hotline.routing.store.Router)."""

    async def release(
        self,
        session: AsyncSession,
        line_id: str,
        call_id: int,
        now: dt.datetime,
        *,
        cooldown: bool = False,
    ) -> None: ...

    async def mark(
        self, session: AsyncSession, line_id: str, call_id: int, presence: str, now: dt.datetime
    ) -> None: ...


async def carry_out(
    session: AsyncSession,
    lines: LineHolder,
    call: Call,
    t: lifecycle.Transition,
    now: dt.datetime,
) -> bool:
    """Write a transition on the call and carry out its line and metric effects; True when it
    asks for an assignment pass, which is left to the caller (a pass never runs one inside)."""
    apply_changes(call, t.changes)
    run_pass = False
    for effect in t.effects:
        if isinstance(effect, lifecycle.ReleaseLine):
            await lines.release(session, effect.line_id, call.id, now, cooldown=effect.cooldown)
        elif isinstance(effect, lifecycle.MarkLine):
            await lines.mark(session, effect.line_id, call.id, effect.presence, now)
        elif isinstance(effect, lifecycle.Count):
            outbox(session).append(effect)
        elif isinstance(
            effect, lifecycle.RingCounsellor | lifecycle.RingCaller | lifecycle.Dequeue
        ):
            push(session, call.id, call.call_sid, effect)
        elif isinstance(effect, lifecycle.RunPass):
            run_pass = True
    return run_pass


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
    result = cast(CursorResult[Any], await session.execute(stmt))
    return bool(result.rowcount)


async def step_detail(session: AsyncSession, call: Call, step: str) -> dict[str, Any]:
    """What was logged for an applied step (its decision, for a retry)."""
    stmt = select(CallEvent.detail).where(CallEvent.call_id == call.id, CallEvent.step == step[:96])
    detail = (await session.execute(stmt)).scalar_one_or_none()
    return dict(detail or {})


async def events(session: AsyncSession, call: Call) -> list[CallEvent]:
    stmt = select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    return list((await session.execute(stmt)).scalars())


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


async def open_before(
    session: AsyncSession, before: dt.datetime, limit: int
) -> list[tuple[str, str, dt.datetime | None, bool]]:
    """Calls still open that began before `before`, oldest first: (CallSid, state, connected,
    whether it is a callback, whose own CallSid ended when the request was booked)."""
    stmt = (
        select(Call.call_sid, Call.state, Call.connected_at, Call.callback_at.is_not(None))
        .where(Call.state.in_(lifecycle.OPEN), Call.created_at < before)
        .order_by(Call.created_at)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [(sid, state, at, bool(callback)) for sid, state, at, callback in rows]
