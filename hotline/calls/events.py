"""The events of a call's life (pure): what happens to a call, as the edge, the routing
pass and the sweeps tell `hotline.calls.lifecycle.transition`; and their keys in the event
log, so that a retried webhook is applied once.
"""

from __future__ import annotations

import dataclasses
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
    """The counsellor pressed 1 in the whisper; `org_id` owns the line; `leg_sid`: the
    counsellor's leg (the whisper's CallSid)."""

    line_id: str
    org_id: str
    leg_sid: str = ""


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


# -- the call's conference (hotline/conference; the counsellor's leg placed by REST) ----------


@dataclass(frozen=True, slots=True)
class LegEnded:
    """The counsellor's leg of a conference call ended (its status callback, /voice/leg-status,
    or Twilio refusing to place it: `failed`). Before acceptance the caller goes back to the
    head of the queue; while the caller is held, too (they would be alone)."""

    line_id: str
    outcome: DialOutcome
    leg_sid: str = ""


@dataclass(frozen=True, slots=True)
class Requeued:
    """The caller owed a redirect out of the conference (`states.REQUEUE`) is on their way
    back to the queue: Twilio took the redirect, or their leg reached /voice/requeue."""


@dataclass(frozen=True, slots=True)
class ConferenceJoined:
    """A participant joined the call's conference (Twilio's `participant-join`); `label`:
    caller, counsellor, p<party id>, s<party id>."""

    label: str
    leg_sid: str
    conference_sid: str


@dataclass(frozen=True, slots=True)
class ConferenceLeft:
    """A participant left the call's conference (Twilio's `participant-leave`)."""

    label: str
    leg_sid: str


@dataclass(frozen=True, slots=True)
class ConferenceEnded:
    """The call's conference ended (Twilio's `conference-end`, or found over by the upkeep)."""

    conference_sid: str


@dataclass(frozen=True, slots=True)
class HoldSet:
    """The counsellor put the caller on hold (`on`), or took them off it."""

    on: bool


@dataclass(frozen=True, slots=True)
class PartyAdded:
    """A third party is being dialled into the conference; `consult`: the caller is held
    while the counsellor talks to it first."""

    party_id: int
    kind: str
    consult: bool


@dataclass(frozen=True, slots=True)
class PartyGone:
    """A third party left (dropped, hung up, or never answered)."""

    party_id: int


@dataclass(frozen=True, slots=True)
class AllJoined:
    """The caller, held while the counsellor consulted, is brought in with the third party."""


@dataclass(frozen=True, slots=True)
class CounsellorLeft:
    """The counsellor left the conference; `handover`: the caller stays with the third party
    (the line goes to its wrap-up), else the call ends."""

    handover: bool


@dataclass(frozen=True, slots=True)
class TransferredToQueue:
    """A cold transfer: the caller goes back to waiting, in that option's queue, keeping their
    waiting time and priority; the line goes to its wrap-up."""

    option_id: str
    language: str | None


@dataclass(frozen=True, slots=True)
class Supervised:
    """A supervisor joined the conference (`mode`: listen, coach, join): counted only."""

    mode: str


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
    | LegEnded
    | Requeued
    | ConferenceJoined
    | ConferenceLeft
    | ConferenceEnded
    | HoldSet
    | PartyAdded
    | PartyGone
    | AllJoined
    | CounsellorLeft
    | TransferredToQueue
    | Supervised
)
# The in-call actions (hotline/conference/service.py): each one a step of its own, keyed by
# its time (an action asked twice is two steps; each is a no-op where the call is already so).
ACTIONS = (
    HoldSet,
    PartyAdded,
    PartyGone,
    AllJoined,
    CounsellorLeft,
    TransferredToQueue,
    Supervised,
)
EVENTS: tuple[type[Any], ...] = Event.__args__  # a UnionType

# -- idempotency ------------------------------------------------------------------------------


def step_key(
    call: CallFacts, event: Event, offer: str = "", at: dt.datetime | None = None
) -> str | None:
    """The event log's key for this event: a retried webhook has the same key, so it is
    applied once and answered with the stored decision. None: not logged (hold polls and the
    routing pass repeat by nature and are idempotent by state). `offer` names the current offer
    of a line to this call (line and time reserved), so that a second offer of the same line
    is a new step. `at`: the step's time, which keys the in-call actions (`ACTIONS`).
    """
    if isinstance(event, ACTIONS):
        return None if at is None else _action_key(event, at)
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
        case LegEnded(line_id=line, leg_sid=sid, outcome=outcome):
            return f"leg:{line}:{sid or offer}:{outcome}"
        case ConferenceJoined(label=label, leg_sid=sid):
            return f"conf-join:{label}:{sid}"
        case ConferenceLeft(label=label, leg_sid=sid):
            return f"conf-leave:{label}:{sid}"
        case ConferenceEnded(conference_sid=sid):
            return f"conf-end:{sid}"
    return None


def _action_key(event: Event, at: dt.datetime) -> str:
    fields = ":".join(str(v) for v in dataclasses.astuple(event))
    return f"{event_kind(event)}:{fields}:{at.isoformat()}"[:96]


def event_kind(event: Event) -> str:
    """The event log's `kind` column."""
    if isinstance(event, HoldSet):
        return "hold" if event.on else "resume"
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
        LegEnded: "leg",
        Requeued: "requeued",
        ConferenceJoined: "conference-join",
        ConferenceLeft: "conference-leave",
        ConferenceEnded: "conference-end",
        PartyAdded: "party",
        PartyGone: "party-gone",
        AllJoined: "three-way",
        CounsellorLeft: "counsellor-left",
        TransferredToQueue: "transfer",
        Supervised: "supervised",
    }.get(type(event), type(event).__name__.lower())
