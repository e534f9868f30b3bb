"""Stored call state: create, look up and move calls; append events. Only flushes.

Every step that moves a call reads and writes it the same way, with SQLAlchemy Core, not the
ORM: a webhook, an operator's hand, reconciliation or a push's outcome reads its call with
one `SELECT ... FOR UPDATE` into a `StoredCall` (plain attributes; a hold poll with one
`UPDATE ... RETURNING` that marks it seen, `polled`), and the routing pass's sweeps read
theirs with one `SELECT ... FOR UPDATE SKIP LOCKED` per sweep (`expired_reservations`,
`gone_silent`). A transition's changes are written with one `UPDATE` of the changed columns,
its event appended with one `INSERT ... ON CONFLICT DO NOTHING` (on PostgreSQL both in one
statement, `log_step`). The statements are built once, in calls.statements.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert

from hotline import uow
from hotline.calls import lifecycle
from hotline.calls import statements as q
from hotline.calls.models import Call, CallEvent

# Re-exported: a call as a step reads it, and the queue's order, stay importable from here.
from hotline.calls.statements import AHEAD_OF as AHEAD_OF
from hotline.calls.statements import StoredCall as StoredCall

# What Twilio sends as `From` for a withheld number: since May 2023 `anonymous` (Twilio's
# changelog, "Changes to withheld caller ID behavior"); before, the withheld word spelled on a
# phone's keypad (ANONYMOUS +266696687, RESTRICTED +7378742833, UNAVAILABLE +86282452253),
# which calls still replayed from that time may carry. None of them is a caller: each is
# kept as no hash at all, never as one caller shared by everyone who withholds their number.
ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable", "blocked"}
KEYPAD = ("266696687", "7378742833", "86282452253")
ANONYMOUS |= {f"{plus}{digits}" for plus in ("", "+") for digits in KEYPAD}
TERMINAL = lifecycle.TERMINAL
WAITING = lifecycle.HOLDING


HASHED = "hash:"  # a number already hashed (the spool keeps no number, only its hash)


def caller_hash(secret: bytes, number: str | None) -> str | None:
    """Keyed hash of the caller's number; the raw number is never stored."""
    if number is not None and number.startswith(HASHED):
        return number[len(HASHED) :]
    norm = (number or "").strip().lower()
    if norm in ANONYMOUS:
        return None
    return hmac.new(secret, norm.encode(), hashlib.sha256).hexdigest()


def _inserts(session: AsyncSession) -> tuple[Insert, Insert]:
    return q.inserts(session.get_bind().dialect.name)


async def get_call(
    session: AsyncSession, call_sid: str, *, lock: bool = False
) -> StoredCall | None:
    """The call with this CallSid (locked until commit with `lock`), or None."""
    stmt = q.LOCKED_BY_SID if lock else q.BY_SID
    row = (await session.execute(stmt, {"sid": call_sid})).first()
    return None if row is None else StoredCall(*row)


async def get_call_by_id(
    session: AsyncSession, call_id: int, *, lock: bool = False
) -> StoredCall | None:
    """The call with this id (locked until commit with `lock`), or None."""
    stmt = q.LOCKED_BY_ID if lock else q.BY_ID
    row = (await session.execute(stmt, {"id": call_id})).first()
    return None if row is None else StoredCall(*row)


async def expired_reservations(session: AsyncSession, before: dt.datetime) -> list[StoredCall]:
    """Calls reserved a line at or before `before` and still reserved, locked (SKIP LOCKED:
    what another pass holds is left to it)."""
    rows = (await session.execute(q.EXPIRED, {"before": before})).all()
    return [StoredCall(*row) for row in rows]


async def gone_silent(
    session: AsyncSession,
    *,
    menu_before: dt.datetime,
    seen_before: dt.datetime,
    rung_before: dt.datetime,
    now: dt.datetime,
) -> list[StoredCall]:
    """Calls whose caller is gone though Twilio's callbacks never said so (in the menu since
    before `menu_before`, holding and last seen before `seen_before`, ringing or calling
    since before `rung_before`) and callback requests past their time, locked (SKIP LOCKED)."""
    params = {
        "menu_before": menu_before,
        "seen_before": seen_before,
        "rung_before": rung_before,
        "now": now,
    }
    return [StoredCall(*row) for row in (await session.execute(q.SILENT, params)).all()]


async def polled(session: AsyncSession, call_sid: str, now: dt.datetime) -> StoredCall | None:
    """A hold poll's call, locked, if it is holding (`lifecycle.SEEN_BY_POLL`, not a
    callback): marked seen now as it is read, which the poll's transition writes anyway, so
    one statement instead of a read and a write. None: any other call, or none, which the
    caller reads as usual."""
    row = (await session.execute(q.POLLED, {"sid": call_sid, "now": now})).first()
    return None if row is None else StoredCall(*row)


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
) -> StoredCall:
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
    call, _ = await insert_call(session, values, received)
    if call is None:
        call = await get_call(session, call_sid, lock=True)
        assert call is not None
    return call


