"""Live servers for the end-to-end tests: `hotline serve` as a subprocess on a free port.

The terminal phone (`hotline call`) is run against them as a subprocess too, so these tests
see exactly what an operator sees: the printed transcript.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline.testing.servers import LiveServer, ServerFailed, hotline_env, hotline_serve
from tests.conftest import pg_database

__all__ = ["LiveServer", "hotline_env"]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "menus.yaml"
CALL_TIMEOUT = 60


def serve(database_url: str, log: Path, **env: str) -> Iterator[LiveServer]:
    """Run `hotline serve` on a free port until the generator is closed."""
    env.setdefault("HOTLINE_CONFIG_PATH", str(CONFIG))
    try:
        with hotline_serve(database_url, log, cwd=ROOT, **env) as live:
            yield live
    except ServerFailed as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("e2e-sqlite")
    yield from serve(f"sqlite+aiosqlite:///{tmp / 'hotline.db'}", tmp / "serve.log")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # A fresh database, migrated by pg_database (`hotline serve` migrates only SQLite).
    # It skips when PostgreSQL is down, but fails under CI.
    database = pg_database()
    url = next(database)
    try:
        yield from serve(url, tmp_path_factory.mktemp("e2e-pg") / "serve.log")
    finally:
        database.close()  # drops the database once the server has stopped


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "pg_server" if request.param == "postgresql" else "sqlite_server"
    return request.getfixturevalue(name)


@dataclass(frozen=True)
class Transcript:
    """What `hotline call` printed, line by line."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    server_log: str

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.stdout.splitlines() if line.strip()]

    def __str__(self) -> str:
        return (
            f"$ hotline {' '.join(self.args)}  (exit {self.returncode})\n{self.stdout}\n"
            f"--- stderr ---\n{self.stderr[-3000:]}\n--- server log ---\n{self.server_log}"
        )


Caller = Callable[..., Transcript]


@pytest.fixture
def hotline_call() -> Caller:
    """hotline_call(server, "2", "1", fallback=False): run the terminal phone, scripted."""

    def call(
        server: LiveServer,
        *presses: str,
        fallback: bool = False,
        extra: Sequence[str] = (),
        config: Path = CONFIG,
    ) -> Transcript:
        args = ["call", "--url", server.url]
        for key in presses:
            args += ["--press", key]
        if fallback:
            args.append("--fallback")
        args += extra
        done = subprocess.run(
            [sys.executable, "-m", "hotline.cli", *args],
            cwd=ROOT,
            env=hotline_env(config=config),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CALL_TIMEOUT,
            text=True,
            encoding="utf-8",
        )
        return Transcript(args, done.returncode, done.stdout, done.stderr, server.log_tail())

    return call
