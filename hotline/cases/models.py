"""ORM models of hotline.cases: linkage cases (つなぎ支援) and the actions taken on them.

A case's notes and an action's note are stored only as Fernet tokens (`*_enc`), sealed by
the records' box (`hotline.common.crypto`). The tables keep the names they were created
with.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime
from hotline.records.models import CHOICE


class LinkageCase(Base):
    """A record that needs linkage support, worked by a coordinator (つなぎ支援)."""

    __tablename__ = "linkage_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("consultation_records.id"), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    status: Mapped[str] = mapped_column(String(CHOICE))
    destination_type: Mapped[str | None] = mapped_column(String(CHOICE))
    destination_name: Mapped[str | None] = mapped_column(String(200))
    notes_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_linkage_cases_status", "status"),)


class LinkageAction(Base):
    """One step taken on a case: a contact, an interview (面談), an accompanied visit."""

    __tablename__ = "linkage_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("linkage_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(CHOICE))
    on_date: Mapped[dt.date] = mapped_column(Date)
    note_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The author: an API key, or a console account (one of the two).
    author_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id"))
