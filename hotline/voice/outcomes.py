"""What a voice step returns for the edge to render (`hotline.ivr.webhooks.render`).

A step says what the caller (or the counsellor) hears next in these terms, never in TwiML:
the lifecycle's decision for the call (`Decided`), a menu (`flow.Ask`), a hold segment
(`flow.Hold`), a closed message (`flow.Closed`), or one of the hold's and the callback legs'
own answers below. The edge turns each into TwiML with the `Renderer`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hotline.calls import lifecycle as lc
from hotline.config import Referral
from hotline.voice import flow


class MissingCallSid(Exception):
    """The request names no well-formed CallSid (the edge answers 400)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The lifecycle's decision for this call, to be said as it is."""

    decision: lc.Decision
    call_id: int
    call_sid: str
    callback_tries: int
    notice: flow.Notice | None = None
    # A Dial's target, resolved by the step (None: the line is no longer configured, the
    # backup serves).
    target: str | None = None


# Answers with nothing of their own to say:
#   whisper_declined  the counsellor's leg ends (the caller is gone, or a refusal)
#   leave             out of the hold, to the queue result (a reserved line, or a failure)
#   hang_up           a callback's leg after its conversation
#   no_answer         the try to reach the caller is over: the counsellor's leg ends
#   no_content        a status callback (204: it controls nothing)
Plain = Literal["whisper_declined", "leave", "hang_up", "no_answer", "no_content"]


@dataclass(frozen=True, slots=True)
class Whisper:
    """The counsellor's leg answered: who is calling, press 1 to take the call."""

    call_sid: str
    line_id: str
    option: str  # its name, "" when the call chose none
    language: str | None
    waited: float  # seconds
    callback: bool  # a callback's counsellor: told so, and that the caller is called on 1
    repeat: bool = False  # the caller is flagged as a repeat caller: a neutral note first


@dataclass(frozen=True, slots=True)
class BackToHold:
    """A key on hold that asks nothing more: on with the hold (`kept`: after the callback's
    confirmation was not given, which is said)."""

    option_id: str
    language: str | None
    segment: int
    chose: bool
    kept: bool = False


@dataclass(frozen=True, slots=True)
class LinesNow:
    """The other lines open now, then back to the hold."""

    language: str | None
    lines: Sequence[Referral]
    option_id: str
    segment: int


@dataclass(frozen=True, slots=True)
class CallbackRefused:
    """No callback (withheld number, or not possible now): the caller keeps holding."""

    language: str | None
    reason: str
    option_id: str
    segment: int
    chose: bool


@dataclass(frozen=True, slots=True)
class CallbackConfirm:
    """What a callback means, then press the confirm key."""

    language: str | None
    option_id: str
    segment: int
    until: dt.datetime
    number: str
    chose: bool


@dataclass(frozen=True, slots=True)
class FullOffer:
    """Twilio's queue was full: the full message (what is open now, the emergency numbers),
    then the callback offered, as on hold (its terms, press the confirm key)."""

    said: flow.Closed
    option_id: str
    language: str | None
    until: dt.datetime
    number: str


@dataclass(frozen=True, slots=True)
class CallbackGreeting:
    """The caller's leg of a callback answered by a person: the neutral question, press 1."""

    call_sid: str
    language: str | None
    attempt: int


@dataclass(frozen=True, slots=True)
class NotReached:
    """The caller's leg without the caller (a machine, another key, a try that is over):
    hung up on without a word."""


@dataclass(frozen=True, slots=True)
class CounsellorWaits:
    """A callback's counsellor waiting in the call's conference while the caller is called
    (its waitUrl): a pause and again; `over`: the try ended without the caller, say so."""

    call_sid: str
    line_id: str
    over: bool


Outcome = (
    Decided
    | flow.Ask
    | flow.Hold
    | flow.Closed
    | Whisper
    | BackToHold
    | LinesNow
    | CallbackRefused
    | CallbackConfirm
    | FullOffer
    | CallbackGreeting
    | NotReached
    | CounsellorWaits
    | Plain
)
