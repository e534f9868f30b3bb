"""Fresh databases migrated to head with Alembic: PostgreSQL made and dropped, SQLite files."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from hotline.db import upgrade

# The admin URL of a PostgreSQL server where databases may be created and dropped.
PG_ADMIN = os.environ.get("HOTLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server cannot be reached: tests skip (or fail under CI), benches stop."""


def asyncpg_url(url: str) -> str:
    """`postgresql://…` as SQLAlchemy's asyncpg dialect spells it."""
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def plain_url(url: str) -> str:
    """`postgresql+asyncpg://…` as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def admin(admin_url: str, *statements: str) -> None:
    """Run statements one by one on a connection of their own (CREATE DATABASE needs it)."""
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def postgres_reachable(admin_url: str = PG_ADMIN) -> bool:
    try:
        asyncio.run(admin(admin_url))
    except (OSError, asyncpg.PostgresError):
        return False
    return True


@contextmanager
def fresh_postgres(admin_url: str = PG_ADMIN, prefix: str = "hotline_test") -> Iterator[str]:
    """A new PostgreSQL database migrated to head (its asyncpg URL), dropped afterwards.

    Each has a random name, so parallel runs on one server never meet. Call it outside a
    running event loop (it runs its own, as Alembic does).
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as e:
        raise PostgresUnavailable(f"PostgreSQL is not reachable at {admin_url}: {e}") from e
    url = f"{asyncpg_url(admin_url).rsplit('/', 1)[0]}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(
            admin(
                admin_url,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                f'DROP DATABASE IF EXISTS "{name}"',
            )
        )


def fresh_sqlite(path: Path) -> str:
    """A SQLite database file at `path` migrated to head; its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url
