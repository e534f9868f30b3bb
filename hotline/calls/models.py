"""ORM models of a call and its event log. The caller is kept only as a keyed hash."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline.calls.lifecycle import OPEN, CallState
from hotline.db import Base, UTCDateTime

__all__ = ["OPEN_STATES", "Call", "CallEvent", "CallState"]
OPEN_STATES = OPEN


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    entry: Mapped[str] = mapped_column(String(16))  # "9999", "0120" or "other"
    period_id: Mapped[str] = mapped_column(String(48))  # "none" outside every period
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    menu_id: Mapped[str] = mapped_column(String(48))
    option_id: Mapped[str | None] = mapped_column(String(48))
    language: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=CallState.MENU)
    end_stage: Mapped[str | None] = mapped_column(String(16))  # where an abandoned call was
    priority: Mapped[int] = mapped_column(Integer, default=0)
    line_id: Mapped[str | None] = mapped_column(String(48))  # reserved, ringing or talking
    org_id: Mapped[str | None] = mapped_column(String(48))  # organisation that connected
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    waiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reserved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    connected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status_seq: Mapped[int] = mapped_column(Integer, default=-1)  # last SequenceNumber applied
    # The caller's last hold poll: a caller who stopped polling is gone, even if Twilio's
    # hang-up and status callbacks were lost.
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Queue failures in a row (Twilio's queue-full, error): capped, then the backup serves.
    queue_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queue_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # 1 once an ended call is added up in the report tallies (hotline/reports/tallies.py);
    # the reports count the calls still at 0 from this table.
    tallied: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # A callback request (issue 12): when the caller asked, until when it may be made, the
    # next try not before, tries made. The number is sealed with the records' key and erased
    # as soon as the callback is done or given up (hotline/calls/lifecycle.py).
    callback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    callback_number: Mapped[str | None] = mapped_column(Text)
    callback_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    callback_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    callback_tries: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The conference the caller and the counsellor meet in (hotline/conference): its SID,
    # the counsellor leg's CallSid, and where the conversation is (states.Phase), None
    # before a counsellor accepts and for a call put through as a two-leg bridge.
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    leg_sid: Mapped[str | None] = mapped_column(String(64))
    phase: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_calls_state_option", "state", "option_id"),
        Index("ix_calls_period_created", "period_id", "created_at"),
        # Repeat callers (a counsellor's consented history, unique callers per day).
        Index("ix_calls_caller_hash", "caller_hash"),
        # The calls not yet in the tallies: open ones and the few ended since the last read.
        Index(
            "ix_calls_untallied",
            "period_id",
            postgresql_where=text("tallied = 0"),
            sqlite_where=text("tallied = 0"),
        ),
        # Waits of the connected calls of a period (the report's percentiles), read from the
        # index alone.
        Index(
            "ix_calls_connected_waits",
            "period_id",
            "connected_at",
            "waiting_since",
            postgresql_where=text("connected_at IS NOT NULL"),
            sqlite_where=text("connected_at IS NOT NULL"),
        ),
    )


# The routing pass's queue order (routing.store `_waiting`), on queued calls only (holding
# callers and callback requests, served in one order): the first callers of each option and
# language are read in order, without sorting the whole queue.
Index(
    "ix_calls_queue",
    Call.option_id,
    Call.language,
    Call.priority.desc(),
    Call.waiting_since,
    Call.id,
    postgresql_where=text("state IN ('waiting', 'callback')"),
    sqlite_where=text("state IN ('waiting', 'callback')"),
)


class CallEvent(Base):
    """Append-only: one row per applied step; the unique step makes retries no-ops."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("call_id", "step"),)
