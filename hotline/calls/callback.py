"""The callback branch of the lifecycle (pure): booking a callback from the hold, and what an
event does to an open callback (`hotline.calls.lifecycle.transition` asks it first for any
call with a callback booked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hotline.calls.decisions import (
    CallbackBooked,
    CallCaller,
    Decline,
    Goodbye,
    JoinCounsellor,
    LeaveQueue,
    Nothing,
    holding_answer,
)
from hotline.calls.effects import (
    Count,
    Effect,
    FreeCounsellor,
    MarkLine,
    RingCaller,
    RingCounsellor,
    RunPass,
    Transition,
    release,
    seconds,
)
from hotline.calls.ending import finish
from hotline.calls.events import (
    Accepted,
    CallbackAsked,
    CallbackExpired,
    CallerAnswered,
    CallerLegEnded,
    CounsellorUnreached,
    DialEnded,
    Event,
    HoldPolled,
    LineReserved,
    QueueLeft,
    StatusReported,
    WentSilent,
)
from hotline.calls.states import CALLBACK_EXPIRED, CALLBACK_FAILED, CallFacts, Limits, S


def book_callback(call: CallFacts, state: S, event: CallbackAsked, now: dt.datetime) -> Transition:
    """A holding caller asked to be called back: the request keeps their place in the queue
    (same row, waiting time and priority), with no line and no polling. For the published
    per-attempt figures this call ended here (abandoned while waiting, stage "callback");
    the callback is counted on its own."""
    if state == S.RESERVED:
        return Transition({"last_seen_at": now}, LeaveQueue())  # a line is held: take it
    if state != S.WAITING:
        return Transition({}, holding_answer(call, state))
    changes = {
        "state": S.CALLBACK,
        "callback_at": now,
        "callback_number": event.number,
        "callback_until": event.until,
        "callback_tries": 0,
        "callback_after": None,
        "last_seen_at": None,  # not polling: never swept as silent, still served in turn
    }
    counts = (
        Count(
            "abandoned",
            call.period_id,
            option=call.option_id,
            stage="callback",
            seconds=seconds(call.waiting_since, now),
        ),
        Count("callback", call.period_id, option=call.option_id, stage="requested"),
    )
    return Transition(changes, CallbackBooked(call.language, event.until), counts)


def on_callback(
    call: CallFacts, state: S, event: Event, now: dt.datetime, limits: Limits
) -> Transition | None:
    """What an event does to an open callback; None where it does what it does to any call.

    The caller's first call is over (they hung up after booking): its hold polls, queue
    result and status say nothing about the callback. The request is served in turn by the
    pass (`LineReserved`: the counsellor's line is rung first, through Twilio's REST API);
    the counsellor accepts in the whisper (`Accepted`), and only then is the caller called
    (`RingCaller`); their 1 joins the two (`CallerAnswered`). Whoever is not reached, the
    line is let go: a counsellor who missed it rests (as for any call) and the request waits
    in its place; a caller not reached is tried again later, `callback_retries` times."""
    line = call.line_id
    match event:
        case HoldPolled():
            return Transition({}, Goodbye(call.language))  # a late poll of the first call
        case QueueLeft() | StatusReported() | CallbackAsked():
            return Transition({}, Nothing())  # the first call ended, as booked
        case LineReserved(line_id=reserved):
            if state != S.CALLBACK or line is not None:
                return Transition({}, Nothing())
            changes = {"state": S.RINGING, "line_id": reserved, "reserved_at": now}
            return Transition(changes, Nothing(), (RingCounsellor(reserved),))
        case CounsellorUnreached(line_id=unreached):
            if state != S.RINGING or line != unreached:
                return Transition({}, Nothing())
            after = {"callback_after": now + limits.callback_pause}
            return _back_to_callback(call, cooldown=False, extra=after)
        case Accepted(line_id=accepted, org_id=org, leg_sid=leg):
            return _accepted(call, state, (accepted, org, leg), now)
        case DialEnded(line_id=ended) if ended == line:  # the counsellor's leg ended
            return _counsellor_leg_ended(call, state, now, limits)
        case DialEnded():
            return Transition({}, Nothing())  # a leg of an earlier try
        case CallerAnswered(attempt=attempt):
            return _caller_answered(call, state, attempt, now)
        case CallerLegEnded(attempt=attempt):
            if attempt != call.callback_tries + 1:
                return Transition({}, Nothing())  # an earlier try
            if state == S.CONNECTED:
                return finish(call, state, now, Nothing())
            if state == S.CALLING:
                return _not_reached(call, now, limits, rest=True)
            return Transition({}, Nothing())
        case CallbackExpired():
            if state != S.CALLBACK:
                return Transition({}, Nothing())  # a try under way finishes first
            return finish(call, state, now, Nothing(), stage=CALLBACK_EXPIRED)
        case WentSilent():
            if state == S.RINGING:  # the counsellor's leg went unheard: the request waits
                return _back_to_callback(call, cooldown=False)
            if state == S.CALLING:
                return _not_reached(call, now, limits, rest=True)
            return Transition({}, Nothing())
    return None


def _accepted(call: CallFacts, state: S, by: tuple[str, str, str], now: dt.datetime) -> Transition:
    """The counsellor accepted in the whisper: now the caller is called, while the counsellor
    waits in the call's conference (their leg kept, to take them out of it if the caller is
    not reached). `by`: the line, its organisation and the counsellor's leg."""
    accepted, org, leg = by
    line = call.line_id
    if state == S.CALLING and line == accepted:
        return Transition({}, CallCaller(accepted))  # a retried accept
    if state != S.RINGING or line != accepted:
        return Transition({}, Decline())
    attempt = call.callback_tries + 1
    changes = {"state": S.CALLING, "org_id": org, "reserved_at": now, "leg_sid": leg or None}
    tried = Count("callback", call.period_id, option=call.option_id, stage="attempted")
    return Transition(changes, CallCaller(accepted), (RingCaller(attempt), tried))


