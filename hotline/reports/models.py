"""The report tallies: ended calls added up per period, option, entry and Tokyo day.

An ended call never changes its counted fields again, so once it is added here (and marked
`calls.tallied`) the reports read its figures from these small tables instead of the calls.
`tallies.py` keeps them; `queries.py` adds the calls not tallied yet, so a figure is the same
whether or not the tallies are current.
"""

from __future__ import annotations

from sqlalchemy import Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base


class CallTally(Base):
    """The counted figures (`definitions.counts`) of the tallied calls of one group."""

    __tablename__ = "call_tallies"

    period_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    option_id: Mapped[str] = mapped_column(String(48), primary_key=True)  # `none` if none
    entry: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # Tokyo date, ISO
    calls: Mapped[int] = mapped_column(Integer)
    connected: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    abandoned_menu: Mapped[int] = mapped_column(Integer)
    abandoned_waiting: Mapped[int] = mapped_column(Integer)
    abandoned_ringing: Mapped[int] = mapped_column(Integer)
    anonymous: Mapped[int] = mapped_column(Integer)
    anonymous_connected: Mapped[int] = mapped_column(Integer)
    # Callbacks (migration 0013): the inbound calls that booked one, and what became of it.
    abandoned_callback: Mapped[int] = mapped_column(Integer, server_default="0")
    callbacks_requested: Mapped[int] = mapped_column(Integer, server_default="0")
    callbacks_connected: Mapped[int] = mapped_column(Integer, server_default="0")
    callbacks_failed: Mapped[int] = mapped_column(Integer, server_default="0")
    callbacks_expired: Mapped[int] = mapped_column(Integer, server_default="0")
    callbacks_attempted: Mapped[int] = mapped_column(Integer, server_default="0")


class CallerDay(Base):
    """A caller (keyed hash) who called on a Tokyo day, from the tallied calls."""

    __tablename__ = "caller_days"

    period_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    caller_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # 1 if any of those calls reached a counsellor, directly or by a callback
    reached: Mapped[int] = mapped_column(SmallInteger)


class CallerDayTotal(Base):
    """`caller_days` counted per period and day, so that a report need not count them."""

    __tablename__ = "caller_day_totals"

    period_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    caller_days: Mapped[int] = mapped_column(Integer)
    reached: Mapped[int] = mapped_column(Integer)
