"""Supervisors on duty and counsellors' help requests (migration 0017_supervisor_duty).

A supervisor (role `supervisor`, of one organisation) goes on duty as one of that
organisation's configured supervisors (`organisations[].supervisors` in menus.yaml: the phone
a supervision dials), and off again. A counsellor's help request from a live call is kept for
the organisation's supervisors, with how many were on duty when it was asked; a supervisor
takes it (`acknowledged`) and closes it. Never a caller's number: the call's row and its line.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class SupervisorDuty(Base):
    """One stretch of duty: from `on_at` until `off_at` (None: on duty now)."""

    __tablename__ = "supervisor_duty"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    supervisor_id: Mapped[str] = mapped_column(String(48))  # organisations[].supervisors[].id
    user_id: Mapped[int | None] = mapped_column(Integer)  # a console account, or
    key_id: Mapped[int | None] = mapped_column(Integer)  # an API key
    on_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_supervisor_duty_org", "org_id", "off_at"),)


class HelpState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # a supervisor is on it
    CLOSED = "closed"


class HelpRequest(Base):
    __tablename__ = "help_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(48))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    line_id: Mapped[str | None] = mapped_column(String(48))
    asked_by: Mapped[str] = mapped_column(String(120))
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    on_duty: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(16))  # HelpState
    handled_by: Mapped[str | None] = mapped_column(String(120))
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_help_requests_org", "org_id", "state"),)


async def on_duty(session: AsyncSession, org_id: str) -> list[SupervisorDuty]:
    """The organisation's supervisors on duty now, longest on duty first."""
    stmt = (
        select(SupervisorDuty)
        .where(SupervisorDuty.org_id == org_id, SupervisorDuty.off_at.is_(None))
        .order_by(SupervisorDuty.on_at, SupervisorDuty.id)
    )
    return list((await session.execute(stmt)).scalars())


async def duty_of(
    session: AsyncSession, org_id: str, *, user_id: int | None, key_id: int | None
) -> SupervisorDuty | None:
    """The asker's own stretch of duty now, if on duty."""
    stmt = select(SupervisorDuty).where(
        SupervisorDuty.org_id == org_id,
        SupervisorDuty.off_at.is_(None),
        SupervisorDuty.user_id.is_(None) if user_id is None else SupervisorDuty.user_id == user_id,
        SupervisorDuty.key_id.is_(None) if key_id is None else SupervisorDuty.key_id == key_id,
    )
    return (await session.execute(stmt.with_for_update())).scalars().first()


async def open_help(session: AsyncSession, org_id: str | None) -> list[HelpRequest]:
    """Help requests not closed yet (of one organisation, or all), oldest first."""
    stmt = select(HelpRequest).where(HelpRequest.state != HelpState.CLOSED)
    if org_id is not None:
        stmt = stmt.where(HelpRequest.org_id == org_id)
    return list((await session.execute(stmt.order_by(HelpRequest.id))).scalars())


async def open_help_count(session: AsyncSession, call_id: int) -> int:
    stmt = select(func.count()).where(
        HelpRequest.call_id == call_id, HelpRequest.state != HelpState.CLOSED
    )
    return int((await session.execute(stmt)).scalar_one())
