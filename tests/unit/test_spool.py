"""The durable spool: kept in order, durable and private on disk, bounded, replayed once."""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hotline.ivr import spool as spool_mod
from hotline.ivr.spool import Spool

AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _fill(spool: Spool, n: int) -> None:
    for i in range(n):
        assert spool.append("/voice/status", "", {"CallSid": f"CA{i}"}, AT)


async def test_facts_are_replayed_in_order_and_once(tmp_path: Path) -> None:
    spool, seen = Spool(tmp_path, 1 << 20), []
    _fill(spool, 3)
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600  # callers' call ids, kept private

    async def apply(entry: dict[str, object]) -> None:
        seen.append(entry["params"])

    assert await spool.replay(apply) == 3
    assert seen == [{"CallSid": "CA0"}, {"CallSid": "CA1"}, {"CallSid": "CA2"}]
    assert await spool.replay(apply) == 0 and spool.backlog() == 0


async def test_a_replay_stops_while_the_database_is_still_away(tmp_path: Path) -> None:
    spool, calls = Spool(tmp_path, 1 << 20), []
    _fill(spool, 3)

    async def apply(entry: dict[str, object]) -> None:
        calls.append(entry)
        if len(calls) == 2:
            raise OperationalError("select 1", {}, ConnectionRefusedError())

    assert await spool.replay(apply) == 1
    assert spool.backlog() == 2  # the second and third wait for the next round


def test_a_full_spool_drops_and_counts(tmp_path: Path) -> None:
    changes: list[tuple[int, int]] = []
    spool = Spool(
        tmp_path, 200, on_change=lambda backlog, dropped: changes.append((backlog, dropped))
    )
    kept = [spool.append("/voice/status", "", {"CallSid": f"CA{i}"}, AT) for i in range(5)]
    assert kept[0] and not kept[-1]
    assert (spool.backlog(), 1) in changes


def test_the_spool_keeps_the_callers_keyed_hash_never_the_number() -> None:
    from hotline.calls.store import caller_hash
    from hotline.voice.spooled import without_numbers as _without_numbers

    secret = b"s" * 32
    inbound = {"CallSid": "CA1", "From": "+819011112222", "To": "+815055559999"}
    kept = _without_numbers({**inbound, "Caller": "+819011112222", "FromCity": "X"}, secret)
    assert "+819011112222" not in str(kept) and kept["To"] == "+815055559999"
    assert "FromCity" not in kept
    # read back by the replay as the same hash the webhook would have stored
    assert caller_hash(secret, kept["From"]) == caller_hash(secret, "+819011112222")
    leg = {"CallSid": "CA2", "Direction": "outbound-api", "To": "+819011112222"}
    assert "To" not in _without_numbers(leg, secret)  # a callback leg: To is whom we called
    assert _without_numbers({"From": "anonymous"}, secret)["From"] == "anonymous"


async def test_an_append_during_a_replay_completes_and_is_kept(tmp_path: Path) -> None:
    """A webhook of this process keeps a fact while the replay is applying others: the
    replay holds no lock while it awaits, so the append neither waits for it nor is lost
    by its rewrite."""
    spool, seen = Spool(tmp_path, 1 << 20), []
    _fill(spool, 2)

    async def apply(entry: dict[str, Any]) -> None:
        seen.append(entry["params"])
        if len(seen) == 1:  # in the middle of the replay, on the event loop's thread
            assert spool.append("/voice/status", "", {"CallSid": "CA-late"}, AT)
            assert await spool.append_async("/voice/status", "", {"CallSid": "CA-later"}, AT)

    assert await spool.replay(apply) == 2
    assert seen == [{"CallSid": "CA0"}, {"CallSid": "CA1"}]
    assert spool.backlog() == 2  # the two appended during the replay wait for the next
    assert await spool.replay(apply) == 2
    assert seen[2:] == [{"CallSid": "CA-late"}, {"CallSid": "CA-later"}]
    assert spool.backlog() == 0


