"""ORM models of who may ask: API keys (only the SHA-256 of a key is stored; the key is shown
once), console accounts (a person, bound to an organisation and a role) and their sessions
(server-side, so that logging out or disabling an account ends them at once)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class Role(enum.StrEnum):
    COUNSELLOR = "counsellor"  # own organisation's lines, calls and records
    COORDINATOR = "coordinator"  # linkage cases across organisations
    OPERATOR = "operator"  # aggregates and pseudonymous exports only
    ADMIN = "admin"  # keys and configuration
    # live calls of its own organisation: listens, coaches, joins; answers help requests
    SUPERVISOR = "supervisor"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # first characters, to tell keys apart
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ConsoleUser(Base):
    """A console account; the password only as its argon2id hash."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    org_id: Mapped[str] = mapped_column(String(48))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its parameters
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A logged-in console session. The cookie carries a random token; only its SHA-256 is
    stored, so a database dump cannot be replayed as a cookie."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_console_sessions_user_id", "user_id"),)
