"""The durable spool: webhook facts kept on local disk while the database is away.

When a voice webhook that carries a fact (a call arrived, a status callback, a dial result)
fails because the database cannot be reached, the caller still hears the fallback, and the
request itself is appended to a journal file: one JSON line with the path, our query, Twilio's
parameters and the time, written and fsync'd before the answer goes out. When the database
is back, `replay` applies the journal in order, each entry as the webhook would have applied it
at its own time (`hotline.ivr.webhooks.replay`), idempotently (the lifecycle's step keys), and
empties it. So after an outage the period figures include those calls, and lines whose end was
reported during the outage are freed.

One file per host (`spool_dir/<hostname>.jsonl`), shared by the host's workers under an
exclusive `flock`; bounded (`spool_max_bytes`): past the bound a fact is dropped and counted.
Only requests whose Twilio signature checked out are kept (the signature is checked again
here): the spool is no way in for anyone else.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)
FACTS = ("/voice/incoming", "/voice/status", "/voice/dial-result", "/voice/callback/status")


def database_away(exc: BaseException) -> bool:
    """Is this failure the database being unreachable (not a bug of ours)?"""
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError):  # asyncpg's connection refused, a reset socket
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and database_away(cause)


class Spool:
    def __init__(self, directory: Path, max_bytes: int, on_change: Any = None) -> None:
        self.path = directory / f"{socket.gethostname()}.jsonl"
        self.max_bytes = max_bytes
        self.on_change = on_change  # called with (backlog, dropped) for the metrics

    @contextmanager
    def _locked(self, mode: str) -> Iterator[Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, mode, encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield f
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def append(self, path: str, query: str, params: dict[str, str], at: dt.datetime) -> bool:
        """Keep one fact, durably; False (dropped) when the spool is full."""
        line = json.dumps({"path": path, "query": query, "params": params, "at": at.isoformat()})
        with self._locked("a+") as f:
            if f.tell() + len(line) + 1 > self.max_bytes:
                log.error("spool full: a %s fact was dropped", path)
                self._changed(dropped=1)
                return False
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._changed()
        return True

    def backlog(self) -> int:
        try:
            with self.path.open(encoding="utf-8") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def _changed(self, dropped: int = 0) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.backlog(), dropped)
            except Exception:  # metrics never block a call
                log.exception("spool metrics failed")

    async def replay(self, apply: Any) -> int:
        """Apply the kept facts in order with `apply(entry)`; the applied ones are removed.
        Stops at the first failure (the database still away): the rest wait for next time."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        with self._locked("r+") as f:
            f.seek(0)
            lines = [line for line in f.read().splitlines() if line.strip()]
            done = 0
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.error("spool: an unreadable line was skipped")
                    done += 1
                    continue
                try:
                    await apply(entry)
                except Exception as e:
                    if not database_away(e):
                        log.exception("spool: a %s fact failed; skipped", entry.get("path"))
                        done += 1
                        continue
                    break
                done += 1
            rest = lines[done:]
            f.seek(0)
            f.truncate()
            f.write("".join(line + "\n" for line in rest))
            f.flush()
            os.fsync(f.fileno())
        if done:
            log.warning("spool: %d webhook facts applied after an outage", done)
        self._changed()
        return done
