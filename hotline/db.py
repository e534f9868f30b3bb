"""Async engine, session factory, the SQLAlchemy Base, and the schema's Alembic checks.

Times are stored in UTC (`UTCDateTime`), whatever the database, and shown in Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from hotline.uow import Units

ROOT = Path(__file__).resolve().parent.parent

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC in the column (SQLite has no tz)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: object
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class SchemaNotAtHead(RuntimeError):
    """The database is not migrated to the code's schema; the message says how to migrate."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the database may keep us waiting, in seconds (docs/faults.md, "Deadlines").

    `connect`: opening a connection (asyncpg's `timeout`; its own default is 60 s).
    `command`: one statement (asyncpg's `command_timeout`), and SQLite's busy timeout (the
    wait for its write lock); None: no bound on a statement, 30 s of busy timeout. `pool`:
    the wait for a pooled connection when all are in use (SQLAlchemy's `pool_timeout`).
    These defaults are the commands' and the reports' (long statements are fine there); the
    service's voice pool takes the settings' (`Settings.db_timeouts`), every one well inside
    a voice webhook's deadline, itself well inside Twilio's 15 s."""

    connect: float = 10.0
    command: float | None = None
    pool: float = 30.0


def make_engine(url: str, *, timeouts: Timeouts | None = None, **kwargs: object) -> AsyncEngine:
    # A database error's message never carries the statement's parameters into a log: they
    # may be a caller's sealed text, a password hash or a session token's digest.
    kwargs.setdefault("hide_parameters", True)
    t = timeouts or Timeouts()
    if is_sqlite(url):
        path = _ensure_sqlite_dir(url)
        if path:  # a file: a queue of connections (in memory: one, shared, never waited for)
            kwargs.setdefault("pool_timeout", t.pool)
        busy = t.command if t.command is not None else 30.0
        engine = create_async_engine(url, connect_args={"timeout": busy}, **kwargs)
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy=busy))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", t.pool)
    # No JIT: our statements are short and many; a plan the planner over-estimates would be
    # compiled for up to a second (the routing pass's queue read once took 0.7-1.1 s so).
    connect_args: dict[str, object] = {"server_settings": {"jit": "off"}, "timeout": t.connect}
    if t.command is not None:
        connect_args["command_timeout"] = t.command
    given = kwargs.pop("connect_args", None)
    kwargs["connect_args"] = {**connect_args, **given} if isinstance(given, dict) else connect_args
    # A connection the server closed is checked for at checkout, by SQLAlchemy's ping, unless
    # the caller handles it (the voice pool: `VoiceGuard` runs the webhook again instead).
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _ensure_sqlite_dir(url: str) -> str:
    """The database file's path ("" in memory), its directory made."""
    path = url.split(":///", 1)[-1] if ":///" in url else ""
    if path.split("?", 1)[0] in ("", ":memory:"):
        return ""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


def _sqlite_begin(conn: Connection) -> None:
    # Take the write lock at BEGIN: a transaction that reads then writes cannot then fail
    # with "database is locked" half-way, and SQLite's single writer serialises routing.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object, *, busy: float) -> None:
    # WAL lets readers go on while one writer writes; foreign keys are off by default in SQLite.
    # isolation_level is sqlite3's, not PEP 249's; None: we issue BEGIN ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={round(busy * 1000)}")
    cur.close()


def session_factory(engine: AsyncEngine) -> Units:
    """Sessions on `engine` whose transactions (`begin()`, `unit()`) are units of work that
    publish nothing: the commands' and the tests' (the app's publish their effects after the
    commit: `hotline.app`, `hotline.uow`)."""
    return Units(engine, None)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


async def check_at_head(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    current, head = await current_revision(engine), head_revision(url)
    if current != head:
        raise SchemaNotAtHead(
            f"the database is at revision {current or 'none (empty)'}, the code needs {head}: "
            "run `hotline migrate` (with the same HOTLINE_DATABASE_URL) and start again"
        )


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic migrations (sync; call it outside a running event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def sync_engine_of(engine: AsyncEngine) -> Engine:
    return engine.sync_engine
