"""The calls service: applies the lifecycle to a stored call, once per step.

`apply` loads nothing itself (the caller passes the locked call), asks `lifecycle.transition`
what the event does, writes the changes and the event-log row under the lifecycle's step key,
and carries out the effects: lines released, an assignment pass, metric facts queued in the
step's unit of work (published by `hotline.uow` after the commit). A step already
applied (a Twilio retry) changes nothing and is answered with the decision stored the first
time. Only flushes: the request's session dependency commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import lifecycle, store
from hotline.calls.store import StoredCall


class Routing(store.LineHolder, Protocol):
    """What the service needs of the router (hotline.routing.store.Router)."""

    async def assign(
        self, session: AsyncSession, now: dt.datetime, held: StoredCall | None = None
    ) -> list[Any]: ...

    async def staffed_for(
        self, session: AsyncSession, option_id: str, language: str | None, now: dt.datetime
    ) -> bool: ...


class NotAlone(Exception):
    """The step needs more than the one statement it was allowed (`alone`): apply it again
    in a transaction. Raised before the step wrote anything, but for what that statement
    wrote as it read the call, which a second run writes again to the same effect (a hold
    poll's mark of being seen: `lifecycle.SEEN_BY_POLL`)."""


def _alone(t: lifecycle.Transition, unwritten: dict[str, Any]) -> bool:
    """Is the transition done once its one statement ran: nothing left to write on the call,
    and no effect but metric facts (published once the statement has committed itself)?"""
    return not unwritten and all(isinstance(e, lifecycle.Count) for e in t.effects)


@dataclass(frozen=True, slots=True)
class Outcome:
    call: StoredCall
    decision: lifecycle.Decision
    repeated: bool = False  # a retried step: nothing changed, the first answer again


def offer_of(call: StoredCall) -> str:
    """The current offer of a line to the call: a second offer of the same line is new."""
    held = call.reserved_at.timestamp() if call.reserved_at else ""
    return f"{call.line_id}:{held}"


async def apply(
    session: AsyncSession,
    router: Routing,
    call: StoredCall,
    event: lifecycle.Event,
    now: dt.datetime,
    *,
    limits: lifecycle.Limits = lifecycle.Limits(),
    alone: bool = False,
) -> Outcome:
    """Apply `event` to the (locked) call and carry out what the lifecycle decided.

    `alone`: the call was read by a statement that committed itself (no transaction), which
    is enough only for a step that writes nothing more (a hold poll, marked seen as it was
    read): any other raises `NotAlone` before writing."""
    t = lifecycle.transition(call, event, now, limits)
    step = lifecycle.step_key(call, event, offer_of(call), now)
    if alone and (step is not None or not _alone(t, store.unwritten(call, t.changes))):
        raise NotAlone
    if step is not None:
        logged = _logged(event, t, step)
        if not await store.log_step(
            session, call, step, logged.kind, now, logged.detail, t.changes
        ):
            stored = (await store.step_detail(session, call, step)).get("decision", {})
            return Outcome(call, lifecycle.load_decision(stored) or t.decision, repeated=True)
    await _carry_out(session, router, call, t, now, written=step is not None)
    return Outcome(call, t.decision)


async def arrive(
    session: AsyncSession,
    router: Routing,
    event: lifecycle.Event,
    now: dt.datetime,
    *,
    limits: lifecycle.Limits = lifecycle.Limits(),
    alone: bool = False,
    call_sid: str,
    entry: str,
    period_id: str,
    caller: str | None,
    menu_id: str,
) -> Outcome:
    """Twilio's first webhook of a call: the call created (a retry or a race creates
    nothing twice) and `event` applied to it.

    On PostgreSQL a new call's INSERT logs the step too, in one statement: the lifecycle
    decides it, as any step, on the call as the INSERT will store it. A first step that
    would change the call is applied as any other.

    `alone`: that one statement commits itself (no transaction): allowed only when it is
    the whole step, on a new call; otherwise `NotAlone` is raised (before the INSERT when
    the step needs more, after it when the call was stored already: nothing was written)."""
    values, received = lifecycle.new_call(
        call_sid=call_sid, entry=entry, period_id=period_id, caller=caller, menu_id=menu_id, now=now
    )
    unsaved = store.unsaved(values)
    t = lifecycle.transition(unsaved, event, now, limits)
    step = lifecycle.step_key(unsaved, event, offer_of(unsaved))
    first = None if step is None or t.changes else _logged(event, t, step)
    if alone and (first is None or not _alone(t, {})):
        raise NotAlone
    call, logged = await store.insert_call(session, values, received, first)
    if alone and not logged:
        raise NotAlone
    if call is None:  # stored already
        call = await store.get_call(session, call_sid, lock=True)
        assert call is not None
    if not logged:
        return await apply(session, router, call, event, now, limits=limits)
    await _carry_out(session, router, call, t, now, written=True)
    return Outcome(call, t.decision)


def _logged(event: lifecycle.Event, t: lifecycle.Transition, step: str) -> store.Logged:
    detail = {**_fields(event), "decision": lifecycle.dump_decision(t.decision)}
    return store.Logged(step, lifecycle.event_kind(event), detail)


async def _carry_out(
    session: AsyncSession,
    router: Routing,
    call: StoredCall,
    t: lifecycle.Transition,
    now: dt.datetime,
    *,
    written: bool,
) -> None:
    """The transition's changes (unless `written`) and effects, then the pass it asks for.

    The pass is handed the call: a sweep that reaches it changes this very object, as it
    changes the row. A reservation is one UPDATE of every call it reserves: a call reserved
    is read again, so that the answer is about the call as it now is."""
    if await store.carry_out(session, router, call, t, now, written=written):
        await session.flush()  # the lines' ORM rows the effects changed
        made = await router.assign(session, now, call)
        if any(r.call_id == call.id for r in made):
            await store.reload(session, call)


# Kept out of the event log: the sealed number lives only on the call, until erased.
UNLOGGED = frozenset({"number"})


def _fields(event: lifecycle.Event) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in dataclasses.asdict(event).items()
        if v not in ("", None) and k not in UNLOGGED
    }


async def staffed(
    session: AsyncSession,
    router: Routing,
    call: StoredCall,
    option_id: str,
    language: str | None,
    now: dt.datetime,
) -> bool | None:
    """Whether the option is staffed, asked only when the answer can change the call."""
    if call.state not in (lifecycle.CallState.MENU, lifecycle.CallState.WAITING):
        return None
    return await router.staffed_for(session, option_id, language, now)
