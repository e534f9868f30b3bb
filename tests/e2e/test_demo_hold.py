"""The README's multi-caller demo on a development service with nothing set: callers hold.

A development service has no Twilio account: its REST stand-in is its own, in its process
(`hotline.ivr.dev_account`), so nothing is pushed and nothing is sent to a port another program
could hold (127.0.0.1:8790, where an earlier version sent every reservation with the auth
token). The hold is the plain short segment, which the terminal phone plays for its length
(`--speed` applies): with three callers and one line, the later callers hold, the line wraps
up after each conversation, and the next caller is put through.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.testing.servers import hotline_env, hotline_serve
from tests.conftest import pg_database
from tests.e2e.conftest import ROOT
from tests.e2e.test_callback_phone import one_line_config

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    else:  # migrated by pg_database (`hotline serve` migrates only SQLite)
        yield from pg_database()


def test_three_callers_one_line_hold_then_go_through_after_the_wrap_up(
    tmp_path: Path, database: str
) -> None:
    config = one_line_config(tmp_path, wrap_up_seconds=2)
    with hotline_serve(
        database, tmp_path / "serve.log", cwd=ROOT, HOTLINE_CONFIG_PATH=str(config)
    ) as server:
        done = subprocess.run(
            [
                *[sys.executable, "-m", "hotline.cli", "call", "--url", server.url],
                *["--press", "8", "--callers", "3", "--speed", "0.2", "--talk", "5"],
                "--watch-wrap-up",
            ],
            cwd=ROOT,
            env=hotline_env(database, config),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            text=True,
            encoding="utf-8",
        )
        log = server.log_tail(100_000)
    out = done.stdout
    lines = [line.strip() for line in out.splitlines()]
    assert done.returncode == 0, f"{out}\n{done.stderr[-2000:]}\n{log}"
    assert "[summary] 3 call(s), 3 connected to a counsellor" in out, out
    # The one line serves them in turn: the last put through held for several segments,
    # each the plain short segment (no music: no Twilio pushes it out of a track).
    connected = [i for i, x in enumerate(lines) if "[talk] connected" in x]
    last = lines[connected[-1]].split(":", 1)[0]  # "caller N"
    held = [x for x in lines[: connected[-1]] if x.startswith(f"{last}: [pause")]
    assert len(held) >= 2, out
    assert not [x for x in lines if "[play" in x], out
    # The line freed after its wrap-up, then the next caller was reserved and put through.
    wrap = next(i for i, x in enumerate(lines) if x.startswith("[lines]") and "wrap_up" in x)
    assert wrap < connected[1], out
    # (The watcher looks twice a second: a line reserved and rung within that is not shown.)
    left = next(i for i, x in enumerate(lines) if x.startswith(f"{last}: [leave]"))
    assert wrap < left < connected[-1], out
    # Nothing pushed out of the hold: no dequeue, none left to a poll, in the log; the only
    # REST requests are the counsellors' legs of the calls' conferences, placed through the
    # service's own stand-in (tests/unit/test_dev_account.py: never a socket).
    rest = [x for x in log.splitlines() if "Twilio REST" in x]
    assert all("created call" in x for x in rest), log
    assert "reservation of call" not in log and "dequeue" not in log, log
