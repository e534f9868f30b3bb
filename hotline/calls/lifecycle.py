"""A call's life as one pure function: `transition(call, event, now, limits)`.

Everything that happens to a call is an event (`OptionChosen`, `QueueLeft`, `DialEnded`,
`StatusReported`, `LineReserved`, `WentSilent`, ...). `transition` answers with the changes to
store, the decision for the caller (rendered to TwiML by `hotline.ivr`) and the effects for
the service to carry out (release a line, run an assignment pass, count a metric). No I/O, no
clock, no Twilio, no SQLAlchemy: the webhooks, the routing pass, the sweeps and the simulator
all move calls through this one function, and this module is the only place that says what
state a call is in next.

Invariants (tested exhaustively and with a hypothesis state machine):
- a terminal state (completed, abandoned, closed) never changes;
- a call is connected at most once, and only from ringing on the line it rang;
- a line is released once: only the transition that takes a call off its line releases it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Protocol


class CallState(enum.StrEnum):
    MENU = "menu"  # hearing the voice guidance
    WAITING = "waiting"  # held in the queue of its option
    RESERVED = "reserved"  # a line is held for it; its next hold poll leaves the queue
    RINGING = "ringing"  # the counsellor's line is being dialled
    CONNECTED = "connected"  # the counsellor accepted: counts as 接続完了
    COMPLETED = "completed"  # ended after being connected
    ABANDONED = "abandoned"  # the caller hung up before being connected
    CLOSED = "closed"  # no staffed line could serve the option: heard the closed message
    # A callback (the caller asked to be called back instead of holding, and hung up):
    CALLBACK = "callback"  # the request keeps the caller's place in the queue, no line yet
    CALLING = "calling"  # the counsellor accepted; the caller's number is being dialled


S = CallState
TERMINAL = frozenset({S.COMPLETED, S.ABANDONED, S.CLOSED})
OPEN = tuple(s for s in S if s not in TERMINAL)
HOLDING = (S.WAITING, S.RESERVED)  # in the queue, as far as the caller knows
# A hold poll of a call in these states (not a callback) marks it seen, whatever else it does:
# the store marks it as it reads it (`store.polled`), one statement rather than two.
SEEN_BY_POLL = HOLDING
QUEUED = (S.WAITING, S.CALLBACK)  # what the routing pass serves, in one queue order
ON_A_LINE = (S.RESERVED, S.RINGING, S.CALLING, S.CONNECTED)  # a line is held for the call
# Where an ended callback stopped (`end_stage`): not reached after every try, or past its time.
CALLBACK_FAILED, CALLBACK_EXPIRED = "cb-failed", "cb-expired"


class CallFacts(Protocol):
    """What the lifecycle reads of a call (the ORM row fits, and so does `CallView`)."""

    @property
    def state(self) -> str: ...
    @property
    def period_id(self) -> str: ...
    @property
    def entry(self) -> str: ...
    @property
    def option_id(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def line_id(self) -> str | None: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def waiting_since(self) -> dt.datetime | None: ...
    @property
    def connected_at(self) -> dt.datetime | None: ...
    @property
    def queue_errors(self) -> int: ...
    @property
    def queue_error_at(self) -> dt.datetime | None: ...
    @property
    def callback_at(self) -> dt.datetime | None: ...
    @property
    def callback_tries(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CallView:
    """A call as plain data: for tests, the simulator, and the routing pass."""

    state: str = S.MENU
    period_id: str = "none"
    entry: str = "9999"
    option_id: str | None = None
    language: str | None = None
    line_id: str | None = None
    org_id: str | None = None
    waiting_since: dt.datetime | None = None
    connected_at: dt.datetime | None = None
    queue_errors: int = 0
    queue_error_at: dt.datetime | None = None
    callback_at: dt.datetime | None = None
    callback_tries: int = 0

    def with_changes(self, changes: dict[str, Any]) -> CallView:
        known = {f.name for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if k in known})


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds the lifecycle applies (from settings)."""

    # Twilio answers a full or failing queue at once: a caller re-enqueued each time would
    # loop in silence. After this many queue failures within the window, the backup serves.
    queue_errors: int = 2
    queue_error_window: dt.timedelta = dt.timedelta(seconds=60)
    # A callback whose caller does not answer is tried again this many times, this far apart.
    callback_retries: int = 2
    callback_retry_after: dt.timedelta = dt.timedelta(minutes=5)
    # Twilio did not take our request to ring the counsellor: the request waits this long.
    callback_pause: dt.timedelta = dt.timedelta(seconds=60)


