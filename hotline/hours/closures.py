"""Options an operator closed at once, for an emergency, and reopened: stored, audited, and
read where a caller's choice is checked (with the option's hours and its lines, `may_join`).

A closure is one row per option, removed on reopening; the audit log keeps the history (who,
when, from where, the reason's presence, never its words in a metric). A closed option
answers the closed message without an opening time; callers already waiting keep their
place (take the lines off too to stop them being served).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy import Select, String, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.common import audit
from hotline.common.audit import Actor
from hotline.config import HotlineConfig
from hotline.db import Base, UTCDateTime
from hotline.errors import NotFound
from hotline.hours.schedule import option_open, option_opens_at
from hotline.lines.queries import line_params, signed_in_among


class OptionClosure(Base):
    __tablename__ = "option_closures"

    option_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    closed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(64))  # role and organisation, as audited
    reason: Mapped[str | None] = mapped_column(String(200))


class Serving(Protocol):
    """What `may_join` needs of the routing pass (hotline.routing.store.Router)."""

    def serving(self, option_id: str, language: str | None, now: dt.datetime) -> list[str]: ...


# Asked at every menu choice: a Core statement built once (no ORM row loaded).
_CLOSURES = cast(Table, OptionClosure.__table__)
_CLOSED = select(_CLOSURES.c.option_id).where(_CLOSURES.c.option_id == bindparam("option_id"))


@dataclass(frozen=True, slots=True)
class OptionState:
    """An option as operators see it: open by its hours now, closed by hand, opening time."""

    id: str
    name: str
    open_by_hours: bool
    opens_at: dt.datetime | None
    closed_by_operator: bool
    closed_at: dt.datetime | None
    reason: str | None

    @property
    def open(self) -> bool:
        return self.open_by_hours and not self.closed_by_operator


async def closed_ids(session: AsyncSession) -> frozenset[str]:
    return frozenset((await session.execute(select(OptionClosure.option_id))).scalars())


@functools.cache
def _closed_and_staffed(n: int) -> Select[bool, int]:
    """Whether an operator closed the option, and how many of `n` lines (`line_params`) are
    signed in: one statement, once per number of lines."""
    return select(_CLOSED.exists(), signed_in_among(n).scalar_subquery())


async def may_join(
    session: AsyncSession,
    cfg: HotlineConfig,
    router: Serving,
    option_id: str,
    language: str | None,
    now: dt.datetime,
) -> bool:
    """May a caller who chose this option join its queue now: within its hours, not closed
    by an operator, and a line that may serve it signed in (busy or not). The hours are
    read in Python; the closure and the lines in one statement."""
    if not option_open(cfg, option_id, language, now):
        return False
    lines = router.serving(option_id, language, now)
    if not lines:
        return False
    params = {"option_id": option_id, **line_params(lines)}
    closed, signed_in = (await session.execute(_closed_and_staffed(len(lines)), params)).one()
    return not closed and signed_in > 0


async def states(session: AsyncSession, cfg: HotlineConfig, now: dt.datetime) -> list[OptionState]:
    rows = {c.option_id: c for c in (await session.execute(select(OptionClosure))).scalars()}
    return [
        OptionState(
            id=o.id,
            name=o.name,
            open_by_hours=option_open(cfg, o.id, None, now),
            opens_at=option_opens_at(cfg, o.id, None, now),
            closed_by_operator=o.id in rows,
            closed_at=rows[o.id].closed_at if o.id in rows else None,
            reason=rows[o.id].reason if o.id in rows else None,
        )
        for o in cfg.options
    ]


def _known(cfg: HotlineConfig, option_id: str) -> None:
    if not cfg.has_option(option_id):
        raise NotFound(f"unknown option {option_id!r}")


async def close(
    session: AsyncSession,
    cfg: HotlineConfig,
    *,
    option_id: str,
    reason: str | None,
    who: Actor,
    now: dt.datetime,
) -> bool:
    """Close the option at once; False when it was already closed (nothing changes)."""
    _known(cfg, option_id)
    if await session.get(OptionClosure, option_id, with_for_update=True) is not None:
        return False
    session.add(
        OptionClosure(
            option_id=option_id,
            closed_at=now,
            closed_by=f"{who.role}:{who.org_id}"[:64],
            reason=(reason or None) and reason[:200],
        )
    )
    await session.flush()
    await audit.write(
        session, who, action="option.close", entity="option", entity_id=option_id, now=now,
        reason_given=bool(reason),
    )  # fmt: skip
    return True


async def reopen(
    session: AsyncSession, cfg: HotlineConfig, *, option_id: str, who: Actor, now: dt.datetime
) -> bool:
    """Reopen an option closed by hand; False when it was not closed (nothing changes)."""
    _known(cfg, option_id)
    done = await session.execute(delete(OptionClosure).where(OptionClosure.option_id == option_id))
    if not getattr(done, "rowcount", 0):  # a DML result: CursorResult has rowcount
        return False
    await audit.write(
        session, who, action="option.reopen", entity="option", entity_id=option_id, now=now
    )
    return True
