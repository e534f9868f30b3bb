"""A call's life as one pure function: `transition(call, event, now, limits)`.

Everything that happens to a call is an event (`OptionChosen`, `QueueLeft`, `DialEnded`,
`StatusReported`, `LineReserved`, `WentSilent`, ...). `transition` answers with the changes to
store, the decision for the caller (rendered to TwiML by `hotline.ivr`) and the effects for
the service to carry out (release a line, run an assignment pass, count a metric). No I/O, no
clock, no Twilio, no SQLAlchemy: the webhooks, the routing pass, the sweeps and the simulator
all move calls through this one function, and this module is the only place that says what
state a call is in next.

This module keeps `transition` and its dispatch; the declarations live beside it and stay
importable from here: `states` (the states, `CallFacts`, `CallView`, `Limits`), `events`
(and their event-log keys), `decisions`, `effects` (and `Transition`), `ending` (the end
of a call), `callback` (the callback branch) and `conference` (the events of the call's
conference: its legs, its phases, the in-call actions).

Invariants (tested exhaustively and with a hypothesis state machine):
- a terminal state (completed, abandoned, closed) never changes;
- a call is connected at most once, and only from ringing on the line it rang;
- a line is released once: only the transition that takes a call off its line releases it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

# Re-exported: the declarations stay importable from here (mypy: no_implicit_reexport).
# isort: off
from hotline.calls.states import (
    QUEUE_FULL as QUEUE_FULL,
    CallState as CallState,
    S as S,
    TERMINAL as TERMINAL,
    OPEN as OPEN,
    HOLDING as HOLDING,
    SEEN_BY_POLL as SEEN_BY_POLL,
    QUEUED as QUEUED,
    ON_A_LINE as ON_A_LINE,
    CALLBACK_FAILED as CALLBACK_FAILED,
    CALLBACK_EXPIRED as CALLBACK_EXPIRED,
    TURNED_AWAY as TURNED_AWAY,
    CALLER_HELD as CALLER_HELD,
    REQUEUE as REQUEUE,
    Phase as Phase,
    CallFacts as CallFacts,
    CallView as CallView,
    Limits as Limits,
)
from hotline.calls.events import (
    QueueOutcome as QueueOutcome,
    DialOutcome as DialOutcome,
    Arrived as Arrived,
    MenuAnswered as MenuAnswered,
    OptionChosen as OptionChosen,
    HoldPolled as HoldPolled,
    QueueLeft as QueueLeft,
    WhisperAnswered as WhisperAnswered,
    Accepted as Accepted,
    Refused as Refused,
    DialEnded as DialEnded,
    StatusReported as StatusReported,
    LineReserved as LineReserved,
    ReservationExpired as ReservationExpired,
    WentSilent as WentSilent,
    ForceEnded as ForceEnded,
    CallbackAsked as CallbackAsked,
    CounsellorUnreached as CounsellorUnreached,
    CallerAnswered as CallerAnswered,
    CallerLegEnded as CallerLegEnded,
    CallbackExpired as CallbackExpired,
    TurnedAway as TurnedAway,
    LegEnded as LegEnded,
    Requeued as Requeued,
    ConferenceJoined as ConferenceJoined,
    ConferenceLeft as ConferenceLeft,
    ConferenceEnded as ConferenceEnded,
    HoldSet as HoldSet,
    PartyAdded as PartyAdded,
    PartyGone as PartyGone,
    AllJoined as AllJoined,
    CounsellorLeft as CounsellorLeft,
    TransferredToQueue as TransferredToQueue,
    Supervised as Supervised,
    ACTIONS as ACTIONS,
    Event as Event,
    EVENTS as EVENTS,
    step_key as step_key,
    event_kind as event_kind,
)
from hotline.calls.decisions import (
    Greet as Greet,
    AskAgain as AskAgain,
    Enqueue as Enqueue,
    Hold as Hold,
    LeaveQueue as LeaveQueue,
    Dial as Dial,
    Backup as Backup,
    Closed as Closed,
    QueueFull as QueueFull,
    Whisper as Whisper,
    Bridge as Bridge,
    Decline as Decline,
    Goodbye as Goodbye,
    Nothing as Nothing,
    CallbackBooked as CallbackBooked,
    CallCaller as CallCaller,
    JoinCounsellor as JoinCounsellor,
    Decision as Decision,
    DECISIONS as DECISIONS,
    dump_decision as dump_decision,
    load_decision as load_decision,
    holding_answer as holding_answer,
)
from hotline.calls.effects import (
    ReleaseLine as ReleaseLine,
    MarkLine as MarkLine,
    RunPass as RunPass,
    Count as Count,
    RingCounsellor as RingCounsellor,
    RingCaller as RingCaller,
    Dequeue as Dequeue,
    DropQueue as DropQueue,
    RingLeg as RingLeg,
    Requeue as Requeue,
    FreeCounsellor as FreeCounsellor,
    EndConference as EndConference,
    Push as Push,
    Effect as Effect,
    Transition as Transition,
    release as release,
    seconds as seconds,
)

# isort: on
from hotline.calls.callback import book_callback, on_callback
from hotline.calls.conference import CONFERENCE_EVENTS, back_to_queue, in_conference
from hotline.calls.ending import finish

# -- the function -----------------------------------------------------------------------------


def new_call(
    *, call_sid: str, entry: str, period_id: str, caller: str | None, menu_id: str, now: dt.datetime
) -> tuple[dict[str, Any], Count]:
    """The stored values of a call that just arrived, and the count of it."""
    values: dict[str, Any] = dict(
        call_sid=call_sid,
        entry=entry,
        period_id=period_id,
        caller_hash=caller,
        menu_id=menu_id,
        state=S.MENU,
        priority=0,
        status_seq=-1,
        queue_errors=0,
        created_at=now,
    )
    return values, Count("received", period_id, entry=entry)


def transition(
    call: CallFacts, event: Event, now: dt.datetime, limits: Limits = Limits()
) -> Transition:
    """What `event` does to `call` at `now`: changes, the decision, and the effects."""
    t = _transition(call, event, now, limits)
    if call.phase == REQUEUE and "phase" not in t.changes:
        # A redirect is owed only while holding, and until the caller is heard from the
        # queue: a call that moves on, or whose queue speaks, owes none.
        moved = t.state not in (None, *HOLDING)
        if moved or isinstance(event, QueueLeft):
            return dataclasses.replace(t, changes={**t.changes, "phase": None})
    return t


def _transition(call: CallFacts, event: Event, now: dt.datetime, limits: Limits) -> Transition:
    state = S(call.state)
    if call.callback_at is not None and state not in TERMINAL:
        answer = on_callback(call, state, event, now, limits)
        if answer is not None:
            return answer
    match event:
        case Arrived():
            return Transition({}, Greet())
        case MenuAnswered():
            return Transition({}, AskAgain())
        case OptionChosen():
            return _join(call, state, event, now, event.staffed, event.priority)
        case HoldPolled():
            return _hold(call, state, event, now)
        case QueueLeft():
            return _left_queue(call, state, event, now, limits)
        case WhisperAnswered(line_id=line):
            ok = state == S.RINGING and call.line_id == line
            return Transition({}, Whisper(line) if ok else Decline())
        case Accepted():
            return _accept(call, state, event, now, limits)
        case Refused():
            return Transition({}, Decline())
        case DialEnded():
            return _dial_ended(call, state, event, now)
        case StatusReported(final=final):
            if not final or state in TERMINAL:
                return Transition({}, Nothing())
            return finish(call, state, now, Nothing())
        case LineReserved(line_id=line):
            return _reserved(call, state, line, now)
        case ReservationExpired():
            return _expired(call, state)
        case WentSilent():
            return _silent(call, state, now, limits)
        case ForceEnded(reason=reason):
            if state in TERMINAL:
                return Transition({}, Nothing())
            ended = finish(call, state, now, Nothing())
            forced = Count("forced", call.period_id, option=call.option_id, stage=reason)
            # Ended by an operator or a bound while someone may still be in its conference:
            # the conference is ended too (after commit), not left to the upkeep.
            room = (EndConference(),) if call.conference_sid is not None else ()
            return dataclasses.replace(ended, effects=(*ended.effects, forced, *room))
        case CallbackAsked():
            return book_callback(call, state, event, now)
        case TurnedAway():
            return _turned_away(call, state, event, now)
        case CounsellorUnreached() | CallerAnswered() | CallerLegEnded() | CallbackExpired():
            # Events of a callback's own legs: a call that is not a callback has none.
            return Transition({}, Decline() if isinstance(event, CallerAnswered) else Nothing())
        case _ if isinstance(event, CONFERENCE_EVENTS):
            return in_conference(call, state, event, now)
    raise TypeError(f"not a call event: {event!r}")  # pragma: no cover - typing guards it


def _silent(call: CallFacts, state: S, now: dt.datetime, limits: Limits) -> Transition:
    """No word for too long. A caller ringing in the conference hears the ringback while the
    counsellor's leg went unheard: back to the queue rather than ended (a caller who is gone
    is ended when the redirect finds them so)."""
    if state == S.RINGING and limits.conference:
        return back_to_queue(call, now, cooldown=True)
    if state in HOLDING and call.phase == REQUEUE:
        return Transition({}, Nothing())  # still in the conference: it cannot poll
    if state not in (S.MENU, S.WAITING, S.RESERVED, S.RINGING):
        return Transition({}, Nothing())
    return finish(call, state, now, Nothing())


def _expired(call: CallFacts, state: S) -> Transition:
    if state != S.RESERVED:
        return Transition({}, Nothing())
    changes = {"state": S.WAITING, "reserved_at": None, "line_id": None}
    return Transition(changes, Nothing(), release(call.line_id))


def _reserved(call: CallFacts, state: S, line: str, now: dt.datetime) -> Transition:
    if state != S.WAITING or call.line_id is not None:
        return Transition({}, Nothing())  # the pass only offers waiting callers
    changes = {"state": S.RESERVED, "line_id": line, "reserved_at": now}
    return Transition(changes, LeaveQueue(), (Dequeue(),))


def _turned_away(call: CallFacts, state: S, event: TurnedAway, now: dt.datetime) -> Transition:
    """Not taken, in the menu: ended as abandoned at a stage of its own (`blocked`,
    `withheld`), which no abandoned figure counts (they count the stages callers hung up at);
    it stays a call received. Counted live by reason."""
    if state != S.MENU:
        return Transition({}, Nothing())
    option = event.option_id or call.option_id
    changes: dict[str, Any] = {
        "state": S.ABANDONED,
        "end_stage": event.reason,
        "ended_at": now,
        "option_id": option,
        "language": event.language or call.language,
    }
    counted = Count("turned_away", call.period_id, option=option, stage=event.reason)
    return Transition(changes, Nothing(), (counted,))


def _join(
    call: CallFacts,
    state: S,
    event: OptionChosen | HoldPolled,
    now: dt.datetime,
    staffed: bool | None,
    priority: int,
) -> Transition:
    """Join the option's queue from the menu; in any other state, say what the state says."""
    if state != S.MENU:
        return Transition({}, holding_answer(call, state))
    option, language = event.option_id, event.language
    selected = Count("selected", call.period_id, option=option)
    changes: dict[str, Any]
    if staffed is False and isinstance(event, OptionChosen) and event.to_menu:
        # Told the key is closed and which are open, then the menu again: still choosing, so
        # not counted as closed (a call is counted once, as it ends); the choice is counted.
        return Transition({}, Closed(language), (selected,))
    if staffed is False:
        changes = {"state": S.CLOSED, "option_id": option, "language": language, "ended_at": now}
        closed = Count("closed", call.period_id, option=option)
        return Transition(changes, Closed(language), (selected, closed))
    changes = {
        "state": S.WAITING,
        "option_id": option,
        "language": language,
        "priority": priority,
        "last_seen_at": now,
        "waiting_since": call.waiting_since or now,
    }
    return Transition(changes, Enqueue(option, language), (selected, RunPass()))


