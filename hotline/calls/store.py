"""Stored call state: create, look up and move calls; append events. Only flushes.

The voice path reads and writes calls with SQLAlchemy Core, not the ORM: a webhook reads its
call with one `SELECT ... FOR UPDATE` into a `StoredCall` (plain attributes; a hold poll with
one `UPDATE ... RETURNING` that marks it seen, `polled`), writes a
transition's changes with one `UPDATE` of the changed columns, and appends its event with one
`INSERT ... ON CONFLICT DO NOTHING` (on PostgreSQL both in one statement, `log_step`). The
statements are built once, at import or first use; SQLAlchemy's compiled cache and asyncpg's
prepared statements do the rest. The routing pass's sweeps still hand ORM `Call` rows to
`carry_out` (`CallRecord` covers both), which it writes the ORM way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnDefault,
    CursorResult,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert, Update

from hotline import uow
from hotline.calls import lifecycle
from hotline.calls.models import Call, CallEvent

ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable"}
TERMINAL = lifecycle.TERMINAL
WAITING = lifecycle.HOLDING
# Served before a holding caller: other holding callers and callback requests (one queue).
AHEAD_OF = (*lifecycle.HOLDING, lifecycle.CallState.CALLBACK)


@dataclass(slots=True, eq=False)
class StoredCall:
    """A call as one webhook reads it: the row's columns as plain attributes, no ORM state.

    Mutable: `carry_out` writes a transition's changes on it as it writes them in the
    database, so a handler reads the call as it now is.
    """

    id: int
    call_sid: str
    entry: str
    period_id: str
    caller_hash: str | None
    menu_id: str
    option_id: str | None
    language: str | None
    state: str
    end_stage: str | None
    priority: int
    line_id: str | None
    org_id: str | None
    created_at: dt.datetime
    waiting_since: dt.datetime | None
    reserved_at: dt.datetime | None
    connected_at: dt.datetime | None
    ended_at: dt.datetime | None
    status_seq: int
    last_seen_at: dt.datetime | None
    queue_errors: int
    queue_error_at: dt.datetime | None
    tallied: int
    callback_at: dt.datetime | None
    callback_number: str | None
    callback_until: dt.datetime | None
    callback_after: dt.datetime | None
    callback_tries: int


class CallRecord(lifecycle.CallFacts, Protocol):
    """What carrying out a transition needs of a call: a `StoredCall` (the webhooks) or an
    ORM `Call` row (the routing pass's sweeps, an operator's hand) both fit."""

    @property
    def id(self) -> int: ...
    @property
    def call_sid(self) -> str: ...
    @property
    def reserved_at(self) -> dt.datetime | None: ...


CALLS = cast(Table, Call.__table__)
EVENTS = cast(Table, CallEvent.__table__)
FIELDS = tuple(f.name for f in dataclasses.fields(StoredCall))
_COLUMNS = tuple(CALLS.c[name] for name in FIELDS)
if set(FIELDS) != set(CALLS.c.keys()):  # a column added to the model must be added here
    raise AssertionError(f"StoredCall does not match the calls table: {sorted(CALLS.c.keys())}")

_BY_SID = select(*_COLUMNS).where(CALLS.c.call_sid == bindparam("sid"))
_LOCKED_BY_SID = _BY_SID.with_for_update()
_BY_ID = select(*_COLUMNS).where(CALLS.c.id == bindparam("id"))
_STEP_DETAIL = select(EVENTS.c.detail).where(
    EVENTS.c.call_id == bindparam("call_id"), EVENTS.c.step == bindparam("step")
)
_AHEAD = (
    select(func.count())
    .select_from(CALLS)
    .where(
        CALLS.c.option_id == bindparam("option_id"),
        # Literals, not an expanding parameter: the statement is compiled once, not per run.
        CALLS.c.state.in_([literal_column(f"'{s.value}'") for s in AHEAD_OF]),
        CALLS.c.id != bindparam("id"),
        (CALLS.c.priority > bindparam("priority"))
        | (
            (CALLS.c.priority == bindparam("priority"))
            & (CALLS.c.waiting_since < bindparam("since", type_=CALLS.c.waiting_since.type))
        )
        | (
            (CALLS.c.priority == bindparam("priority"))
            & (CALLS.c.waiting_since == bindparam("since", type_=CALLS.c.waiting_since.type))
            & (CALLS.c.id < bindparam("id"))
        ),
    )
)
# A hold poll's call, marked seen as it is read (see `polled`).
_POLLED = (
    update(CALLS)
    .where(
        CALLS.c.call_sid == bindparam("sid"),
        CALLS.c.state.in_([literal_column(f"'{s.value}'") for s in lifecycle.SEEN_BY_POLL]),
        CALLS.c.callback_at.is_(None),
    )
    .values(last_seen_at=bindparam("now", type_=CALLS.c.last_seen_at.type))
    .returning(*_COLUMNS)
)
# One UPDATE per set of changed columns (a transition changes a handful of known sets).
_UPDATES: dict[tuple[str, ...], Update] = {}
_INSERTS: dict[str, tuple[Insert, Insert]] = {}  # by dialect: (the call, its event)
_STEPPED: dict[tuple[str, ...], Select[int]] = {}  # PostgreSQL's, by changed columns


HASHED = "hash:"  # a number already hashed (the spool keeps no number, only its hash)


def caller_hash(secret: bytes, number: str | None) -> str | None:
    """Keyed hash of the caller's number; the raw number is never stored."""
    if number is not None and number.startswith(HASHED):
        return number[len(HASHED) :]
    norm = (number or "").strip().lower()
    if norm in ANONYMOUS:
        return None
    return hmac.new(secret, norm.encode(), hashlib.sha256).hexdigest()