# -- events -----------------------------------------------------------------------------------


class QueueOutcome(enum.StrEnum):
    """Why the caller left the hold (Twilio's QueueResult, mapped at the edge)."""

    LEAVE = "leave"  # our <Leave/>: a line is held
    HANGUP = "hangup"  # the caller hung up while holding
    FAILED = "failed"  # the queue failed (full, error, system error, a value we do not know)


class DialOutcome(enum.StrEnum):
    """How the counsellor's leg ended (Twilio's DialCallStatus, mapped at the edge)."""

    COMPLETED = "completed"  # answered: by the counsellor, a voicemail, or refused in whisper
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"  # the caller hung up while the line rang


@dataclass(frozen=True, slots=True)
class Arrived:
    """A webhook for the call came in (the first creates it)."""


@dataclass(frozen=True, slots=True)
class MenuAnswered:
    """A key (or silence) in a menu that leads to another menu prompt, not to a queue."""

    menu_id: str
    attempt: int
    digits: str


@dataclass(frozen=True, slots=True)
class OptionChosen:
    """The caller chose an option (or was given the default): join its queue.

    `staffed` says whether any line that may serve it is on duty now.
    """

    option_id: str
    language: str | None
    priority: int
    staffed: bool
    menu_id: str = ""
    attempt: int = 0
    digits: str = ""
    default: bool = False


@dataclass(frozen=True, slots=True)
class HoldPolled:
    """Twilio asked for the next hold segment; `staffed` is None when not checked this time.

    The option is the one in the hold's URL, for a call whose state was lost.
    """

    option_id: str
    language: str | None
    priority: int
    staffed: bool | None


@dataclass(frozen=True, slots=True)
class QueueLeft:
    outcome: QueueOutcome
    result: str = ""  # Twilio's word, for the event log and the idempotency key


@dataclass(frozen=True, slots=True)
class WhisperAnswered:
    """The counsellor's leg answered; the whisper is about to play."""

    line_id: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """The counsellor pressed 1 in the whisper; `org_id` owns the line."""

    line_id: str
    org_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The counsellor pressed another key, or none (voicemail, missed)."""

    line_id: str


@dataclass(frozen=True, slots=True)
class DialEnded:
    line_id: str
    outcome: DialOutcome
    dial_sid: str = ""


@dataclass(frozen=True, slots=True)
class StatusReported:
    """Twilio's status callback; `final` for completed, busy, failed, no-answer, canceled."""

    status: str
    sequence: int
    final: bool


@dataclass(frozen=True, slots=True)
class LineReserved:
    """An assignment pass gave the call a line."""

    line_id: str


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    """The caller did not take the reserved line in time (hung up, lost poll)."""


@dataclass(frozen=True, slots=True)
class WentSilent:
    """No hold poll, or no dial result, for too long: Twilio's callbacks were lost."""


@dataclass(frozen=True, slots=True)
class ForceEnded:
    """The call is over whatever we last heard: Twilio's REST API says so (`twilio`), a
    conversation passed the maximum length with no answer from Twilio (`max-talk`), or an
    operator ended it by hand (`operator`). Frees its line; counted by reason."""

    reason: str


@dataclass(frozen=True, slots=True)
class CallbackAsked:
    """The holding caller confirmed a callback. `number` is already sealed with the records'
    key (the number itself never reaches the lifecycle); `until` ends the request."""

    number: str
    until: dt.datetime


@dataclass(frozen=True, slots=True)
class CounsellorUnreached:
    """Twilio did not take our request to ring the counsellor of a callback (REST failed)."""

    line_id: str


@dataclass(frozen=True, slots=True)
class CallerAnswered:
    """The caller we called back pressed 1 to talk (try `attempt`)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class CallerLegEnded:
    """Our call to the caller (try `attempt`) ended: before they pressed 1 (not reached), or
    after a conversation. `outcome` is Twilio's final status, mapped."""

    attempt: int
    outcome: DialOutcome