def _hold(call: CallFacts, state: S, event: HoldPolled, now: dt.datetime) -> Transition:
    if state == S.MENU:  # lost state: the caller is on hold, so they chose and waited
        joined = _join(call, state, event, now, event.staffed, event.priority)
        if joined.state == S.WAITING:
            option, language = event.option_id, event.language
            return dataclasses.replace(joined, decision=Hold(option, language))
        return joined
    # Polling: in the queue, so no redirect is owed any more.
    seen: dict[str, Any] = {"last_seen_at": now}
    if call.phase == REQUEUE:
        seen["phase"] = None
    if state == S.RESERVED:
        return Transition(seen, LeaveQueue())
    if state == S.CLOSED:
        return Transition({}, Closed(call.language))
    if state in TERMINAL:
        # Ended while still on hold (a polling gap swept it): no line will be offered to a
        # finished call, so leave the hold for the backup rather than hold for ever.
        return Transition({}, LeaveQueue())
    option = call.option_id or event.option_id
    if state == S.WAITING and event.staffed is False:  # every line for it went off duty
        changes = {"state": S.CLOSED, "ended_at": now, "last_seen_at": now}
        return Transition(
            changes, Closed(call.language), (Count("closed", call.period_id, option=option),)
        )
    # Still holding: may be offered a line (and is not swept as silent).
    return Transition(seen, Hold(option, call.language))


