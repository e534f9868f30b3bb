"""Alembic migrations on fresh SQLite and PostgreSQL databases: reversible and complete."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import hotline.models  # noqa: F401 - registers every table on Base.metadata
from hotline.db import Base, downgrade, head_revision, make_engine, upgrade
from tests.conftest import pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, migrated to head (the shared ones stay untouched)."""
    if request.param == "postgresql":
        yield from pg_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
        upgrade(url)
        yield url


def on(url: str, fn: Callable[[Connection], Any]) -> Any:
    async def run() -> Any:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def test_the_schema_downgrades_to_nothing_and_upgrades_again(fresh_url: str) -> None:
    models = set(Base.metadata.tables)
    assert {"calls", "call_events"} <= models
    assert on(fresh_url, tables) == models
    downgrade(fresh_url, "base")
    assert (on(fresh_url, tables), on(fresh_url, revision)) == (set(), None)
    upgrade(fresh_url)
    assert on(fresh_url, tables) == models
    assert on(fresh_url, revision) == head_revision(fresh_url)


def test_the_migrated_schema_is_exactly_the_models(fresh_url: str) -> None:
    assert on(fresh_url, differences) == []
