"""The decisions of the lifecycle (pure): what the caller (or the counsellor's leg) hears
next, rendered to TwiML by `hotline.ivr`; stored as JSON in the event log so that a retried
step hears the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hotline.calls.states import TERMINAL, CallFacts, S


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
    """Ring the reserved line, with the whisper on the counsellor's leg. `conference`: the
    caller waits in the call's conference hearing the ringback, and the counsellor's leg is
    placed by REST (`RingLeg`); else a two-leg <Dial> of the line."""

    line_id: str
    language: str | None
    conference: bool = False


@dataclass(frozen=True, slots=True)
class Backup:
    """Straight to the backup organisation, with an apology (no line held, queue failing)."""


@dataclass(frozen=True, slots=True)
class Closed:
    """No staffed line may serve the option: the closed message, other numbers, goodbye."""

    language: str | None


@dataclass(frozen=True, slots=True)
class QueueFull:
    """Twilio's queue of the option is full: the lines are very busy, the other keys and
    lines open now, the emergency numbers, goodbye (not the backup's system-problem apology)."""

    language: str | None


@dataclass(frozen=True, slots=True)
class Whisper:
    """Tell the counsellor who is calling; press 1 to accept."""

    line_id: str


@dataclass(frozen=True, slots=True)
class Bridge:
    """The counsellor accepted: an empty document, and Twilio joins the two; `conference`:
    the counsellor's leg joins the call's conference, where the caller waits."""

    conference: bool = False


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
    """The caller we called back pressed 1: join the waiting counsellor (told first, in
    their `language`, who is calling: they have shown it is them)."""

    line_id: str
    language: str | None = None


Decision = (
    Greet
    | AskAgain
    | Enqueue
    | Hold
    | LeaveQueue
    | Dial
    | Backup
    | Closed
    | QueueFull
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


def holding_answer(call: CallFacts, state: S) -> Decision:
    if state == S.CLOSED:
        return Closed(call.language)
    if state in TERMINAL or call.option_id is None:
        return Nothing()
    return Enqueue(call.option_id, call.language)