def _left_queue(
    call: CallFacts, state: S, event: QueueLeft, now: dt.datetime, limits: Limits
) -> Transition:
    if event.outcome == QueueOutcome.HANGUP:
        if state in TERMINAL:
            return Transition({}, Nothing())
        return finish(call, state, now, Nothing())
    if event.outcome == QueueOutcome.REDIRECTED:
        if state == S.WAITING and call.option_id:
            # Not our doing: the caller is put back in the queue, keeping their place
            # (their waiting time); no failure is counted and no line is let go.
            return Transition({"last_seen_at": now}, Enqueue(call.option_id, call.language))
        event = QueueLeft(QueueOutcome.LEAVE, event.result)  # otherwise as our own leave
    if event.outcome == QueueOutcome.LEAVE:
        if state == S.RESERVED and call.line_id is not None:
            return _dial(call, call.line_id, limits)
        return _to_backup(call, state, now)  # left the hold without a line: the hold failed
    if event.outcome == QueueOutcome.FULL and state == S.WAITING:
        # Re-enqueueing a full queue fails at once again: say so honestly, with what is
        # open now, and end the call (abandoned at its own stage, counted apart).
        full = QueueFull(call.language)
        return finish(call, state, now, full, stage=QUEUE_FULL)
    if event.outcome == QueueOutcome.FULL and state == S.RESERVED and call.line_id is not None:
        # A line is held for them already: dial it rather than a full queue again.
        return _dial(call, call.line_id, limits)
    # The queue failed: back in the same queue, waiting time kept, unless it keeps failing.
    if state in TERMINAL:
        return Transition({}, holding_answer(call, state))
    if state == S.MENU:
        return Transition({}, Backup())  # lost state: no queue known, the backup serves
    if state not in HOLDING:
        return Transition({}, Nothing())  # a line has the call already
    recent = call.queue_error_at is not None and now - call.queue_error_at <= (
        limits.queue_error_window
    )
    errors = (call.queue_errors if recent else 0) + 1
    counted = {"queue_errors": errors, "queue_error_at": now}
    if errors <= limits.queue_errors:
        return _requeue(call, state, now, cooldown=False, extra=counted)
    # Twilio answers a full or failing queue at once: re-enqueueing again would loop the
    # caller in silence. A held line is dialled directly; otherwise the backup serves.
    if state == S.RESERVED and call.line_id is not None:
        dial = _dial(call, call.line_id, limits)
        return dataclasses.replace(dial, changes={**counted, **dial.changes})
    out = _to_backup(call, state, now)
    return dataclasses.replace(out, changes={**counted, **out.changes})


