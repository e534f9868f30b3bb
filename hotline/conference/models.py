"""ORM model of the parties of a call's conference: one row per leg that is, or was asked to
be, in it (the caller and the counsellor are the call's own; a third party and a supervisor
each have a row). Never a phone number: a party's target is named by its directory or line id.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class PartyRole(enum.StrEnum):
    CALLER = "caller"
    COUNSELLOR = "counsellor"
    THIRD = "third"  # a party the counsellor brought in (kind says which)
    SUPERVISOR = "supervisor"


class PartyKind(enum.StrEnum):
    """Where a third party (or a supervisor) was dialled from."""

    LINE = "line"  # one of our lines (the caller's counsellor, or a warm transfer's)
    PARTNER = "partner"  # a partner organisation's desk number (directory)
    SUPPORT = "support"  # a local support organisation (directory; つなぎ支援)
    INTERPRETER = "interpreter"  # an interpreter service (directory)
    EMERGENCY = "emergency"  # a fire or police command centre's direct line (directory)
    SUPERVISOR = "supervisor"  # a supervisor on duty
    QUEUE = "queue"  # a cold transfer to an option's queue (target_id: the option; status left)


class PartyStatus(enum.StrEnum):
    DIALLING = "dialling"  # asked for; ringing
    JOINED = "joined"  # in the conference
    LEFT = "left"  # was in it, left (hung up, removed, handed over)
    FAILED = "failed"  # never joined (busy, no answer, refused by Twilio)


class CallParty(Base):
    __tablename__ = "call_parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # PartyRole
    kind: Mapped[str | None] = mapped_column(String(16))  # PartyKind, for third and supervisor
    target_id: Mapped[str | None] = mapped_column(String(96))  # directory id or line id
    # Twilio's participant label, unique within the call: "caller", "counsellor", "p<id>".
    label: Mapped[str] = mapped_column(String(32))
    leg_sid: Mapped[str | None] = mapped_column(String(64))  # the participant's CallSid
    status: Mapped[str] = mapped_column(String(16))  # PartyStatus
    held: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    muted: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    coaching: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    asked_by: Mapped[str | None] = mapped_column(String(120))  # console user or API key
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    joined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(24))  # why it left or failed

    __table_args__ = (
        Index("ix_call_parties_call", "call_id", "role"),
        Index("ix_call_parties_leg", "leg_sid"),
    )
