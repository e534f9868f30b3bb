"""Create, find, list and revoke API keys. Keys are 256-bit random, so a plain SHA-256 of the
key is a safe verifier (no password stretching is needed for random secrets)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import ApiKey, Role

PREFIX = "hk_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(
    session: AsyncSession, *, org_id: str, role: Role, name: str, now: dt.datetime
) -> tuple[ApiKey, str]:
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        org_id=org_id, role=role, name=name, key_hash=digest(key), prefix=key[:10], created_at=now
    )
    session.add(row)
    await session.flush()
    return row, key


async def find(session: AsyncSession, key: str) -> ApiKey | None:
    stmt = select(ApiKey).where(ApiKey.key_hash == digest(key))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def revoke(session: AsyncSession, key_id: int, now: dt.datetime) -> ApiKey | None:
    row = await session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row