def _dial(call: CallFacts, line: str, limits: Limits) -> Transition:
    """Ring the held line: a two-leg <Dial>, or (`limits.conference`) the caller into the
    call's conference and the counsellor's leg placed by REST after commit."""
    effects: tuple[Effect, ...] = (MarkLine(line, "ringing"),)
    if limits.conference:
        effects += (RingLeg(line),)
    dial = Dial(line, call.language, conference=limits.conference)
    return Transition({"state": S.RINGING}, dial, effects)


def _to_backup(call: CallFacts, state: S, now: dt.datetime) -> Transition:
    """Straight to the backup organisation, outside our queue. A holding call leaves the
    queue for good (abandoned while waiting, as far as our lines go): no line is offered to a
    caller who is talking to the backup, and none is held for them."""
    if state in HOLDING:
        return finish(call, state, now, Backup())
    return Transition({}, Backup())


def _requeue(
    call: CallFacts,
    state: S,
    now: dt.datetime,
    *,
    cooldown: bool,
    extra: dict[str, Any] | None = None,
) -> Transition:
    """Back to the head of the queue with the original waiting time; the line is let go."""
    changes: dict[str, Any] = {
        **(extra or {}),
        "state": S.WAITING,
        "line_id": None,
        "reserved_at": None,
        # Twilio just spoke for this caller: they are here, and may be offered a line at once.
        "last_seen_at": now,
    }
    if call.conference_sid or call.leg_sid:  # out of the call's conference: a new one next
        changes.update(conference_sid=None, leg_sid=None, phase=None)
    effects = (*release(call.line_id, cooldown), RunPass())
    option = call.option_id
    decision: Decision = Enqueue(option, call.language) if option else Backup()
    return Transition(changes, decision, effects)