Dialect = Callable[[Table], postgresql.Insert | sqlite.Insert]


def _bound(keys: Iterable[str]) -> dict[str, Any]:
    """The calls table's columns `keys`, each bound to a parameter `v_<column>` (`_values`)."""
    return {k: bindparam(f"v_{k}", type_=CALLS.c[k].type) for k in keys}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a statement built with `_bound`."""
    return {f"v_{k}": v for k, v in values.items()}


def _call_insert(dialect: Dialect) -> Insert:
    return (
        dialect(CALLS)
        .values(_bound(_NEW_CALL))
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(*_COLUMNS)
    )


def _event_insert(dialect: Dialect) -> Insert:
    return (
        dialect(EVENTS)
        .values(
            call_id=bindparam("call_id"),
            step=bindparam("step"),
            kind=bindparam("kind"),
            detail=bindparam("detail", type_=EVENTS.c.detail.type),
            at=bindparam("at", type_=EVENTS.c.at.type),
        )
        .on_conflict_do_nothing(index_elements=["call_id", "step"])
    )


def _inserts(session: AsyncSession) -> tuple[Insert, Insert]:
    """The INSERTs of a new call (returning its row) and of an event, for this database; a
    CallSid or a step already stored inserts nothing."""
    name = session.get_bind().dialect.name
    made = _INSERTS.get(name)
    if made is None:
        dialect: Dialect = postgresql.insert if name == "postgresql" else sqlite.insert
        made = _INSERTS[name] = (_call_insert(dialect), _event_insert(dialect))
    return made


_NEW_CALL = tuple(
    lifecycle.new_call(
        call_sid="", entry="", period_id="", caller=None, menu_id="", now=dt.datetime.now(dt.UTC)
    )[0]
)


async def get_call(
    session: AsyncSession, call_sid: str, *, lock: bool = False
) -> StoredCall | None:
    """The call with this CallSid (locked until commit with `lock`), or None."""
    stmt = _LOCKED_BY_SID if lock else _BY_SID
    row = (await session.execute(stmt, {"sid": call_sid})).first()
    return None if row is None else StoredCall(*row)


async def polled(session: AsyncSession, call_sid: str, now: dt.datetime) -> StoredCall | None:
    """A hold poll's call, locked, if it is holding (`lifecycle.SEEN_BY_POLL`, not a
    callback): marked seen now as it is read, which the poll's transition writes anyway, so
    one statement instead of a read and a write. None: any other call, or none, which the
    caller reads as usual."""
    row = (await session.execute(_POLLED, {"sid": call_sid, "now": now})).first()
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


# What a new call's INSERT stores in the columns it is not given: its columns' defaults.
_DEFAULTS = {
    name: c.default.arg if isinstance(c.default, ColumnDefault) and c.default.is_scalar else None
    for name, c in zip(FIELDS, _COLUMNS, strict=True)
}


def unsaved(values: dict[str, Any]) -> StoredCall:
    """A new call as its INSERT will store it, but without its id: the lifecycle decides
    its first step on it before it exists (see `insert_call`)."""
    return StoredCall(**{**_DEFAULTS, "id": 0, **values})


def _arrival() -> Select[Any]:
    """PostgreSQL: a new call's INSERT and its first step's event in one statement, which
    answers the new row (nothing, and logs nothing, for a CallSid already stored)."""
    new = _call_insert(postgresql.insert).cte("new")
    logged = EVENTS.insert().from_select(
        ["call_id", "step", "kind", "detail", "at"],
        select(
            new.c.id,
            bindparam("step", type_=EVENTS.c.step.type),
            bindparam("kind", type_=EVENTS.c.kind.type),
            bindparam("detail", type_=EVENTS.c.detail.type),
            bindparam("at", type_=EVENTS.c.at.type),
        ),
    )
    return select(*new.c).add_cte(logged.cte("logged"))


_ARRIVAL = _arrival()


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
    params = _values(values)
    logs = first is not None and session.get_bind().dialect.name == "postgresql"
    if first is not None and logs:
        at = values["created_at"]
        params.update(step=first.step[:96], kind=first.kind, detail=first.detail, at=at)
        row = (await session.execute(_ARRIVAL, params)).first()
    else:
        row = (await session.execute(_inserts(session)[0], params)).first()
    if row is None:
        return None, False
    uow.outbox(session).append(received)
    return StoredCall(*row), logs


async def reload(session: AsyncSession, call: StoredCall) -> None:
    """Read the call again into the same object (something else in this transaction, the
    routing pass, changed it)."""
    row = (await session.execute(_BY_ID, {"id": call.id})).one()
    for name, value in zip(FIELDS, row, strict=True):
        setattr(call, name, value)


def _update(keys: tuple[str, ...]) -> Update:
    stmt = _UPDATES.get(keys)
    if stmt is None:
        stmt = _UPDATES[keys] = (
            update(CALLS).where(CALLS.c.id == bindparam("v__id")).values(_bound(keys))
        )
    return stmt


def unwritten(call: CallRecord, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes the row does not hold yet (a polled call was marked seen as it was read)."""
    return {k: v for k, v in changes.items() if getattr(call, k) != v}


