"""The end of a call (pure), for the lifecycle and its callback branch alike: the state it
ends in, the line let go, and what is counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hotline.calls.decisions import Decision
from hotline.calls.effects import (
    Count,
    DropQueue,
    Effect,
    RunPass,
    Transition,
    release,
    seconds,
)
from hotline.calls.states import (
    CALLBACK_EXPIRED,
    CALLBACK_FAILED,
    HOLDING,
    QUEUE_FULL,
    CallFacts,
    S,
)


def finish(
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
    effects: list[Effect] = list(release(call.line_id, rest=rest))
    if call.line_id is not None:
        effects.append(RunPass())  # the line is free for the next caller
    changes: dict[str, Any] = {"ended_at": now, "line_id": None}
    if call.phase is not None:
        changes["phase"] = None  # no conversation any more
    if call.callback_at is not None:
        changes["callback_number"] = None
        effects.append(DropQueue())  # the queue its counsellor held in, if one did
        if state == S.CONNECTED:
            changes["state"] = S.COMPLETED
            return Transition(changes, decision, tuple(effects))
        stage = stage or CALLBACK_FAILED
        changes.update(state=S.ABANDONED, end_stage=stage)
        kind = "expired" if stage == CALLBACK_EXPIRED else "failed"
        effects.append(Count("callback", call.period_id, option=call.option_id, stage=kind))
        return Transition(changes, decision, tuple(effects))
    if state == S.CONNECTED or call.connected_at is not None:
        # Connected once (a caller back in a queue after it, by a transfer: still completed)
        changes["state"] = S.COMPLETED
        effects.append(
            Count(
                "completed",
                call.period_id,
                option=call.option_id,
                org=call.org_id,
                seconds=seconds(call.connected_at, now),
            )
        )
    elif stage == QUEUE_FULL:
        # Turned away by a full queue, not gone of their own accord: a stage of its own,
        # counted apart (`hotline_calls_queue_full_total`), not among the abandoned.
        changes.update(state=S.ABANDONED, end_stage=QUEUE_FULL)
        effects.append(Count("abandoned", call.period_id, option=call.option_id, stage=stage))
    else:
        stage = "waiting" if state in HOLDING else str(state)
        changes.update(state=S.ABANDONED, end_stage=stage)
        waited = seconds(call.waiting_since, now) if stage == "waiting" else None
        effects.append(
            Count("abandoned", call.period_id, option=call.option_id, stage=stage, seconds=waited)
        )
    return Transition(changes, decision, tuple(effects))