async def test_a_second_replay_skips_its_round_instead_of_waiting(tmp_path: Path) -> None:
    spool, other = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)
    _fill(spool, 2)
    inner: list[int] = []

    async def apply(entry: dict[str, Any]) -> None:
        if not inner:
            inner.append(await other.replay(apply))  # as another worker's upkeep would

    assert await spool.replay(apply) == 2
    assert inner == [0] and spool.backlog() == 0


def test_an_append_never_reads_the_journal(tmp_path: Path) -> None:
    """O(1) appends: with a journal of 100,000 facts, keeping more opens the journal only
    write-only (it is never read to be counted), and the count stays exact."""
    spool = Spool(tmp_path, 1 << 30)
    line = '{"path": "/voice/status", "query": "", "params": {}, "at": "2024-01-01T00:00:00"}'
    spool.path.write_text((line + "\n") * 100_000)  # left by a spool that had no count
    assert spool.backlog() == 100_000  # counted once, here
    opened: list[tuple[str, int]] = []
    journal = str(spool.path)

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and opened is not None and str(args[0]) == journal:
            flags = args[2] if isinstance(args[2], int) else os.O_RDONLY  # open(): by mode
            opened.append((str(args[1]), flags))

    sys.addaudithook(audit)  # hooks stay for the process: this one only records
    try:
        _fill(spool, 3)
        recorded = list(opened)
    finally:
        opened.clear()
    assert len(recorded) == 3, recorded
    assert all(flags & os.O_ACCMODE == os.O_WRONLY for _, flags in recorded), recorded
    assert spool.backlog() == 100_003


async def test_a_crash_in_the_middle_of_the_rewrite_loses_no_fact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the replay applied the facts, while it writes what is left:
    the journal is still whole (the facts are replayed again, idempotently), and the next
    replay, after the restart, applies and removes them."""
    spool, seen = Spool(tmp_path, 1 << 20), []
    _fill(spool, 3)
    before = spool.path.read_bytes()

    async def apply(entry: dict[str, Any]) -> None:
        seen.append(entry["params"]["CallSid"])

    class Crash(BaseException):
        """The process dying: nothing after it runs."""

    def crash(*_: object) -> None:
        raise Crash

    for where in ("replace", "fsync"):  # before the rename; in the temporary file's fsync
        with monkeypatch.context() as m:
            m.setattr(spool_mod.os, where, crash)
            with pytest.raises(Crash):
                await spool.replay(apply)
        assert spool.path.read_bytes() == before
    restarted = Spool(tmp_path, 1 << 20)
    assert restarted.backlog() == 3
    seen.clear()
    assert await restarted.replay(apply) == 3
    assert seen == ["CA0", "CA1", "CA2"] and restarted.backlog() == 0
    assert spool.path.read_bytes() == b""


async def test_a_replay_skips_a_fact_of_ours_and_one_in_doubt_after_some_rounds(
    tmp_path: Path,
) -> None:
    """A fact whose replay fails for a reason of ours is skipped at once; one that fails in
    doubt (a database error of no known kind) is kept for `DOUBTFUL_ROUNDS` rounds, then
    skipped, so that it never holds back the facts behind it for good."""
    import sqlite3

    spool, seen = Spool(tmp_path, 1 << 20), []
    _fill(spool, 3)

    async def apply(entry: dict[str, Any]) -> None:
        sid = entry["params"]["CallSid"]
        seen.append(sid)
        if sid == "CA0":
            raise RuntimeError("a bug of ours")
        if sid == "CA1":
            raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table"))

    assert spool_mod.DOUBTFUL_ROUNDS == 3
    assert await spool.replay(apply) == 1  # CA0 skipped; CA1 kept, CA2 behind it
    assert await spool.replay(apply) == 0 and spool.backlog() == 2
    assert await spool.replay(apply) == 2  # CA1 skipped at last, CA2 applied
    assert seen == ["CA0", "CA1", "CA1", "CA1", "CA2"]
    assert spool.backlog() == 0