def _counsellor_leg_ended(
    call: CallFacts, state: S, now: dt.datetime, limits: Limits
) -> Transition:
    if state == S.CONNECTED:
        return finish(call, state, now, Nothing())
    if state == S.CALLING:
        # Hung up while we called the caller: that try counts (the caller's leg may
        # still ring; its answer and status name a try that is over).
        return _not_reached(call, now, limits, rest=False)
    # Missed or refused in the whisper: the line rests, as for any call.
    return _back_to_callback(call, cooldown=True)


def _caller_answered(call: CallFacts, state: S, attempt: int, now: dt.datetime) -> Transition:
    """The caller pressed 1: they join the counsellor."""
    line = call.line_id
    if state == S.CONNECTED and attempt == call.callback_tries + 1 and line:
        return Transition({}, JoinCounsellor(line, call.language))  # a retried key
    if state != S.CALLING or attempt != call.callback_tries + 1 or line is None:
        return Transition({}, Decline())
    changes = {"state": S.CONNECTED, "connected_at": now, "callback_number": None}
    joined = Count(
        "callback",
        call.period_id,
        option=call.option_id,
        org=call.org_id,
        stage="connected",
        seconds=seconds(call.waiting_since, now),
    )
    joining = JoinCounsellor(line, call.language)
    return Transition(changes, joining, (MarkLine(line, "talking"), joined))


def _back_to_callback(
    call: CallFacts, *, cooldown: bool, rest: bool = False, extra: dict[str, Any] | None = None
) -> Transition:
    """Back to its place in the queue (waiting time kept); the line is let go."""
    changes: dict[str, Any] = {
        **(extra or {}),
        "state": S.CALLBACK,
        "line_id": None,
        "reserved_at": None,
        "org_id": None,
    }
    if call.leg_sid is not None:
        changes["leg_sid"] = None
    effects = (*release(call.line_id, cooldown, rest), RunPass(), *_free(call, rest))
    return Transition(changes, Nothing(), effects)


def _free(call: CallFacts, waiting: bool) -> tuple[Effect, ...]:
    """The counsellor still waiting in the conference (`waiting`) for a caller not reached is
    taken out of it after commit, and told why."""
    if not waiting or call.leg_sid is None or call.line_id is None:
        return ()
    return (FreeCounsellor(call.leg_sid, call.line_id),)


def _not_reached(call: CallFacts, now: dt.datetime, limits: Limits, *, rest: bool) -> Transition:
    """The caller did not answer (or did not press 1): try again later, or give up. `rest`:
    the counsellor is still on the line hearing so; their line rests a moment (not a miss),
    so that no caller is put through to it before they have hung up."""
    tries = call.callback_tries + 1
    if tries <= limits.callback_retries:
        extra = {"callback_tries": tries, "callback_after": now + limits.callback_retry_after}
        return _back_to_callback(call, cooldown=False, rest=rest, extra=extra)
    ended = finish(call, S(call.state), now, Nothing(), stage=CALLBACK_FAILED, rest=rest)
    effects = (*ended.effects, *_free(call, rest))
    changes = {**ended.changes, "callback_tries": tries}
    return dataclasses.replace(ended, changes=changes, effects=effects)