async def update_call(session: AsyncSession, call: StoredCall, changes: dict[str, Any]) -> None:
    """Write `changes` on the call, in the database (one UPDATE of the columns that change)
    and on the object."""
    changes = unwritten(call, changes)
    if not changes:
        return
    stmt = _update(tuple(sorted(changes)))
    await session.execute(stmt, {"v__id": call.id, **_values(changes)})
    apply_changes(call, changes)


def touched(session: AsyncSession) -> set[int]:
    """Ids of the ORM call rows this session's transitions changed (the routing pass's own)."""
    return uow.of(session).touched


@dataclass(frozen=True, slots=True)
class Pushed:
    """A request to Twilio that a transition asked for (`lifecycle.Push`), made after the
    transaction commits (hotline.ivr.pushes): never for a change that was rolled back."""

    call_id: int
    call_sid: str
    effect: lifecycle.Push


def push(session: AsyncSession, call_id: int, call_sid: str, effect: lifecycle.Push) -> None:
    uow.outbox(session).append(Pushed(call_id, call_sid, effect))


def apply_changes(call: CallRecord, changes: dict[str, Any]) -> None:
    """Write a transition's changes on the call object (the lifecycle decided them): on an ORM
    row the session's flush writes them, a `StoredCall` is written by its own statement."""
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


async def write(session: AsyncSession, call: CallRecord, changes: dict[str, Any]) -> None:
    """Write a transition's changes on the call: a `StoredCall`'s with one UPDATE, an ORM
    row's by the session's flush."""
    if isinstance(call, StoredCall):
        await update_call(session, call, changes)
    else:
        assert isinstance(call, Call)
        apply_changes(call, changes)
        if changes:
            touched(session).add(call.id)


