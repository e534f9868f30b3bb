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