@dataclass(frozen=True, slots=True)
class Logged:
    """A step as the event log keeps it."""

    step: str
    kind: str
    detail: dict[str, Any]


def unsaved(values: dict[str, Any]) -> StoredCall:
    """A new call as its INSERT will store it, but without its id: the lifecycle decides
    its first step on it before it exists (see `insert_call`)."""
    return StoredCall(**{**q.DEFAULTS, "id": 0, **values})


async def insert_call(
    session: AsyncSession,
    values: dict[str, Any],
    received: lifecycle.Count,
    first: Logged | None = None,
) -> tuple[StoredCall | None, bool]:
    """Store a new call (`lifecycle.new_call`'s values) and return its row, locked until
    commit; None for a CallSid already stored (a retry, a concurrent request). On
    PostgreSQL the same statement logs `first`, the step of its first event, and says so
    (True); elsewhere the caller applies that event as any other."""
    params = q.values(values)
    logs = first is not None and session.get_bind().dialect.name == "postgresql"
    if first is not None and logs:
        at = values["created_at"]
        params.update(step=first.step[:96], kind=first.kind, detail=first.detail, at=at)
        row = (await session.execute(q.ARRIVAL, params)).first()
    else:
        row = (await session.execute(_inserts(session)[0], params)).first()
    if row is None:
        return None, False
    uow.outbox(session).append(received)
    return StoredCall(*row), logs


async def reload(session: AsyncSession, call: StoredCall) -> None:
    """Read the call again into the same object (the routing pass's reservations, one bulk
    UPDATE of the calls they reserve, changed it)."""
    row = (await session.execute(q.BY_ID, {"id": call.id})).one()
    for name, value in zip(q.FIELDS, row, strict=True):
        setattr(call, name, value)