async def carry_out(
    session: AsyncSession,
    lines: LineHolder,
    call: CallRecord,
    t: lifecycle.Transition,
    now: dt.datetime,
    *,
    written: bool = False,
) -> bool:
    """Write a transition on the call (unless `written`: `log_step` wrote it with its event)
    and carry out its line and metric effects; True when it asks for an assignment pass,
    which is left to the caller (a pass never runs one inside).

    The call's UPDATE comes before the lines' (as the ORM's flush ordered them): the same
    lock order as every other step."""
    if not written:
        await write(session, call, t.changes)
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
            effect, lifecycle.RingCounsellor | lifecycle.RingCaller | lifecycle.Dequeue
        ):
            push(session, call.id, call.call_sid, effect)
        elif isinstance(effect, lifecycle.RunPass):
            run_pass = True
    return run_pass


def _event(
    call: CallRecord, step: str, kind: str, now: dt.datetime, detail: dict[str, Any] | None
) -> dict[str, Any]:
    return {"call_id": call.id, "step": step[:96], "kind": kind, "detail": detail or {}, "at": now}


async def add_event(
    session: AsyncSession,
    call: CallRecord,
    step: str,
    kind: str,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Append an event; False if this step was already applied (a Twilio retry)."""
    params = _event(call, step, kind, now, detail)
    result = cast(CursorResult[Any], await session.execute(_inserts(session)[1], params))
    return bool(result.rowcount)


def _stepped(keys: tuple[str, ...]) -> Select[int]:
    """PostgreSQL: a step's event and its call's UPDATE of `keys` in one statement, which
    answers how many events it inserted. The UPDATE joins the inserted event, so a step
    already logged (a retry: nothing inserted) updates nothing."""
    stmt = _STEPPED.get(keys)
    if stmt is None:
        logged = _event_insert(postgresql.insert).returning(EVENTS.c.call_id).cte("logged")
        written = (
            update(CALLS).where(CALLS.c.id == logged.c.call_id).values(_bound(keys)).cte("written")
        )
        stmt = _STEPPED[keys] = select(func.count()).select_from(logged).add_cte(written)
    return stmt


async def log_step(
    session: AsyncSession,
    call: CallRecord,
    step: str,
    kind: str,
    now: dt.datetime,
    detail: dict[str, Any],
    changes: dict[str, Any],
) -> bool:
    """Log a step's event and write the call's `changes`; False, with nothing written, when
    the step was already applied (a Twilio retry).

    On PostgreSQL a `StoredCall`'s event and UPDATE are one statement (`_stepped`, a
    data-modifying CTE); SQLite has no such statements: the INSERT, then the UPDATE."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if isinstance(call, StoredCall):
        changes = unwritten(call, changes)
    if not (changes and postgres and isinstance(call, StoredCall)):
        if not await add_event(session, call, step, kind, now, detail):
            return False
        await write(session, call, changes)
        return True
    params = _event(call, step, kind, now, detail)
    params.update(_values(changes))
    stmt = _stepped(tuple(sorted(changes)))
    if not (await session.execute(stmt, params)).scalar_one():
        return False
    apply_changes(call, changes)
    return True


async def step_detail(session: AsyncSession, call: CallRecord, step: str) -> dict[str, Any]:
    """What was logged for an applied step (its decision, for a retry)."""
    params = {"call_id": call.id, "step": step[:96]}
    detail = (await session.execute(_STEP_DETAIL, params)).scalar_one_or_none()
    return dict(detail or {})


async def events(session: AsyncSession, call: CallRecord) -> list[CallEvent]:
    stmt = select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    return list((await session.execute(stmt)).scalars())


async def waiting_ahead(session: AsyncSession, call: StoredCall | Call) -> int:
    """Callers of the same option who will be offered a line before this one."""
    params = ahead_params(call)
    if params is None:
        return 0
    return int((await session.execute(_AHEAD, params)).scalar_one())


def ahead_count() -> Select[int]:
    """`waiting_ahead`'s count, to be asked within another statement (`ahead_params`)."""
    return _AHEAD


def ahead_params(call: StoredCall | Call) -> dict[str, Any] | None:
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
        .order_by(Call.created_at)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [(sid, state, at, bool(callback)) for sid, state, at, callback in rows]