@dataclass(frozen=True, slots=True)
class CallbackExpired:
    """The callback request passed its time (the end of its option's hours)."""


Event = (
    Arrived
    | MenuAnswered
    | OptionChosen
    | HoldPolled
    | QueueLeft
    | WhisperAnswered
    | Accepted
    | Refused
    | DialEnded
    | StatusReported
    | LineReserved
    | ReservationExpired
    | WentSilent
    | ForceEnded
    | CallbackAsked
    | CounsellorUnreached
    | CallerAnswered
    | CallerLegEnded
    | CallbackExpired
)
EVENTS: tuple[type[Any], ...] = Event.__args__  # a UnionType


# -- decisions: what the caller (or the counsellor's leg) hears next ---------------------------


@dataclass(frozen=True, slots=True)
class Greet:
    """The greeting and the first menu."""


@dataclass(frozen=True, slots=True)
class AskAgain:
    """The menu prompt the voice guidance decided (hotline.voice.flow)."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hold the caller in the queue of the option (joining, or back after a failed offer)."""

    option_id: str
    language: str | None


@dataclass(frozen=True, slots=True)
class Hold:
    """One more hold segment."""

    option_id: str
    language: str | None


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    """A line is held: leave the hold (the queue's action then dials it)."""


@dataclass(frozen=True, slots=True)
class Dial:
    """Ring the reserved line, with the whisper on the counsellor's leg."""

    line_id: str
    language: str | None


@dataclass(frozen=True, slots=True)
class Backup:
    """Straight to the backup organisation, with an apology (no line held, queue failing)."""


@dataclass(frozen=True, slots=True)
class Closed:
    """No staffed line may serve the option: the closed message, other numbers, goodbye."""

    language: str | None


@dataclass(frozen=True, slots=True)
class Whisper:
    """Tell the counsellor who is calling; press 1 to accept."""

    line_id: str


@dataclass(frozen=True, slots=True)
class Bridge:
    """The counsellor accepted: an empty document, and Twilio joins the two."""


@dataclass(frozen=True, slots=True)
class Decline:
    """End the counsellor's leg without joining (the caller is gone, or the key was not 1)."""


@dataclass(frozen=True, slots=True)
class Goodbye:
    """The conversation is over."""

    language: str | None


@dataclass(frozen=True, slots=True)
class Nothing:
    """Nothing to say: an empty document (the caller is gone), or 204 to a status callback."""


@dataclass(frozen=True, slots=True)
class CallbackBooked:
    """The callback is booked: thank the caller, say the latest time, end the call."""

    language: str | None
    until: dt.datetime


@dataclass(frozen=True, slots=True)
class CallCaller:
    """The counsellor accepted a callback: tell them the caller is being called, and hold
    their leg where the caller's leg will join it."""

    line_id: str


@dataclass(frozen=True, slots=True)
class JoinCounsellor:
    """The caller we called back pressed 1: join the waiting counsellor."""

    line_id: str


Decision = (
    Greet
    | AskAgain
    | Enqueue
    | Hold
    | LeaveQueue
    | Dial
    | Backup
    | Closed
    | Whisper
    | Bridge
    | Decline
    | Goodbye
    | Nothing
    | CallbackBooked
    | CallCaller
    | JoinCounsellor
)
DECISIONS: dict[str, type[Any]] = {t.__name__: t for t in Decision.__args__}


def dump_decision(d: Decision) -> dict[str, Any]:
    """The decision as JSON, kept in the event log so that a retried step hears the same."""
    data = {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in dataclasses.asdict(d).items()
    }
    return {"kind": type(d).__name__, **data}


def load_decision(data: dict[str, Any]) -> Decision | None:
    kind = DECISIONS.get(str(data.get("kind")))
    if kind is None:
        return None
    fields = {f.name for f in dataclasses.fields(kind)}
    values = {k: v for k, v in data.items() if k in fields}
    if "until" in values and isinstance(values["until"], str):
        values["until"] = dt.datetime.fromisoformat(values["until"])
    result: Decision = kind(**values)
    return result


# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseLine:
    """Free the line held for the call; a line that did not take the call rests first
    (`cooldown`, a miss), and so does one whose counsellor is still hearing why it is let go
    (`rest`, no miss: a callback's caller was not reached)."""

    line_id: str
    cooldown: bool = False
    rest: bool = False


