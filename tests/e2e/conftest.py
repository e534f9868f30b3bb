"""Live servers for the end-to-end tests: `hotline serve` as a subprocess on a free port.

The terminal phone (`hotline call`) is run against them as a subprocess too, so these tests
see exactly what an operator sees: the printed transcript.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import pg_database

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "menus.yaml"
READY_WITHIN = 30.0  # seconds for the process to start and migrate; not a timed assertion
POLL_EVERY = 0.1
CALL_TIMEOUT = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline_env(database_url: str | None = None) -> dict[str, str]:
    """The environment of `hotline serve` and `hotline call`: development, no public URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_ENV="development",
        HOTLINE_CONFIG_PATH=str(CONFIG),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
    )
    if database_url is not None:
        env["HOTLINE_DATABASE_URL"] = database_url
    return env


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def _wait_ready(proc: subprocess.Popen[bytes], server: LiveServer) -> None:
    deadline = time.monotonic() + READY_WITHIN
    last = "no answer yet"
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"hotline serve exited with {proc.returncode} before it was ready:\n"
                    f"{server.log_tail()}"
                )
            try:
                resp = client.get(f"{server.url}/readyz")
                if resp.status_code == 200:
                    return
                last = f"{resp.status_code} {resp.text[:300]}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(POLL_EVERY)
    pytest.fail(
        f"hotline serve not ready at {server.url} within {READY_WITHIN:.0f}s ({last}):\n"
        f"{server.log_tail()}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def serve(database_url: str, log: Path) -> Iterator[LiveServer]:
    """Run `hotline serve` on a free port until the generator is closed."""
    port = free_port()
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=hotline_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(proc, server)
            yield server
        finally:
            _stop(proc)


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

    def call(server: LiveServer, *presses: str, fallback: bool = False) -> Transcript:
        args = ["call", "--url", server.url]
        for key in presses:
            args += ["--press", key]
        if fallback:
            args.append("--fallback")
        done = subprocess.run(
            [sys.executable, "-m", "hotline.cli", *args],
            cwd=ROOT,
            env=hotline_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CALL_TIMEOUT,
            text=True,
            encoding="utf-8",
        )
        return Transcript(args, done.returncode, done.stdout, done.stderr, server.log_tail())

    return call
