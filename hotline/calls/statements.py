"""The calls table's statements, as calls.store runs them: a call read into a `StoredCall`
(by CallSid, by id, a hold poll's, the routing sweeps' batches), a transition's UPDATE, a new
call's INSERT and an event's, and PostgreSQL's one-statement forms of a step.

Each is built once, at import or at first use per set of changed columns or per database;
SQLAlchemy's compiled cache and asyncpg's prepared statements do the rest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnDefault,
    Table,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert, Update

from hotline.calls import lifecycle
from hotline.calls.models import Call, CallEvent

CallState = lifecycle.CallState
# Served before a holding caller: other holding callers and callback requests (one queue).
AHEAD_OF = (*lifecycle.HOLDING, CallState.CALLBACK)


@dataclass(slots=True, eq=False)
class StoredCall:
    """A call as a step reads it: the row's columns as plain attributes, no ORM state.

    Mutable: `calls.store.carry_out` writes a transition's changes on it as it writes them in
    the database, so a step reads the call as it now is.
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
    conference_sid: str | None
    leg_sid: str | None
    phase: str | None


CALLS = cast(Table, Call.__table__)
EVENTS = cast(Table, CallEvent.__table__)
FIELDS = tuple(f.name for f in dataclasses.fields(StoredCall))
COLUMNS = tuple(CALLS.c[name] for name in FIELDS)
if set(FIELDS) != set(CALLS.c.keys()):  # a column added to the model must be added here
    raise AssertionError(f"StoredCall does not match the calls table: {sorted(CALLS.c.keys())}")


def _at(name: str, column: str) -> Any:
    """A parameter `name` of the type of the calls table's (date and time) `column`."""
    return bindparam(name, type_=CALLS.c[column].type)


BY_SID = select(*COLUMNS).where(CALLS.c.call_sid == bindparam("sid"))
LOCKED_BY_SID = BY_SID.with_for_update()
BY_ID = select(*COLUMNS).where(CALLS.c.id == bindparam("id"))
LOCKED_BY_ID = BY_ID.with_for_update()
STEP_DETAIL = select(EVENTS.c.detail).where(
    EVENTS.c.call_id == bindparam("call_id"), EVENTS.c.step == bindparam("step")
)
AHEAD = (
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
            & (CALLS.c.waiting_since < _at("since", "waiting_since"))
        )
        | (
            (CALLS.c.priority == bindparam("priority"))
            & (CALLS.c.waiting_since == _at("since", "waiting_since"))
            & (CALLS.c.id < bindparam("id"))
        ),
    )
)
# A hold poll's call, marked seen as it is read (calls.store `polled`).
POLLED = (
    update(CALLS)
    .where(
        CALLS.c.call_sid == bindparam("sid"),
        CALLS.c.state.in_([literal_column(f"'{s.value}'") for s in lifecycle.SEEN_BY_POLL]),
        CALLS.c.callback_at.is_(None),
    )
    .values(last_seen_at=_at("now", "last_seen_at"))
    .returning(*COLUMNS)
)
# The routing sweeps' batches, each locked with SKIP LOCKED: reservations that expired
# (reserved before `before`), and calls whose caller is gone though Twilio's callbacks never
# said so (in the menu since before `menu_before`, holding and last seen before `seen_before`
# unless a redirect out of the conference is owed, ringing or calling since before
# `rung_before`) or whose callback request is past its time.
EXPIRED = (
    select(*COLUMNS)
    .where(CALLS.c.state == CallState.RESERVED, CALLS.c.reserved_at <= _at("before", "reserved_at"))
    .with_for_update(skip_locked=True)
)
SILENT = (
    select(*COLUMNS)
    .where(
        or_(
            (CALLS.c.state == CallState.MENU)
            & (CALLS.c.created_at < _at("menu_before", "created_at")),
            CALLS.c.state.in_(lifecycle.HOLDING)
            & (CALLS.c.last_seen_at < _at("seen_before", "last_seen_at"))
            # A caller still in the call's conference cannot poll: the redirect back to
            # the queue is owed (the upkeep retries it, or Twilio says the caller is gone).
            & or_(CALLS.c.phase.is_(None), CALLS.c.phase != lifecycle.REQUEUE),
            CALLS.c.state.in_((CallState.RINGING, CallState.CALLING))
            & (CALLS.c.reserved_at < _at("rung_before", "reserved_at")),
            (CALLS.c.state == CallState.CALLBACK)
            & (CALLS.c.callback_until <= _at("now", "callback_until")),
        )
    )
    .with_for_update(skip_locked=True)
)

# One UPDATE per set of changed columns (a transition changes a handful of known sets).
_UPDATES: dict[tuple[str, ...], Update] = {}
_INSERTS: dict[str, tuple[Insert, Insert]] = {}  # by dialect: (the call, its event)
_STEPPED: dict[tuple[str, ...], Select[int]] = {}  # PostgreSQL's, by changed columns

Dialect = Callable[[Table], postgresql.Insert | sqlite.Insert]


def bound(keys: Iterable[str]) -> dict[str, Any]:
    """The calls table's columns `keys`, each bound to a parameter `v_<column>` (`values`)."""
    return {k: bindparam(f"v_{k}", type_=CALLS.c[k].type) for k in keys}


def values(changes: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a statement built with `bound`."""
    return {f"v_{k}": v for k, v in changes.items()}


NEW_CALL = tuple(
    lifecycle.new_call(
        call_sid="", entry="", period_id="", caller=None, menu_id="", now=dt.datetime.now(dt.UTC)
    )[0]
)
# What a new call's INSERT stores in the columns it is not given: its columns' defaults.
DEFAULTS = {
    name: c.default.arg if isinstance(c.default, ColumnDefault) and c.default.is_scalar else None
    for name, c in zip(FIELDS, COLUMNS, strict=True)
}


def _call_insert(dialect: Dialect) -> Insert:
    return (
        dialect(CALLS)
        .values(bound(NEW_CALL))
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(*COLUMNS)
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


def inserts(dialect_name: str) -> tuple[Insert, Insert]:
    """The INSERTs of a new call (returning its row) and of an event, for this database; a
    CallSid or a step already stored inserts nothing."""
    made = _INSERTS.get(dialect_name)
    if made is None:
        dialect: Dialect = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        made = _INSERTS[dialect_name] = (_call_insert(dialect), _event_insert(dialect))
    return made


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


ARRIVAL = _arrival()


def update_of(keys: tuple[str, ...]) -> Update:
    """The UPDATE of a call's columns `keys` (parameters `v__id` and `values`)."""
    stmt = _UPDATES.get(keys)
    if stmt is None:
        stmt = _UPDATES[keys] = (
            update(CALLS).where(CALLS.c.id == bindparam("v__id")).values(bound(keys))
        )
    return stmt


def stepped(keys: tuple[str, ...]) -> Select[int]:
    """PostgreSQL: a step's event and its call's UPDATE of `keys` in one statement, which
    answers how many events it inserted. The UPDATE joins the inserted event, so a step
    already logged (a retry: nothing inserted) updates nothing."""
    stmt = _STEPPED.get(keys)
    if stmt is None:
        logged = _event_insert(postgresql.insert).returning(EVENTS.c.call_id).cte("logged")
        written = (
            update(CALLS).where(CALLS.c.id == logged.c.call_id).values(bound(keys)).cte("written")
        )
        stmt = _STEPPED[keys] = select(func.count()).select_from(logged).add_cte(written)
    return stmt
