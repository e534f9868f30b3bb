"""Rows of the calls table as the webhooks leave them, for bulk inserts and fixtures."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def call_row(now: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A call of 第5期's menu that chose loneliness on #9999, joining the queue at `now`;
    `fields` override any column (state, waiting_since, line_id, ...)."""
    row: dict[str, Any] = dict(
        call_sid=new_sid(),
        entry="9999",
        period_id="none",
        menu_id="period-5",
        option_id="loneliness",
        state="waiting",
        priority=0,
        status_seq=-1,
        created_at=now,
        waiting_since=now,
    )
    row.update(fields)
    return row


def connected_row(now: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A call in conversation since `now`: what keeps a line busy."""
    return call_row(now, state="connected", connected_at=now, **fields)


# What a callback request's row holds at each point (calls.lifecycle `_book_callback`,
# `_callback`, `_end`): its state, and end_stage once given up.
CALLBACK_ENDS: dict[str, dict[str, Any]] = {
    "queued": {"state": "callback"},  # waiting its turn (or the next try)
    "ringing": {"state": "ringing"},  # the counsellor's line is rung
    "calling": {"state": "calling"},  # the counsellor accepted; the caller is being dialled
    "talking": {"state": "connected"},  # the caller pressed 1 on our call
    "completed": {"state": "completed"},
    "failed": {"state": "abandoned", "end_stage": "cb-failed"},
    "expired": {"state": "abandoned", "end_stage": "cb-expired"},
}


def callback_row(
    now: dt.datetime, where: str, *, held: float = 60, tries: int = 0, **fields: Any
) -> dict[str, Any]:
    """A call that joined the queue at `now`, held `held` seconds and booked a callback, left
    as the callback core leaves it at `where` (a key of CALLBACK_ENDS). `tries`: calls to the
    caller that did not reach them. A connected callback talked from an hour after `now`; an
    ended one ended then. The number is erased once the caller answered or the request was
    given up; until then it is kept sealed (here a placeholder: no test needs the real seal)."""
    booked = now + dt.timedelta(seconds=held)
    later = now + dt.timedelta(hours=1)
    row = call_row(
        now,
        callback_at=booked,
        callback_until=now + dt.timedelta(hours=4),
        callback_tries=tries,
        callback_number="sealed",
        **CALLBACK_ENDS[where],
    )
    if where in ("talking", "completed"):
        row.update(connected_at=later, callback_number=None)  # erased once they answered
    if where in ("completed", "failed", "expired"):
        row.update(ended_at=later, callback_number=None)
    row.update(fields)
    return row
