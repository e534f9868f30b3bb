"""The events of a call's life (pure): what happens to a call, as the edge, the routing
pass and the sweeps tell `hotline.calls.lifecycle.transition`; and their keys in the event
log, so that a retried webhook is applied once.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from hotline.calls.states import CallFacts


class QueueOutcome(enum.StrEnum):
    """Why the caller left the hold (Twilio's QueueResult, mapped at the edge)."""

    LEAVE = "leave"  # our <Leave/>: a line is held
    HANGUP = "hangup"  # the caller hung up while holding
    FAILED = "failed"  # the queue failed (error, system error, a value we do not know)
    FULL = "full"  # Twilio's queue-full: the option's queue holds its MaxSize already
    # `redirected` out of the queue by someone else (Twilio's console, another app) while the
    # call waited: we did not take it out (no push, no line held for it)
    REDIRECTED = "redirected"


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

    `staffed` says whether any line that may serve it is on duty now. `to_menu`: when it is
    not, other keys of the menu are open now and the caller hears the menu again after the
    closed message (the call stays in the menu) instead of being let go.
    """

    option_id: str
    language: str | None
    priority: int
    staffed: bool
    menu_id: str = ""
    attempt: int = 0
    digits: str = ""
    default: bool = False
    to_menu: bool = False


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


@dataclass(frozen=True, slots=True)
class TurnedAway:
    """The call is not taken, before it joins a queue, and the caller heard why: a caller
    flagged as abusive (`blocked`), or a withheld number where the option's policy does not
    accept one (`withheld`, with the option chosen). Ends the call, counted by reason."""

    reason: str  # one of states.TURNED_AWAY
    option_id: str | None = None
    language: str | None = None


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
    | TurnedAway
)
EVENTS: tuple[type[Any], ...] = Event.__args__  # a UnionType

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
        case TurnedAway(reason=r):
            return f"turned-away:{r}"
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
        TurnedAway: "turned-away",
    }.get(type(event), type(event).__name__.lower())
