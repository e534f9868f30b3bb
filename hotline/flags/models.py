"""The stored flag: a caller's keyed hash, what kind, why, until when, who and from which call."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class FlagKind(enum.StrEnum):
    # A caller who calls again and again: the counsellor hears a neutral note in the whisper
    # (never the reason). The caller hears nothing different.
    REPEAT = "repeat"
    # An abusive caller: blocked. They hear a polite message, the other lines open now and
    # the emergency numbers, and the call ends; the block lifts itself when the flag expires.
    ABUSIVE = "abusive"


class CallerFlag(Base):
    __tablename__ = "caller_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The calls table's keyed hash of the number (calls.store.caller_hash): never the number.
    caller_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # Seen by coordinators and operators only, never said to a counsellor or a caller.
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))  # role and organisation, as audited
    # The call it was set from (its CallSid), so that staff can tell flags apart.
    from_call_sid: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_caller_flags_caller_hash", "caller_hash"),
        Index("ix_caller_flags_expires_at", "expires_at"),
    )
