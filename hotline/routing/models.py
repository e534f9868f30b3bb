"""ORM model of a counsellor line's live state (its number and hours live in menus.yaml)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class LineStatus(enum.StrEnum):
    AVAILABLE = "available"  # staffed (within its hours) and ready for calls
    BREAK = "break"  # the counsellor stepped away: no new calls
    OFF = "off"  # not staffed


class Line(Base):
    __tablename__ = "lines"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default=LineStatus.AVAILABLE)
    # The call this line is reserved for, ringing or talking with; NULL when free.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    idle_since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cooldown_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