def unwritten(call: StoredCall, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes the row does not hold yet (a polled call was marked seen as it was read)."""
    return {k: v for k, v in changes.items() if getattr(call, k) != v}


async def update_call(session: AsyncSession, call: StoredCall, changes: dict[str, Any]) -> None:
    """Write `changes` on the call, in the database (one UPDATE of the columns that change)
    and on the object."""
    changes = unwritten(call, changes)
    if not changes:
        return
    stmt = q.update_of(tuple(sorted(changes)))
    await session.execute(stmt, {"v__id": call.id, **q.values(changes)})
    apply_changes(call, changes)


@dataclass(frozen=True, slots=True)
class Pushed:
    """A request to Twilio that a transition asked for (`lifecycle.Push`), made after the
    transaction commits (hotline.ivr.pushes): never for a change that was rolled back."""

    call_id: int
    call_sid: str
    effect: lifecycle.Push


def push(session: AsyncSession, call_id: int, call_sid: str, effect: lifecycle.Push) -> None:
    uow.outbox(session).append(Pushed(call_id, call_sid, effect))


def apply_changes(call: StoredCall, changes: dict[str, Any]) -> None:
    """Write a transition's changes on the call object, as its statement wrote them in the
    database (the lifecycle decided them)."""
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
        rest: bool = False,
    ) -> None: ...

    async def mark(
        self, session: AsyncSession, line_id: str, call_id: int, presence: str, now: dt.datetime
    ) -> None: ...


async def carry_out(
    session: AsyncSession,
    lines: LineHolder,
    call: StoredCall,
    t: lifecycle.Transition,
    now: dt.datetime,
    *,
    written: bool = False,
) -> bool:
    """Write a transition on the call (unless `written`: `log_step` wrote it with its event)
    and carry out its line and metric effects; True when it asks for an assignment pass,
    which is left to the caller (a pass never runs one inside).

    The call's UPDATE comes before the lines': the same lock order as every other step."""
    if not written:
        await update_call(session, call, t.changes)
    run_pass = False
    for effect in t.effects:
        if isinstance(effect, lifecycle.ReleaseLine):
            await lines.release(
                session, effect.line_id, call.id, now, cooldown=effect.cooldown, rest=effect.rest
            )
        elif isinstance(effect, lifecycle.MarkLine):
            await lines.mark(session, effect.line_id, call.id, effect.presence, now)
        elif isinstance(effect, lifecycle.Count):
            uow.outbox(session).append(effect)
        elif isinstance(
            effect,
            lifecycle.RingCounsellor
            | lifecycle.RingCaller
            | lifecycle.Dequeue
            | lifecycle.DropQueue
            | lifecycle.RingLeg
            | lifecycle.Requeue
            | lifecycle.FreeCounsellor
            | lifecycle.EndConference,
        ):
            push(session, call.id, call.call_sid, effect)
        elif isinstance(effect, lifecycle.RunPass):
            run_pass = True
    return run_pass


def _event(
    call: StoredCall, step: str, kind: str, now: dt.datetime, detail: dict[str, Any] | None
) -> dict[str, Any]:
    return {"call_id": call.id, "step": step[:96], "kind": kind, "detail": detail or {}, "at": now}


async def add_event(
    session: AsyncSession,
    call: StoredCall,
    step: str,
    kind: str,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Append an event; False if this step was already applied (a Twilio retry)."""
    params = _event(call, step, kind, now, detail)
    result = cast(CursorResult[Any], await session.execute(_inserts(session)[1], params))
    return bool(result.rowcount)


async def log_step(
    session: AsyncSession,
    call: StoredCall,
    step: str,
    kind: str,
    now: dt.datetime,
    detail: dict[str, Any],
    changes: dict[str, Any],
) -> bool:
    """Log a step's event and write the call's `changes`; False, with nothing written, when
    the step was already applied (a Twilio retry).

    On PostgreSQL the event and the UPDATE are one statement (`statements.stepped`, a
    data-modifying CTE); SQLite has no such statements: the INSERT, then the UPDATE."""
    changes = unwritten(call, changes)
    if not (changes and session.get_bind().dialect.name == "postgresql"):
        if not await add_event(session, call, step, kind, now, detail):
            return False
        await update_call(session, call, changes)
        return True
    params = _event(call, step, kind, now, detail)
    params.update(q.values(changes))
    stmt = q.stepped(tuple(sorted(changes)))
    if not (await session.execute(stmt, params)).scalar_one():
        return False
    apply_changes(call, changes)
    return True


async def step_detail(session: AsyncSession, call: StoredCall, step: str) -> dict[str, Any]:
    """What was logged for an applied step (its decision, for a retry)."""
    params = {"call_id": call.id, "step": step[:96]}
    detail = (await session.execute(q.STEP_DETAIL, params)).scalar_one_or_none()
    return dict(detail or {})


async def events(session: AsyncSession, call: StoredCall) -> list[CallEvent]:
    stmt = select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    return list((await session.execute(stmt)).scalars())


async def waiting_ahead(session: AsyncSession, call: StoredCall) -> int:
    """Callers of the same option who will be offered a line before this one."""
    params = ahead_params(call)
    if params is None:
        return 0
    return int((await session.execute(q.AHEAD, params)).scalar_one())


def ahead_count() -> Select[int]:
    """`waiting_ahead`'s count, to be asked within another statement (`ahead_params`)."""
    return q.AHEAD


def ahead_params(call: StoredCall) -> dict[str, Any] | None:
    """The parameters of `ahead_count` for this call; None when it is not in a queue."""
    if call.waiting_since is None or call.option_id is None:
        return None
    return {
        "option_id": call.option_id,
        "id": call.id,
        "priority": call.priority,
        "since": call.waiting_since,
    }


async def open_before(
    session: AsyncSession, before: dt.datetime, limit: int
) -> list[tuple[str, str, dt.datetime | None, bool]]:
    """Calls still open that began before `before`, oldest first: (CallSid, state, connected,
    whether it is a callback, whose own CallSid ended when the request was booked)."""
    stmt = (
        select(Call.call_sid, Call.state, Call.connected_at, Call.callback_at.is_not(None))
        # Queued callback requests are not conversations: they wait for hours, and would fill
        # the batch; the routing sweeps end them at their time.
        .where(
            Call.state.in_([s for s in lifecycle.OPEN if s != lifecycle.CallState.CALLBACK]),
            Call.created_at < before,
        )
        # Conversations first: only reconciliation frees their lines (a holding caller who
        # stops polling is ended by the sweeps), so a long queue never crowds them out.
        .order_by(Call.state != lifecycle.CallState.CONNECTED, Call.created_at)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [(sid, state, at, bool(callback)) for sid, state, at, callback in rows]


async def in_conferences(
    session: AsyncSession, before: dt.datetime, limit: int
) -> list[tuple[int, str, str | None]]:
    """Calls in a conference of their own (ringing or connected with a conference) since
    before `before`, oldest first: (id, CallSid, conference SID, if known)."""
    stmt = (
        select(Call.id, Call.call_sid, Call.conference_sid)
        .where(
            Call.state.in_([lifecycle.CallState.RINGING, lifecycle.CallState.CONNECTED]),
            (Call.phase.is_not(None)) | (Call.conference_sid.is_not(None)),
            Call.created_at < before,
        )
        .order_by(Call.created_at)
        .limit(limit)
    )
    return [(i, sid, conf) for i, sid, conf in (await session.execute(stmt)).all()]


async def requeues_owed(
    session: AsyncSession, before: dt.datetime, limit: int
) -> list[tuple[int, str]]:
    """Holding calls owed the redirect out of their conference back to the queue
    (`lifecycle.REQUEUE`) since before `before`, oldest first: (id, CallSid)."""
    stmt = (
        select(Call.id, Call.call_sid)
        .where(
            Call.state.in_(lifecycle.HOLDING),
            Call.phase == lifecycle.REQUEUE,
            Call.last_seen_at < before,
        )
        .order_by(Call.last_seen_at)
        .limit(limit)
    )
    return [(i, sid) for i, sid in (await session.execute(stmt)).all()]
