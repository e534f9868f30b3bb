"""The audit log: who (key, organisation, role) read, changed or exported which record or case,
when and from where. Append-only: this module only inserts and selects, and the database
refuses UPDATE (see the migration). Details name fields and counts, never their contents.
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.auth.deps import Principal
from hotline.auth.models import Role
from hotline.db import Base, UTCDateTime
from hotline.errors import Forbidden


class AuditEntry(Base):
    """Append-only: who read, changed or exported which record or case, when, from where.

    The code only inserts and selects; migrations add triggers that refuse UPDATE, DELETE
    and TRUNCATE on both databases (purging is the table owner's deliberate act); in
    production, grant the service's database role INSERT and SELECT only on this table.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[int | None] = mapped_column(Integer)  # None: the command line
    org_id: Mapped[str] = mapped_column(String(48))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, and from where: an API key with its client address, or the console."""

    key_id: int | None
    org_id: str
    role: str
    client: str
    user_id: int | None = None  # a console account, when not an API key

    @classmethod
    def of(cls, who: Principal, client: str | None) -> Actor:
        # request.client is the peer address; behind a proxy, `hotline serve` makes it the
        # real client's from X-Forwarded-For sent by HOTLINE_FORWARDED_ALLOW_IPS only.
        return cls(who.key_id, who.org_id, str(who.role), (client or "unknown")[:64])

    @classmethod
    def console(cls) -> Actor:
        return cls(None, "-", "console", f"cli:{_user()}"[:64])

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}")


def _user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no login name (a container without a passwd entry)
        return "unknown"


async def write(
    session: AsyncSession,
    who: Actor,
    *,
    action: str,
    entity: str,
    entity_id: int | str | None,
    now: dt.datetime,
    **detail: Any,
) -> None:
    """Append one entry in the caller's transaction: if the request fails, so does its entry,
    and a change is never committed without its entry."""
    await session.execute(
        insert(AuditEntry).values(
            at=now,
            key_id=who.key_id,
            org_id=who.org_id,
            role=who.role,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            client=who.client,
            detail=detail,
        )
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    key_id: int | None = None
    entity: str | None = None
    entity_id: str | None = None
    limit: int = 100
    before_id: int | None = None  # page backwards: entries older than this id


async def entries(session: AsyncSession, f: AuditFilter) -> list[AuditEntry]:
    stmt = select(AuditEntry)
    if f.since is not None:
        stmt = stmt.where(AuditEntry.at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEntry.at < f.until)
    if f.key_id is not None:
        stmt = stmt.where(AuditEntry.key_id == f.key_id)
    if f.entity is not None:
        stmt = stmt.where(AuditEntry.entity == f.entity)
    if f.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == f.entity_id)
    if f.before_id is not None:
        stmt = stmt.where(AuditEntry.id < f.before_id)
    stmt = stmt.order_by(AuditEntry.id.desc()).limit(f.limit)
    return list((await session.execute(stmt)).scalars())
