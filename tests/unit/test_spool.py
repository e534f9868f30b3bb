"""The durable spool: kept in order, durable and private on disk, bounded, replayed once."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from hotline.ivr.spool import Spool, database_away

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


@pytest.mark.parametrize(
    ("exc", "away"),
    [
        (OperationalError("x", {}, ConnectionRefusedError()), True),
        (ConnectionRefusedError(), True),
        (RuntimeError("a bug"), False),
        (ValueError("bad input"), False),
    ],
)
def test_only_an_unreachable_database_is_spooled(exc: BaseException, away: bool) -> None:
    assert database_away(exc) is away


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
