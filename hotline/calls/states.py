"""A call's states and what the lifecycle reads of a call (pure: no I/O).

The state sets name where a call is as the rest of the service asks it: finished
(`TERMINAL`), holding, queued for the pass, on a line. `CallFacts` is what
`hotline.calls.lifecycle.transition` reads of a call; `CallView` is a call as plain data;
`Limits` are the bounds the lifecycle applies.
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
# Why a call was turned away before any queue (`end_stage` of an abandoned call, and the label
# of hotline_calls_turned_away_total): a caller flagged as abusive, or a withheld number the
# option does not accept (hotline/flags, the options' `withheld` policy).
TURNED_AWAY = ("blocked", "withheld")
# A caller Twilio's full queue would not take (its QueueResult `queue-full`).
QUEUE_FULL = "queue-full"


class Phase(enum.StrEnum):
    """Where a connected call's conversation is, in the call's conference (None: not yet
    connected, or put through as a two-leg bridge, without a conference)."""

    TALKING = "talking"  # the caller and the counsellor
    ON_HOLD = "on_hold"  # the caller held (hearing the calm on-hold words)
    CONSULTING = "consulting"  # the caller held, the counsellor with a third party
    THREE_WAY = "three_way"  # the caller, the counsellor and a third party
    HANDED_OVER = "handed_over"  # the counsellor left; the caller with a third party


# Phases in which the caller is held: the counsellor's leg dropping then leaves the caller
# alone in the conference, so they go back to the head of the queue.
CALLER_HELD = (Phase.ON_HOLD, Phase.CONSULTING)
# The `phase` of a holding call (waiting, reserved) whose caller is still in the call's
# conference: the REST redirect back to the queue (`Requeue`) is owed. Kept until Twilio takes
# the redirect or the caller's leg is heard in the queue (`Requeued`, a hold poll, the Dial's
# action); meanwhile the silent sweep leaves the call alone and the upkeep retries.
REQUEUE = "requeue"


class CallFacts(Protocol):
    """What the lifecycle reads of a call (a stored call fits, and so does `CallView`)."""

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
    @property
    def phase(self) -> str | None: ...
    @property
    def conference_sid(self) -> str | None: ...
    @property
    def leg_sid(self) -> str | None: ...


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
    phase: str | None = None
    conference_sid: str | None = None
    leg_sid: str | None = None

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
    # The caller and the counsellor meet in a conference of the call's own (the service has
    # Twilio's REST API to place the counsellor's leg); False: the two-leg <Dial> bridge.
    conference: bool = False
