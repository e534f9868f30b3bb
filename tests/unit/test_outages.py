"""What counts as "the database is away" (`hotline.ivr.spool.classify`), mode by mode, on the
drivers' real exception classes, raised and wrapped as SQLAlchemy wraps them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg.exceptions as pg
import pytest
from sqlalchemy import exc as sa
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from hotline.ivr.spool import Failure, classify, database_away

AWAY, DOUBT, OURS = Failure.AWAY, Failure.DOUBT, Failure.OURS
DBAPI = asyncpg_dialect.import_dbapi()


def wrapped(error: Exception, invalidated: bool = False) -> BaseException:
    """`error` as a statement meets it: asyncpg's, translated by SQLAlchemy's adapter (which
    raises its own `from` asyncpg's), wrapped in SQLAlchemy's DBAPIError (`orig`)."""
    try:
        try:
            raise error
        except Exception as e:
            AsyncAdapt_asyncpg_connection._handle_exception_no_connection(DBAPI, e)
    except DBAPI.Error as adapted:
        return sa.DBAPIError.instance(
            "SELECT 1", {}, adapted, DBAPI.Error, connection_invalidated=invalidated
        )
    raise AssertionError("not translated")


def sqlite_error(make: Callable[[Path], object]) -> Callable[[Path], BaseException]:
    """A real sqlite3 error, from a real database file, wrapped as SQLAlchemy wraps it."""

    def run(tmp: Path) -> BaseException:
        try:
            make(tmp)
        except sqlite3.Error as e:
            return sa.OperationalError("SELECT 1", {}, e)
        raise AssertionError("no error")

    return run


def locked(tmp: Path) -> None:
    path = tmp / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        sqlite3.connect(path, timeout=0).execute("SELECT * FROM t")
    finally:
        holder.close()


def cannot_open(tmp: Path) -> None:
    sqlite3.connect(tmp / "no such directory" / "db.sqlite")


def unique(tmp: Path) -> None:
    db = sqlite3.connect(tmp / "db.sqlite")
    db.execute("CREATE TABLE t (x UNIQUE)")
    db.execute("INSERT INTO t VALUES (1), (1)")


def no_table(tmp: Path) -> None:
    sqlite3.connect(tmp / "db.sqlite").execute("SELECT * FROM missing")


class Bug(Exception):
    pass


MODES: dict[str, tuple[Callable[[Path], BaseException], Failure]] = {
    # PostgreSQL refusing or dropping us: class 08, 53, 57, read-only, not accepting
    "08006 connection failure": (lambda _: wrapped(pg.ConnectionFailureError("x")), AWAY),
    "08003 connection does not exist": (
        lambda _: wrapped(pg.ConnectionDoesNotExistError("connection was closed")),
        AWAY,
    ),
    "08001 client cannot connect": (lambda _: wrapped(pg.ClientCannotConnectError("x")), AWAY),
    "53300 too many connections": (
        lambda _: wrapped(pg.TooManyConnectionsError("sorry, too many clients already")),
        AWAY,
    ),
    "53100 disk full": (lambda _: wrapped(pg.DiskFullError("could not extend file")), AWAY),
    "57P01 admin shutdown": (
        lambda _: wrapped(pg.AdminShutdownError("terminating connection due to ...")),
        AWAY,
    ),
    "57P02 crash shutdown": (lambda _: wrapped(pg.CrashShutdownError("x")), AWAY),
    "57P03 starting up": (
        lambda _: wrapped(pg.CannotConnectNowError("the database system is starting up")),
        AWAY,
    ),
    "57P03 shutting down": (
        lambda _: wrapped(pg.CannotConnectNowError("the database system is shutting down")),
        AWAY,
    ),
    "57014 statement cancelled (timeout)": (
        lambda _: wrapped(pg.QueryCanceledError("canceling statement due to timeout")),
        AWAY,
    ),
    "55000 not accepting connections": (
        lambda _: wrapped(
            pg.ObjectNotInPrerequisiteStateError(
                'database "hotline" is not currently accepting connections'
            )
        ),
        AWAY,
    ),
    "55000 otherwise": (
        lambda _: wrapped(pg.ObjectNotInPrerequisiteStateError("lastval is not yet defined")),
        DOUBT,
    ),
    "25006 read-only after a failover": (
        lambda _: wrapped(
            pg.ReadOnlySQLTransactionError("cannot execute UPDATE in a read-only transaction")
        ),
        AWAY,
    ),
    "40001 serialization": (lambda _: wrapped(pg.SerializationError("x")), AWAY),
    "40P01 deadlock": (lambda _: wrapped(pg.DeadlockDetectedError("x")), AWAY),
    "55P03 lock not available": (lambda _: wrapped(pg.LockNotAvailableError("x")), AWAY),
    # asyncpg's own: a closed connection; the pooled connection SQLAlchemy invalidated
    "asyncpg: connection is closed": (
        lambda _: wrapped(pg.InterfaceError("connection is closed")),
        AWAY,
    ),
    "asyncpg: another operation in progress": (
        lambda _: wrapped(pg.InterfaceError("another operation is in progress")),
        DOUBT,
    ),
    "asyncpg: connection_invalidated": (
        lambda _: wrapped(pg.InternalClientError("x"), invalidated=True),
        AWAY,
    ),
    "asyncpg raw: connection does not exist": (
        lambda _: pg.ConnectionDoesNotExistError("x"),
        AWAY,
    ),
    # sockets and clocks, SQLAlchemy's pool
    "connection refused": (lambda _: ConnectionRefusedError(111, "refused"), AWAY),
    "connection reset": (lambda _: ConnectionResetError(104, "reset"), AWAY),
    "no route to host": (lambda _: OSError(113, "no route to host"), AWAY),
    "connect timeout": (lambda _: TimeoutError(), AWAY),
    "asyncio timeout": (lambda _: TimeoutError(), AWAY),
    "pool checkout timeout": (lambda _: sa.TimeoutError("QueuePool limit ..."), AWAY),
    "a bug wrapping an outage": (lambda _: _from(Bug("x"), ConnectionResetError()), AWAY),
    # SQLite: busy/locked, cannot open; a constraint is ours; "no such table" in doubt
    "sqlite: database is locked": (sqlite_error(locked), AWAY),
    "sqlite: unable to open": (sqlite_error(cannot_open), AWAY),
    "sqlite: unique constraint": (sqlite_error(unique), OURS),
    "sqlite: no such table": (sqlite_error(no_table), DOUBT),
    # the statement or its data at fault: the same after any outage
    "23505 unique violation": (lambda _: wrapped(pg.UniqueViolationError("x")), OURS),
    "22P02 invalid text": (lambda _: wrapped(pg.InvalidTextRepresentationError("x")), OURS),
    "42P01 undefined table": (lambda _: wrapped(pg.UndefinedTableError("x")), OURS),
    "P0001 raised by a trigger": (lambda _: wrapped(pg.RaiseError("append-only")), OURS),
    "XX000 internal error": (lambda _: wrapped(pg.InternalServerError("x")), DOUBT),
    "a bug": (lambda _: RuntimeError("a bug"), OURS),
    "bad input": (lambda _: ValueError("bad input"), OURS),
}


def _from(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize("mode", list(MODES))
def test_each_mode_is_classified_by_what_it_is(mode: str, tmp_path: Path) -> None:
    make, kind = MODES[mode]
    exc = make(tmp_path)
    assert classify(exc) is kind
    assert database_away(exc) is (kind is not OURS)  # kept in the spool unless ours
