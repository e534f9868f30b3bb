"""The durable spool: webhook facts kept on local disk while the database is away.

When a voice webhook that carries a fact (a call arrived, a status callback, a dial result)
fails because the database cannot be reached, the caller still hears the fallback, and the
request itself is appended to a journal file: one JSON line with the path, our query, Twilio's
parameters and the time, written and fsync'd before the answer goes out. When the database
is back, `replay` applies the journal in order, each entry as the webhook would have applied it
at its own time (`hotline.ivr.webhooks.replay`), idempotently (the lifecycle's step keys), and
removes what it applied. So after an outage the period figures include those calls, and lines
whose end was reported during the outage are freed.

One journal per host (`spool_dir/<hostname>.jsonl`), shared by the host's workers. Its safety
(docs/faults.md):

- No lock is held across an `await`. Appends and the rewrite after a replay take an exclusive
  `flock` on `<hostname>.lock` (a file never replaced) in plain blocking code, for one write
  or one rewrite; the async callers run them in a thread (`asyncio.to_thread`), off the event
  loop. One replay at a time on the host holds `<hostname>.replay` with a lock that is only
  ever tried (`LOCK_NB`), never waited for: a second replay, in this process or another, skips
  its round instead of waiting.
- An append is O(1): it opens the journal write-only, appends one line and fsyncs; the bound
  (`spool_max_bytes`) is checked against the file's size (`fstat`), and the number of facts
  kept (the backlog metric) is a count held in the lock file, updated under the lock (a count
  only: a crash may leave it one short, and every rewrite sets it from the journal; a lock
  file without one, as beside a journal of an older version, is counted once). Past the bound
  a fact is dropped and counted.
- The rewrite is crash-safe: the facts left (those not applied, and those appended while the
  replay ran) are written to `<hostname>.jsonl.tmp`, fsync'd, renamed over the journal
  (`os.replace`), and the directory fsync'd. A crash at any point leaves the old journal or the
  new one, whole; facts already applied that are replayed again change nothing.

Only requests whose Twilio signature checked out are kept (the signature is checked again
here): the spool is no way in for anyone else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import Any

from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)
FACTS = (
    "/voice/incoming",
    "/voice/status",
    "/voice/dial-result",
    "/voice/callback/status",
    "/voice/leg-status",
    "/voice/conference",
    "/voice/party-status",
)

# SQLSTATEs (PostgreSQL's appendix A) of a database away or refusing us for now: the
# connection failed or was never made (class 08), the server is out of resources or connection
# slots (53, 53300 too many connections), an operator, a crash or a timeout stopped the work
# (57: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 "the database system is starting up /
# shutting down / in recovery", 57014 a statement cancelled), a conflict to retry (40), a
# system or I/O error of the server (58), a row lock not granted in time (55P03), the server
# read-only after a failover (25006), and 55000 when it says the database "is not currently
# accepting connections" (ALLOW_CONNECTIONS false).
AWAY_CLASSES = ("08", "40", "53", "57", "58")
AWAY_STATES = frozenset({"25006", "55P03"})
# Classes that say the statement or its data is at fault (a bug of ours, or a value the
# database refuses): the same after any outage, so such a fact is never kept.
OURS_CLASSES = ("0A", "21", "22", "23", "2F", "38", "39", "42", "44", "P0")
# SQLite's primary result codes of a database busy, locked, out of memory, read-only, corrupt,
# full or unreachable (BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN,
# PROTOCOL), and those that say the statement or its data is at fault (TOOBIG, CONSTRAINT,
# MISMATCH, RANGE).
SQLITE_AWAY = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15})
SQLITE_OURS = frozenset({18, 19, 20, 25})
DOUBTFUL_ROUNDS = 3  # a fact that fails in doubt this many rounds in a row is skipped


class Failure(Enum):
    AWAY = "away"  # the database is away: keep the fact, replay it later
    DOUBT = "doubt"  # a database error of no known kind: keep the fact all the same
    OURS = "ours"  # a bug of ours or a value refused: keeping it would change nothing


def classify(exc: BaseException) -> Failure:
    """What a webhook's failure says of the database, from the driver's error classes and
    SQLSTATE (or SQLite's result code) anywhere in its chain: SQLAlchemy's wrapper (`orig`),
    the adapter's error and asyncpg's own (`__cause__`, `__context__`).

    AWAY: an outage or a refusal for now (the SQLSTATEs above; SQLite busy, locked, I/O);
    a connection SQLAlchemy found closed (`connection_invalidated`), asyncpg's closed
    connection, the pool's checkout timeout, any `OSError` (refused, reset, unreachable) or
    `TimeoutError`. OURS: no database error in the chain (a bug), or a SQLSTATE or SQLite code
    that blames the statement or its data. DOUBT: any other database error. When in doubt the
    fact is kept: replaying it is idempotent, and a fact that still fails is skipped later."""
    chain = list(_chain(exc))
    kinds = {_one(link) for link in chain}
    if Failure.AWAY in kinds or Failure.OURS in kinds:
        return Failure.AWAY if Failure.AWAY in kinds else Failure.OURS
    if Failure.DOUBT in kinds or any(isinstance(link, DBAPIError) for link in chain):
        return Failure.DOUBT
    return Failure.OURS  # no database error at all: a bug of ours


def database_away(exc: BaseException) -> bool:
    """Is this failure the database being away, or maybe away (keep the fact)?"""
    return classify(exc) is not Failure.OURS


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:  # a chain is short; never follow a cycle for ever
        link = todo.pop(0)
        if link is None or any(link is s for s in seen):
            continue
        seen.append(link)
        yield link
        orig = getattr(link, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None]
        todo += [link.__cause__, link.__context__]


def _one(exc: BaseException) -> Failure | None:
    """One link of the chain: its kind, or None when it says nothing (SQLAlchemy's wrapper
    lets the driver's error it wraps speak)."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeout):
        return Failure.AWAY
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Failure.AWAY
    if isinstance(exc, AsyncpgInterfaceError):
        return Failure.AWAY if "closed" in str(exc) else Failure.DOUBT
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        message = str(exc).lower()
        if code is None:
            return Failure.AWAY if "closed" in message or "locked" in message else Failure.DOUBT
        code &= 0xFF  # the primary result code
        return (
            Failure.AWAY
            if code in SQLITE_AWAY
            else Failure.OURS
            if code in SQLITE_OURS
            else Failure.DOUBT
        )
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and len(state) == 5:
        return _by_sqlstate(state, str(exc))
    return None


def _by_sqlstate(state: str, message: str) -> Failure:
    state = state.upper()
    if state.startswith(AWAY_CLASSES) or state in AWAY_STATES:
        return Failure.AWAY
    if state == "55000" and "accepting connections" in message:
        return Failure.AWAY
    return Failure.OURS if state.startswith(OURS_CLASSES) else Failure.DOUBT


Apply = Callable[[dict[str, Any]], Awaitable[None]]


class Spool:
    def __init__(self, directory: Path, max_bytes: int, on_change: Any = None) -> None:
        host = socket.gethostname()
        self.path = directory / f"{host}.jsonl"
        self._lock_path = directory / f"{host}.lock"  # the append lock; holds the count
        self._claim_path = directory / f"{host}.replay"  # one replay at a time
        self._temp = directory / f"{host}.jsonl.tmp"
        self.max_bytes = max_bytes
        self.on_change = on_change  # called with (backlog, dropped) for the metrics
        self._doubted: tuple[str, int] = ("", 0)  # the head fact failing in doubt, rounds

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The journal's lock (blocking: never held across an await); yields the lock file,
        whose content is the number of facts in the journal."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def _count(self, lock: int) -> int:
        raw = os.pread(lock, 32, 0)
        if raw.strip().isdigit():
            return int(raw)
        count = self._recount()  # a lock file new beside an old journal: counted once
        self._set_count(lock, count)
        return count

    def _recount(self) -> int:
        try:
            with self.path.open("rb") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    @staticmethod
    def _set_count(lock: int, count: int) -> None:
        os.ftruncate(lock, 0)
        os.pwrite(lock, str(count).encode(), 0)

    def append(self, path: str, query: str, params: dict[str, str], at: dt.datetime) -> bool:
        """Keep one fact, durably; False (dropped) when the spool is full. Blocking: an
        async caller runs it in a thread (`append_async`)."""
        line = json.dumps({"path": path, "query": query, "params": params, "at": at.isoformat()})
        data = (line + "\n").encode("utf-8")
        with self._locked() as lock:
            count = self._count(lock)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size + len(data) > self.max_bytes:
                    log.error("spool full: a %s fact was dropped", path)
                    dropped = True
                else:
                    _write_all(fd, data)
                    os.fsync(fd)
                    dropped = False
            finally:
                os.close(fd)
            if not dropped:
                count += 1
                self._set_count(lock, count)
        self._changed(count, dropped=int(dropped))
        return not dropped

    async def append_async(
        self, path: str, query: str, params: dict[str, str], at: dt.datetime
    ) -> bool:
        """`append`, off the event loop (the fsync and the lock wait in a thread)."""
        return await asyncio.to_thread(self.append, path, query, params, at)

    def backlog(self) -> int:
        """The number of facts kept (from the count, not by reading the journal)."""
        if not self.path.exists():
            return 0
        with self._locked() as lock:
            return self._count(lock)

    def _changed(self, backlog: int, dropped: int = 0) -> None:
        if self.on_change is not None:
            try:
                self.on_change(backlog, dropped)
            except Exception:  # metrics never block a call
                log.exception("spool metrics failed")

    async def replay(self, apply: Apply) -> int:
        """Apply the kept facts in order with `apply(entry)`; the applied ones are removed.
        Stops at the first failure of the database away (the rest wait for next time); skips
        a fact that fails for a reason of ours, or in doubt for `DOUBTFUL_ROUNDS` rounds.
        Returns 0 at once when another replay is running on this host."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        with self._claimed() as claimed:
            if not claimed:
                return 0
            snapshot = await asyncio.to_thread(self._read)
            lines = snapshot.decode("utf-8").splitlines(keepends=True)
            done = await self._apply(lines, apply)
            if done:
                backlog = await asyncio.to_thread(self._rewrite, len(snapshot), lines[done:])
                log.warning("spool: %d webhook facts applied after an outage", done)
                self._changed(backlog)
        return done

    @contextmanager
    def _claimed(self) -> Iterator[bool]:
        """The host's one replay: a lock only ever tried, never waited for (so holding it
        across the replay's awaits blocks nobody)."""
        fd = os.open(self._claim_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _read(self) -> bytes:
        with self._locked():
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return b""

    async def _apply(self, lines: list[str], apply: Apply) -> int:
        """Apply `lines` in order; how many from the start are done with."""
        done = 0
        for line in lines:
            if line.strip():
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.error("spool: an unreadable line was skipped")
                    done += 1
                    continue
                try:
                    await apply(entry)
                except Exception as e:
                    if not self._skip(line, entry, e):
                        break
            done += 1
        return done

    def _skip(self, line: str, entry: dict[str, Any], exc: Exception) -> bool:
        """Is a fact whose replay failed done with (skipped), or kept for the next round?"""
        kind = classify(exc)
        if kind is Failure.AWAY:
            return False
        if kind is Failure.DOUBT:
            rounds = self._doubted[1] + 1 if self._doubted[0] == line else 1
            self._doubted = (line, rounds)
            if rounds < DOUBTFUL_ROUNDS:
                # The class, not its text: a database error quotes the statement's parameters.
                log.warning(
                    "spool: a %s fact failed (%s); kept", entry.get("path"), type(exc).__name__
                )
                return False
        log.error("spool: a %s fact failed; skipped", entry.get("path"), exc_info=exc)
        return True

    def _rewrite(self, read: int, rest: list[str]) -> int:
        """Replace the journal with `rest` and what was appended after its first `read`
        bytes, crash-safely; returns the facts left."""
        with self._locked() as lock:
            with self.path.open("rb") as f:
                f.seek(read)
                appended = f.read()
            data = "".join(rest).encode("utf-8") + appended
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._temp, self.path)
            _fsync_directory(self.path.parent)
            count = sum(1 for line in data.splitlines() if line.strip())
            self._set_count(lock, count)
        return count


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        with suppress(OSError):  # some filesystems refuse a directory's fsync
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
