"""ORM models of hotline.records: consultation records (the cases' own tables are in
`hotline.cases.models`; the append-only audit log of both is `hotline.common.audit`).

Free text (a record's summary) is stored only as Fernet tokens (`*_enc`); the box in
`hotline.common.crypto` seals and opens them. Choice values are the labels of
config/menus.yaml's `records:` lists, as written on the shared form (共通の相談記録票).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime

CHOICE = 64  # longest configured label; config.py enforces the same bound


class ConsultationRecord(Base):
    """One per connected call and organisation: the common record form."""

    __tablename__ = "consultation_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    org_id: Mapped[str] = mapped_column(String(48))
    # The author: an API key, or a console account (one of the two).
    author_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id"))
    age_group: Mapped[str] = mapped_column(String(CHOICE))
    gender: Mapped[str | None] = mapped_column(String(CHOICE))
    categories: Mapped[list[str]] = mapped_column(JSON)
    support: Mapped[list[str]] = mapped_column(JSON)
    seriousness: Mapped[str] = mapped_column(String(CHOICE))
    linkage_needed: Mapped[bool] = mapped_column(Boolean)
    summary_enc: Mapped[str | None] = mapped_column(Text)
    consent_history: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("call_id", "org_id"),
        Index("ix_consultation_records_org_created", "org_id", "created_at"),
    )
