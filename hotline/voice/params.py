"""Twilio's words, typed for the voice steps: form fields in, domain values out.

Twilio's parameters become a pydantic model (`VoiceParams`) and their values enums, mapped at
once to the lifecycle's events. A value we do not know maps to a documented default and is
logged (truncated, with control characters escaped), never raised: Twilio adds values over
time, and a caller must not lose their call to a new word.

Sources: Twilio's TwiML docs for `<Enqueue>` (QueueResult), `<Dial>` (DialCallStatus) and the
voice status callback (CallStatus, SequenceNumber), read 2026-11.
"""

from __future__ import annotations

import enum
import logging
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hotline.calls.lifecycle import DialOutcome, QueueOutcome
from hotline.common.text import storable

log = logging.getLogger(__name__)


def printable(value: object, limit: int = 32) -> str:
    """A value safe for a log line: truncated, control characters escaped."""
    text = str(value)[:limit]
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class QueueResult(enum.StrEnum):
    BRIDGED = "bridged"
    BRIDGING_IN_PROCESS = "bridging-in-process"
    ERROR = "error"
    HANGUP = "hangup"
    LEAVE = "leave"
    REDIRECTED = "redirected"
    REDIRECTED_FROM_BRIDGED = "redirected-from-bridged"
    QUEUE_FULL = "queue-full"
    SYSTEM_ERROR = "system-error"


class DialCallStatus(enum.StrEnum):
    COMPLETED = "completed"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


class CallStatus(enum.StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


FINAL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
)


def _text(limit: int) -> BeforeValidator:
    """A field as text, at most `limit` characters; absent ("") when a database could not
    store it (a NUL, an unpaired surrogate: `hotline.common.text`): Twilio never sends one,
    so such a value is no key, no status, no CallSid (a 400)."""
    return BeforeValidator(lambda v: _stored("" if v is None else str(v).strip()[:limit]))


def _stored(text: str) -> str:
    return text if storable(text) else ""


def _count(value: object) -> int:
    """A count in ASCII digits ("²" is a digit to `str.isdigit`, not to `int`), else 0."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0


def _seconds(value: object) -> int | None:
    """A count of seconds in ASCII digits, else None (absent, or not a count)."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


# Twilio's AnsweredBy values that are not a person: "machine_start" (a voicemail greeting),
# "fax", and the machine_end_* of DetectMessageEnd (not asked for, accepted all the same).
# "human" and "unknown" (a person who said nothing, or too little to tell) hear the neutral
# question: it names nothing, and only the caller knows to press 1.
MACHINES = frozenset(
    {"machine_start", "fax", "machine_end_beep", "machine_end_silence", "machine_end_other"}
)


class VoiceParams(BaseModel):
    """The fields of a Twilio voice request that this service reads."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    call_sid: Annotated[str, _text(200)] = Field("", alias="CallSid")
    # Hashed at once, never stored. 72: a spooled fact's "hash:" and 64 hex characters must
    # reach the replay whole (cut to 64, the replayed call was another caller).
    caller: Annotated[str, _text(72)] = Field("", alias="From")
    to: Annotated[str, _text(64)] = Field("", alias="To")
    digits: Annotated[str, _text(8)] = Field("", alias="Digits")
    queue_result: Annotated[str, _text(32)] = Field("", alias="QueueResult")
    dial_call_status: Annotated[str, _text(32)] = Field("", alias="DialCallStatus")
    dial_call_sid: Annotated[str, _text(64)] = Field("", alias="DialCallSid")
    call_status: Annotated[str, _text(32)] = Field("", alias="CallStatus")
    sequence_number: Annotated[int, BeforeValidator(_count)] = Field(0, alias="SequenceNumber")
    error_code: Annotated[str, _text(8)] = Field("", alias="ErrorCode")
    # Twilio's answering-machine detection on a leg we placed with MachineDetection=Enable:
    # human, machine_start, fax or unknown (machine_end_* only with DetectMessageEnd).
    answered_by: Annotated[str, _text(32)] = Field("", alias="AnsweredBy")
    queue_sid: Annotated[str, _text(64)] = Field("", alias="QueueSid")  # a waitUrl's queue
    # A waitUrl's time in the queue, in seconds (Twilio sends it on every hold poll, with
    # QueuePosition and AvgQueueTime): the hold's announcements are timed by it. None: absent.
    queue_time: Annotated[int | None, BeforeValidator(_seconds)] = Field(None, alias="QueueTime")
    # A conference's status callback: which conference, what happened (participant-join,
    # participant-leave, participant-hold, participant-unhold, conference-start,
    # conference-end, ...), and whose leg (CallSid, and the label we gave it).
    conference_sid: Annotated[str, _text(64)] = Field("", alias="ConferenceSid")
    conference_event: Annotated[str, _text(32)] = Field("", alias="StatusCallbackEvent")
    participant_label: Annotated[str, _text(32)] = Field("", alias="ParticipantLabel")

    def valid_call_sid(self) -> bool:
        """A CallSid we may store and log: present, short, printable ASCII."""
        sid = self.call_sid
        return 0 < len(sid) <= 64 and sid.isascii() and sid.isprintable() and " " not in sid


def queue_outcome(value: str, call_sid: str = "") -> QueueOutcome:
    """`QueueResult` as the lifecycle's outcome; anything but leave or hangup is a failure."""
    if value == QueueResult.LEAVE:
        return QueueOutcome.LEAVE
    if value == QueueResult.HANGUP:
        return QueueOutcome.HANGUP
    if value == QueueResult.QUEUE_FULL:  # past the queue's MaxSize (Twilio's warning 14207)
        log.warning("QueueResult queue-full for call %s", printable(call_sid))
        return QueueOutcome.FULL
    if value not in {r.value for r in QueueResult}:
        log.warning("unknown QueueResult %r for call %s", printable(value), printable(call_sid))
    else:
        # error, queue-full, system-error: Twilio could not keep the caller in the queue.
        log.warning("call %s left the queue: QueueResult %s", printable(call_sid), value)
    return QueueOutcome.FAILED


def dial_outcome(value: str, call_sid: str = "") -> DialOutcome:
    """`DialCallStatus` as the lifecycle's outcome; an unknown word counts as failed."""
    if value == DialCallStatus.ANSWERED:
        return DialOutcome.COMPLETED
    try:
        return DialOutcome(value)
    except ValueError:
        log.warning("unknown DialCallStatus %r for call %s", printable(value), printable(call_sid))
        return DialOutcome.FAILED


def status_is_final(value: str) -> bool:
    """Does `CallStatus` end the call? Unknown words do not (a later callback will)."""
    if value not in {s.value for s in CallStatus}:
        log.warning("unknown CallStatus %r", printable(value))
    return value in FINAL_STATUSES
