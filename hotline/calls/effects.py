"""The effects of the lifecycle (pure): what the service carries out for a step (release or
mark a line, run an assignment pass, count a metric, ring a leg after commit), and the
`Transition` that carries them with the changes and the decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hotline.calls.decisions import Decision


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


@dataclass(frozen=True, slots=True)
class DropQueue:
    """After commit: the callback is over, its Twilio queue (where the counsellor held for
    the caller) is deleted; best-effort, the upkeep's sweep deletes what this could not."""


@dataclass(frozen=True, slots=True)
class RingLeg:
    """After commit: ask Twilio to place the counsellor's leg of a conference call (its
    whisper, then 1 joins the call's conference, where the caller hears the ringback)."""

    line_id: str


@dataclass(frozen=True, slots=True)
class Requeue:
    """After commit: take the caller out of the call's conference (a REST redirect of their
    leg to /voice/requeue, which answers the Enqueue of the call's current option)."""


@dataclass(frozen=True, slots=True)
class FreeCounsellor:
    """After commit: a callback's counsellor waiting in the call's conference for a caller who
    was not reached is taken out of it (a REST redirect of their leg, `leg_sid`, to the
    Dial's action of line `line_id`, where they hear why, and the leg ends)."""

    leg_sid: str
    line_id: str


@dataclass(frozen=True, slots=True)
class EndConference:
    """After commit: end the call's conference (every leg in it leaves): the call ended while
    someone may still be in it (the counsellor left without a handover, the third party the
    caller was handed to left). The caller's Dial action then says goodbye."""


Push = (
    RingCounsellor
    | RingCaller
    | Dequeue
    | DropQueue
    | RingLeg
    | Requeue
    | FreeCounsellor
    | EndConference
)
Effect = (
    ReleaseLine
    | MarkLine
    | RunPass
    | Count
    | RingCounsellor
    | RingCaller
    | Dequeue
    | DropQueue
    | RingLeg
    | Requeue
    | FreeCounsellor
    | EndConference
)


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


def release(line_id: str | None, cooldown: bool = False, rest: bool = False) -> tuple[Effect, ...]:
    return () if line_id is None else (ReleaseLine(line_id, cooldown, rest),)


def seconds(start: dt.datetime | None, end: dt.datetime) -> float | None:
    return None if start is None else max((end - start).total_seconds(), 0.0)
