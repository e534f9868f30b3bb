"""A call's moves through the queue: join, leave for a line, accept, dial result, end.

Each function takes the locked call, changes stored state only (flush, no commit) and says
what happened; the IVR edge turns that into TwiML.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import store
from hotline.calls.models import Call, CallState
from hotline.metrics import observe
from hotline.routing.store import Router

log = logging.getLogger(__name__)


class DialOutcome(enum.StrEnum):
    TALKED = "talked"  # connected, and the conversation is over
    REQUEUED = "requeued"  # the line did not take the call: back to the head of the queue
    GONE = "gone"  # the caller is no longer there


async def join(
    session: AsyncSession,
    router: Router,
    call: Call,
    *,
    option_id: str,
    language: str | None,
    priority: int,
    now: dt.datetime,
) -> bool:
    """Queue the call and run a pass; False (call closed) when nobody may serve it now."""
    observe.menu_selected(call, option_id)  # never raises
    if not await router.staffed_for(session, option_id, language, now):
        call.option_id, call.language = option_id, language
        close(call, now)
        return False
    store.queue(call, option_id=option_id, language=language, priority=priority, now=now)
    await session.flush()
    await router.assign(session, now)
    await session.refresh(call)
    return True


def close(call: Call, now: dt.datetime) -> None:
    call.state, call.ended_at = CallState.CLOSED, now
    observe.closed(call)  # never raises


async def still_staffed(
    session: AsyncSession, router: Router, call: Call, now: dt.datetime
) -> bool:
    """While holding: if every line for the option went off duty, the call is closed."""
    if call.option_id is None or call.state != CallState.WAITING:
        return True
    if await router.staffed_for(session, call.option_id, call.language, now):
        return True
    close(call, now)
    return False


def leave(router: Router, call: Call) -> str | None:
    """The caller left the hold for its reserved line: the line's target, or None."""
    if call.state != CallState.RESERVED or call.line_id not in router.lines:
        return None
    call.state = CallState.RINGING
    return router.lines[call.line_id][1].target


async def requeue(session: AsyncSession, router: Router, call: Call, now: dt.datetime) -> None:
    """Back to the queue (waiting time kept), and straight into a pass."""
    if call.state in store.TERMINAL:
        return
    await router.free_line(session, call, now)
    # Twilio just spoke for this caller: they are here, so they may be offered a line at once.
    call.state, call.reserved_at, call.last_seen_at = CallState.WAITING, None, now
    await session.flush()
    await router.assign(session, now)
    await session.refresh(call)


def accept(router: Router, call: Call, line_id: str, now: dt.datetime) -> bool:
    """The counsellor pressed 1 in the whisper: the call counts as connected (接続完了)."""
    if call.state == CallState.CONNECTED and call.line_id == line_id:
        return True  # a retried accept
    if call.state != CallState.RINGING or call.line_id != line_id:
        return False
    call.state, call.connected_at = CallState.CONNECTED, now
    call.org_id = router.lines[line_id][0].id
    observe.connected(call)  # never raises
    return True


async def dial_result(
    session: AsyncSession,
    router: Router,
    call: Call,
    line_id: str,
    dial_status: str,
    now: dt.datetime,
) -> DialOutcome:
    if call.state in store.TERMINAL:
        return DialOutcome.GONE
    if call.state == CallState.CONNECTED and call.line_id == line_id:
        store.end(call, now)
        await router.free_line(session, call, now)
        await router.assign(session, now)
        return DialOutcome.TALKED
    if call.line_id != line_id:
        return DialOutcome.GONE if call.state in store.TERMINAL else DialOutcome.REQUEUED
    if dial_status == "canceled":  # the caller hung up while the line rang
        await end(session, router, call, now)
        return DialOutcome.GONE
    if dial_status not in {"busy", "no-answer", "failed", "completed"}:
        log.warning("unknown DialCallStatus %r for call %s", dial_status[:32], call.call_sid)
    # Not accepted in the whisper (busy, missed, voicemail, refused): the line rests and
    # the caller goes back to the head of the queue.
    await router.free_line(session, call, now, cooldown=True)
    await requeue(session, router, call, now)
    return DialOutcome.REQUEUED


async def end(session: AsyncSession, router: Router, call: Call, now: dt.datetime) -> None:
    """The call is over: close it, free its line, give the line to the next caller."""
    if call.state in store.TERMINAL:
        return
    store.end(call, now)
    if call.line_id is not None:
        await router.free_line(session, call, now)
        await session.flush()
        await router.assign(session, now)