@dataclass(frozen=True, slots=True)
class MarkLine:
    """The call's line is now ringing, or talking (the line's presence follows the call)."""

    line_id: str
    presence: str  # "ringing" or "talking"


@dataclass(frozen=True, slots=True)
class RunPass:
    """Supply or demand changed: run an assignment pass."""


@dataclass(frozen=True, slots=True)
class Count:
    """A fact for the live metrics, published after the transaction commits."""

    kind: str  # received, selected, closed, connected, completed, abandoned, forced
    period: str
    option: str | None = None
    entry: str | None = None
    org: str | None = None
    stage: str | None = None  # where an abandoned call was; why a call was forced to end
    seconds: float | None = None  # waited (connected, abandoned) or talked (completed)


@dataclass(frozen=True, slots=True)
class RingCounsellor:
    """After commit: ask Twilio to ring the line for a callback (its whisper, then 1)."""

    line_id: str


@dataclass(frozen=True, slots=True)
class RingCaller:
    """After commit: ask Twilio to call the caller back (try `attempt`), from our number."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Dequeue:
    """After commit: ask Twilio to take the holding caller out of the queue at once, to their
    reserved line (pushed reservation). Their next hold poll does the same if this fails."""


Push = RingCounsellor | RingCaller | Dequeue
Effect = ReleaseLine | MarkLine | RunPass | Count | RingCounsellor | RingCaller | Dequeue


@dataclass(frozen=True, slots=True)
class Transition:
    changes: dict[str, Any]
    decision: Decision
    effects: tuple[Effect, ...] = ()

    @property
    def state(self) -> str | None:
        """The state the call moves to, or None if it stays."""
        value = self.changes.get("state")
        return None if value is None else str(value)


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
    state = S(call.state)
    if call.callback_at is not None and state not in TERMINAL:
        answer = _callback(call, state, event, now, limits)
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
        case Accepted(line_id=line, org_id=org):
            return _accept(call, state, line, org, now)
        case Refused():
            return Transition({}, Decline())
        case DialEnded():
            return _dial_ended(call, state, event, now)
        case StatusReported(final=final):
            if not final or state in TERMINAL:
                return Transition({}, Nothing())
            return _end(call, state, now, Nothing())
        case LineReserved(line_id=line):
            if state != S.WAITING or call.line_id is not None:
                return Transition({}, Nothing())  # the pass only offers waiting callers
            changes = {"state": S.RESERVED, "line_id": line, "reserved_at": now}
            return Transition(changes, LeaveQueue(), (Dequeue(),))
        case ReservationExpired():
            if state != S.RESERVED:
                return Transition({}, Nothing())
            held = call.line_id
            changes = {"state": S.WAITING, "reserved_at": None, "line_id": None}
            return Transition(changes, Nothing(), _release(held))
        case WentSilent():
            if state not in (S.MENU, S.WAITING, S.RESERVED, S.RINGING):
                return Transition({}, Nothing())
            return _end(call, state, now, Nothing())
        case ForceEnded(reason=reason):
            if state in TERMINAL:
                return Transition({}, Nothing())
            ended = _end(call, state, now, Nothing())
            forced = Count("forced", call.period_id, option=call.option_id, stage=reason)
            return dataclasses.replace(ended, effects=(*ended.effects, forced))
        case CallbackAsked():
            return _book_callback(call, state, event, now)
        case CounsellorUnreached() | CallerAnswered() | CallerLegEnded() | CallbackExpired():
            # Events of a callback's own legs: a call that is not a callback has none.
            return Transition({}, Decline() if isinstance(event, CallerAnswered) else Nothing())
    raise TypeError(f"not a call event: {event!r}")  # pragma: no cover - typing guards it


def _release(line_id: str | None, cooldown: bool = False, rest: bool = False) -> tuple[Effect, ...]:
    return () if line_id is None else (ReleaseLine(line_id, cooldown, rest),)


def _seconds(start: dt.datetime | None, end: dt.datetime) -> float | None:
    return None if start is None else max((end - start).total_seconds(), 0.0)


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
        return Transition({}, _holding_answer(call, state))
    option, language = event.option_id, event.language
    selected = Count("selected", call.period_id, option=option)
    changes: dict[str, Any]
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


def _holding_answer(call: CallFacts, state: S) -> Decision:
    if state == S.CLOSED:
        return Closed(call.language)
    if state in TERMINAL or call.option_id is None:
        return Nothing()
    return Enqueue(call.option_id, call.language)


def _hold(call: CallFacts, state: S, event: HoldPolled, now: dt.datetime) -> Transition:
    if state == S.MENU:  # lost state: the caller is on hold, so they chose and waited
        joined = _join(call, state, event, now, event.staffed, event.priority)
        if joined.state == S.WAITING:
            option, language = event.option_id, event.language
            return dataclasses.replace(joined, decision=Hold(option, language))
        return joined
    if state == S.RESERVED:
        return Transition({"last_seen_at": now}, LeaveQueue())
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
    return Transition({"last_seen_at": now}, Hold(option, call.language))


def _left_queue(
    call: CallFacts, state: S, event: QueueLeft, now: dt.datetime, limits: Limits
) -> Transition:
    if event.outcome == QueueOutcome.HANGUP:
        if state in TERMINAL:
            return Transition({}, Nothing())
        return _end(call, state, now, Nothing())
    if event.outcome == QueueOutcome.LEAVE:
        if state == S.RESERVED and call.line_id is not None:
            ring = (MarkLine(call.line_id, "ringing"),)
            return Transition({"state": S.RINGING}, Dial(call.line_id, call.language), ring)
        return _to_backup(call, state, now)  # left the hold without a line: the hold failed
    # The queue failed: back in the same queue, waiting time kept, unless it keeps failing.
    if state in TERMINAL:
        return Transition({}, _holding_answer(call, state))
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
        changes = {**counted, "state": S.RINGING}
        ring = (MarkLine(call.line_id, "ringing"),)
        return Transition(changes, Dial(call.line_id, call.language), ring)
    out = _to_backup(call, state, now)
    return dataclasses.replace(out, changes={**counted, **out.changes})


def _to_backup(call: CallFacts, state: S, now: dt.datetime) -> Transition:
    """Straight to the backup organisation, outside our queue. A holding call leaves the
    queue for good (abandoned while waiting, as far as our lines go): no line is offered to a
    caller who is talking to the backup, and none is held for them."""
    if state in HOLDING:
        return _end(call, state, now, Backup())
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
    effects = (*_release(call.line_id, cooldown), RunPass())
    option = call.option_id
    decision: Decision = Enqueue(option, call.language) if option else Backup()
    return Transition(changes, decision, effects)


def _accept(call: CallFacts, state: S, line: str, org: str, now: dt.datetime) -> Transition:
    if state == S.CONNECTED and call.line_id == line:
        return Transition({}, Bridge())  # a retried accept
    if state != S.RINGING or call.line_id != line:
        return Transition({}, Decline())
    changes = {"state": S.CONNECTED, "connected_at": now, "org_id": org}
    count = Count(
        "connected",
        call.period_id,
        option=call.option_id,
        entry=call.entry,
        org=org,
        seconds=_seconds(call.waiting_since, now),
    )
    return Transition(changes, Bridge(), (MarkLine(line, "talking"), count))


def _dial_ended(call: CallFacts, state: S, event: DialEnded, now: dt.datetime) -> Transition:
    if state in TERMINAL:
        return Transition({}, Nothing())
    if state == S.MENU:  # lost state: after a conversation say goodbye, else the backup
        done = event.outcome == DialOutcome.COMPLETED
        return Transition({}, Goodbye(call.language) if done else Backup())
    if call.line_id != event.line_id:
        # A late result of an earlier offer: the call has moved on.
        return Transition({}, _holding_answer(call, state))
    if state == S.CONNECTED:
        return _end(call, state, now, Goodbye(call.language))
    if event.outcome == DialOutcome.CANCELED:  # the caller hung up while the line rang
        return _end(call, state, now, Nothing())
    # Not accepted in the whisper (busy, missed, voicemail, refused): the line rests and
    # the caller goes back to the head of the queue.
    return _requeue(call, state, now, cooldown=True)


def _end(
    call: CallFacts,
    state: S,
    now: dt.datetime,
    decision: Decision,
    stage: str | None = None,
    *,
    rest: bool = False,
) -> Transition:
    """The call is over: connected calls complete, the others were abandoned where they were.

    A callback's first call was counted when it was booked: its end is counted as a
    callback (connected when it was, else failed or expired), and the number is erased.
    `rest`: the line rests a moment as it is let go (see `ReleaseLine`)."""
    effects: list[Effect] = list(_release(call.line_id, rest=rest))
    if call.line_id is not None:
        effects.append(RunPass())  # the line is free for the next caller
    changes: dict[str, Any] = {"ended_at": now, "line_id": None}
    if call.callback_at is not None:
        changes["callback_number"] = None
        if state == S.CONNECTED:
            changes["state"] = S.COMPLETED
            return Transition(changes, decision, tuple(effects))
        stage = stage or CALLBACK_FAILED
        changes.update(state=S.ABANDONED, end_stage=stage)
        kind = "expired" if stage == CALLBACK_EXPIRED else "failed"
        effects.append(Count("callback", call.period_id, option=call.option_id, stage=kind))
        return Transition(changes, decision, tuple(effects))
    if state == S.CONNECTED:
        changes["state"] = S.COMPLETED
        effects.append(
            Count(
                "completed",
                call.period_id,
                option=call.option_id,
                org=call.org_id,
                seconds=_seconds(call.connected_at, now),
            )
        )
    else:
        stage = "waiting" if state in HOLDING else str(state)
        changes.update(state=S.ABANDONED, end_stage=stage)
        waited = _seconds(call.waiting_since, now) if stage == "waiting" else None
        effects.append(
            Count("abandoned", call.period_id, option=call.option_id, stage=stage, seconds=waited)
        )
    return Transition(changes, decision, tuple(effects))


# -- callback ---------------------------------------------------------------------------------


def _book_callback(call: CallFacts, state: S, event: CallbackAsked, now: dt.datetime) -> Transition:
    """A holding caller asked to be called back: the request keeps their place in the queue
    (same row, waiting time and priority), with no line and no polling. For the published
    per-attempt figures this call ended here (abandoned while waiting, stage "callback");
    the callback is counted on its own."""
    if state == S.RESERVED:
        return Transition({"last_seen_at": now}, LeaveQueue())  # a line is held: take it
    if state != S.WAITING:
        return Transition({}, _holding_answer(call, state))
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
            seconds=_seconds(call.waiting_since, now),
        ),
        Count("callback", call.period_id, option=call.option_id, stage="requested"),
    )
    return Transition(changes, CallbackBooked(call.language, event.until), counts)


def _callback(
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
        case Accepted(line_id=accepted, org_id=org):
            if state == S.CALLING and line == accepted:
                return Transition({}, CallCaller(accepted))  # a retried accept
            if state != S.RINGING or line != accepted:
                return Transition({}, Decline())
            attempt = call.callback_tries + 1
            changes = {"state": S.CALLING, "org_id": org, "reserved_at": now}
            tried = Count("callback", call.period_id, option=call.option_id, stage="attempted")
            return Transition(changes, CallCaller(accepted), (RingCaller(attempt), tried))
        case DialEnded(line_id=ended) if ended == line:  # the counsellor's leg ended
            if state == S.CONNECTED:
                return _end(call, state, now, Nothing())
            if state == S.CALLING:
                # Hung up while we called the caller: that try counts (the caller's leg may
                # still ring; its answer and status name a try that is over).
                return _not_reached(call, now, limits, rest=False)
            # Missed or refused in the whisper: the line rests, as for any call.
            return _back_to_callback(call, cooldown=True)
        case DialEnded():
            return Transition({}, Nothing())  # a leg of an earlier try
        case CallerAnswered(attempt=attempt):
            if state == S.CONNECTED and attempt == call.callback_tries + 1 and line:
                return Transition({}, JoinCounsellor(line))  # a retried key
            if state != S.CALLING or attempt != call.callback_tries + 1 or line is None:
                return Transition({}, Decline())
            changes = {"state": S.CONNECTED, "connected_at": now, "callback_number": None}
            joined = Count(
                "callback",
                call.period_id,
                option=call.option_id,
                org=call.org_id,
                stage="connected",
                seconds=_seconds(call.waiting_since, now),
            )
            return Transition(changes, JoinCounsellor(line), (MarkLine(line, "talking"), joined))
        case CallerLegEnded(attempt=attempt):
            if attempt != call.callback_tries + 1:
                return Transition({}, Nothing())  # an earlier try
            if state == S.CONNECTED:
                return _end(call, state, now, Nothing())
            if state == S.CALLING:
                return _not_reached(call, now, limits, rest=True)
            return Transition({}, Nothing())
        case CallbackExpired():
            if state != S.CALLBACK:
                return Transition({}, Nothing())  # a try under way finishes first
            return _end(call, state, now, Nothing(), stage=CALLBACK_EXPIRED)
        case WentSilent():
            if state == S.RINGING:  # the counsellor's leg went unheard: the request waits
                return _back_to_callback(call, cooldown=False)
            if state == S.CALLING:
                return _not_reached(call, now, limits, rest=True)
            return Transition({}, Nothing())
    return None


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
    effects = (*_release(call.line_id, cooldown, rest), RunPass())
    return Transition(changes, Nothing(), effects)


def _not_reached(call: CallFacts, now: dt.datetime, limits: Limits, *, rest: bool) -> Transition:
    """The caller did not answer (or did not press 1): try again later, or give up. `rest`:
    the counsellor is still on the line hearing so; their line rests a moment (not a miss),
    so that no caller is put through to it before they have hung up."""
    tries = call.callback_tries + 1
    if tries <= limits.callback_retries:
        extra = {"callback_tries": tries, "callback_after": now + limits.callback_retry_after}
        return _back_to_callback(call, cooldown=False, rest=rest, extra=extra)
    ended = _end(call, S(call.state), now, Nothing(), stage=CALLBACK_FAILED, rest=rest)
    return dataclasses.replace(ended, changes={**ended.changes, "callback_tries": tries})


# -- idempotency ------------------------------------------------------------------------------


def step_key(call: CallFacts, event: Event, offer: str = "") -> str | None:
    """The event log's key for this event: a retried webhook has the same key, so it is
    applied once and answered with the stored decision. None: not logged (hold polls and the
    routing pass repeat by nature and are idempotent by state). `offer` names the current offer
    of a line to this call (line and time reserved), so that a second offer of the same line
    is a new step.
    """
    match event:
        case Arrived():
            return "incoming"
        case (
            MenuAnswered(menu_id=m, attempt=a, digits=d)
            | OptionChosen(menu_id=m, attempt=a, digits=d)
        ) if m:
            # The key pressed is part of the step: a repeat (9) and then a choice at the same
            # try are two steps, while a retried request with the same key is the same one.
            return f"menu:{m}:{a}:{(d or '-')[:4]}"
        case QueueLeft(result=r):
            # Twilio sends nothing that tells one failed queue from the next: the failures
            # counted so far are part of the step, so repeated failures are counted (and
            # capped) rather than taken for retries of the first one.
            return f"queue-result:{r}:{offer}:{call.queue_errors}"
        case Accepted(line_id=line):
            return f"accepted:{line}:{offer}"
        case DialEnded(line_id=line, dial_sid=sid):
            return f"dial-result:{line}:{sid}"
        case StatusReported(status=status, sequence=seq):
            return f"status:{status}:{seq}"
        case CallbackAsked():
            return "callback-asked"
        case CounsellorUnreached(line_id=line):
            return f"counsellor-unreached:{line}:{offer}"
        case CallerAnswered(attempt=a):
            return f"caller-answered:{a}"
        case CallerLegEnded(attempt=a):
            return f"caller-leg:{a}"
    return None


def event_kind(event: Event) -> str:
    """The event log's `kind` column."""
    return {
        Arrived: "incoming",
        MenuAnswered: "menu",
        OptionChosen: "queued",
        QueueLeft: "queue-result",
        Accepted: "accepted",
        DialEnded: "dial-result",
        StatusReported: "status",
        CallbackAsked: "callback",
        CounsellorUnreached: "callback-counsellor",
        CallerAnswered: "callback-answered",
        CallerLegEnded: "callback-leg",
    }.get(type(event), type(event).__name__.lower())