def _accept(
    call: CallFacts, state: S, event: Accepted, now: dt.datetime, limits: Limits
) -> Transition:
    line, org = event.line_id, event.org_id
    if state == S.CONNECTED and call.line_id == line:
        return Transition({}, Bridge(call.phase is not None))  # a retried accept
    if state != S.RINGING or call.line_id != line:
        return Transition({}, Decline())
    changes: dict[str, Any] = {"state": S.CONNECTED, "connected_at": now, "org_id": org}
    if limits.conference:
        changes.update(phase=Phase.TALKING, leg_sid=event.leg_sid or None)
    effects: tuple[Effect, ...] = (MarkLine(line, "talking"),)
    if call.connected_at is not None:
        # Connected before (then transferred, or back in the queue while held): counted
        # connected once, from its first time.
        changes["connected_at"] = call.connected_at
    else:
        wait = seconds(call.waiting_since, now)
        effects += (
            Count(
                "connected",
                call.period_id,
                option=call.option_id,
                entry=call.entry,
                org=org,
                seconds=wait,
            ),
        )
    return Transition(changes, Bridge(limits.conference), effects)


def _dial_ended(call: CallFacts, state: S, event: DialEnded, now: dt.datetime) -> Transition:
    if state == S.COMPLETED:
        # Ended already (the conference's end came first): the caller still hears goodbye.
        return Transition({}, Goodbye(call.language))
    if state in TERMINAL:
        return Transition({}, Nothing())
    if state == S.MENU:  # lost state: after a conversation say goodbye, else the backup
        done = event.outcome == DialOutcome.COMPLETED
        return Transition({}, Goodbye(call.language) if done else Backup())
    if call.line_id != event.line_id:
        # A late result of an earlier offer: the call has moved on. A caller owed the
        # redirect out of the conference is back by the Dial's own action (its answer is
        # the Enqueue): nothing is owed any more.
        back = {"phase": None, "last_seen_at": now} if call.phase == REQUEUE else {}
        return Transition(back, holding_answer(call, state))
    if state == S.CONNECTED:
        return finish(call, state, now, Goodbye(call.language))
    if event.outcome == DialOutcome.CANCELED:  # the caller hung up while the line rang
        return finish(call, state, now, Nothing())
    # Not accepted in the whisper (busy, missed, voicemail, refused): the line rests and
    # the caller goes back to the head of the queue.
    return _requeue(call, state, now, cooldown=True)
