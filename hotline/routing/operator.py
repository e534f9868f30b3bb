"""An operator frees a line or ends a call by hand, when a call's end was never heard.

Both go through the call lifecycle (`ForceEnded("operator")`): the call ends in its true
state (completed if it was connected, abandoned where it was otherwise), its line is released
once, an assignment pass offers the line to the next caller, and an audit entry says who did
it. A line held by a call that has already ended (a stale hold) is simply released.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import lifecycle, service
from hotline.calls import store as calls_store
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.conference import store as parties
from hotline.errors import NotFound
from hotline.lines.models import Line
from hotline.routing.store import Router


async def _force_end(
    session: AsyncSession, router: Router, call: calls_store.StoredCall, now: dt.datetime
) -> None:
    """The call ended by the operator; nobody is left in its conference in our records."""
    was_open = call.state not in lifecycle.TERMINAL
    await service.apply(session, router, call, lifecycle.ForceEnded("operator"), now)
    if was_open and call.state in lifecycle.TERMINAL and (call.leg_sid or call.conference_sid):
        await parties.all_left(session, call.id, now)


async def end_call(
    session: AsyncSession, router: Router, *, call_sid: str, who: Actor, now: dt.datetime
) -> str:
    """End the call now; its state afterwards."""
    call = await calls_store.get_call(session, call_sid, lock=True)
    if call is None:
        raise NotFound(f"unknown call {call_sid!r}")
    before = call.state
    await _force_end(session, router, call, now)
    await audit.write(
        session, who, action="call.end", entity="call", entity_id=call_sid, now=now,
        state_before=before, state_after=call.state,
    )  # fmt: skip
    return call.state


async def free_line(
    session: AsyncSession, router: Router, *, line_id: str, who: Actor, now: dt.datetime
) -> str | None:
    """Free the line: end the call that holds it (if any); the CallSid of that call."""
    line = await session.get(Line, line_id, with_for_update=True)
    if line is None or line_id not in router.lines:
        raise NotFound(f"unknown line {line_id!r}")
    call = None
    if line.call_id:
        call = await calls_store.get_call_by_id(session, line.call_id, lock=True)
    ended = None
    if call is not None and call.state not in lifecycle.TERMINAL and call.line_id == line_id:
        ended = call.call_sid
        await _force_end(session, router, call, now)
    elif line.call_id is not None:  # held by a call that ended elsewhere: a stale hold
        # Released as any call releases its line, so its presence moves on too.
        await router.release(session, line_id, line.call_id, now)
        await session.flush()
        await router.assign(session, now)
    await audit.write(
        session, who, action="line.free", entity="line", entity_id=line_id, now=now,
        call=ended,
    )  # fmt: skip
    return ended
