"""ORM model of a counsellor line's live state (its number and hours live in menus.yaml)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class Presence(enum.StrEnum):
    """A line's one presence state. It rings only when ready."""

    OFFLINE = "offline"  # nobody signed in
    READY = "ready"  # signed in, idle: may be offered a caller
    RESERVED = "reserved"  # held for a caller who is about to leave the hold
    RINGING = "ringing"  # the counsellor's phone rings (whisper, press 1)
    TALKING = "talking"  # in conversation
    WRAP_UP = "wrap_up"  # writing the record after a conversation
    AWAY = "away"  # signed in but not taking calls (reason: break, meeting, missed calls)


class AwayReason(enum.StrEnum):
    BREAK = "break"
    MEETING = "meeting"
    MISSED = "missed"  # offers in a row not accepted: back when the counsellor says so
    # Breaks the line takes by itself, over at `break_until` (docs/counsellor-care.md):
    HARD_CALL = "hard_call"  # after a call marked hard
    TALK_LIMIT = "talk_limit"  # after max_consecutive_talk_minutes of talk without a pause


CARE_BREAKS = (AwayReason.HARD_CALL, AwayReason.TALK_LIMIT)


SIGNED_IN = (
    Presence.READY,
    Presence.RESERVED,
    Presence.RINGING,
    Presence.TALKING,
    Presence.WRAP_UP,
)
ON_A_CALL = (Presence.RESERVED, Presence.RINGING, Presence.TALKING)
# What counsellors could send before presence existed; still accepted.
ALIASES = {"available": Presence.READY, "break": Presence.AWAY, "off": Presence.OFFLINE}


class Line(Base):
    __tablename__ = "lines"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    # The line's presence (Presence); the column keeps its first name, `status`.
    status: Mapped[str] = mapped_column(String(16), default=Presence.OFFLINE)
    away_reason: Mapped[str | None] = mapped_column(String(16))
    # The call this line is reserved for, ringing or talking with; NULL when free.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    idle_since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cooldown_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    wrap_up_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The last call this line talked with: a record saved for it ends the wrap-up.
    last_call_id: Mapped[int | None] = mapped_column(Integer)
    missed_in_row: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Where the counsellor asked to go while busy (offline, away): applied when the call ends.
    after_call: Mapped[str | None] = mapped_column(String(16))
    after_reason: Mapped[str | None] = mapped_column(String(16))
    # A break owed (after a hard call, or the talk limit), taken when the wrap-up ends, and
    # the break being taken (away, reason hard_call or talk_limit) until `break_until`.
    break_owed_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    break_reason: Mapped[str | None] = mapped_column(String(16))
    break_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Talk since the last pause of consecutive_break_minutes, and when the last talk ended.
    talk_run_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    talk_ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class LinePresenceLog(Base):
    """Every presence change of every line, stamped: the history behind talk and wrap-up time."""

    __tablename__ = "line_presence_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[str] = mapped_column(String(48))
    org_id: Mapped[str] = mapped_column(String(48))
    presence: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_line_presence_log_line_at", "line_id", "at"),)


class DebriefState(enum.StrEnum):
    OPEN = "open"  # nobody has taken it yet
    ACKNOWLEDGED = "acknowledged"  # a coordinator is on it
    CLOSED = "closed"  # the debrief took place (or is not needed)


class DebriefRequest(Base):
    """A counsellor's call was hard: a supervisor or coordinator should talk with them. One
    per call. It names the line, the organisation and the call's row, never the caller's
    number nor anything of the record."""

    __tablename__ = "debrief_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    line_id: Mapped[str] = mapped_column(String(48))
    call_id: Mapped[int] = mapped_column(Integer, unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "counsellor" or "risk_level"
    state: Mapped[str] = mapped_column(String(16), default=DebriefState.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Who took it and who closed it: a console account's name or an API key's id.
    handled_by: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (Index("ix_debrief_requests_state", "state", "org_id"),)
