"""Servers as subprocesses on free loopback ports: `hotline serve`, or any command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hotline.testing.secrets import secrets_env

READY_WITHIN = 30.0  # seconds for a process to start (and migrate SQLite); not a measurement
POLL_EVERY = 0.1


class ServerFailed(RuntimeError):
    """The server exited, or did not answer ready in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline_env(
    database_url: str | None = None, config: Path | None = None, **extra: str
) -> dict[str, str]:
    """The environment of `hotline serve` and `hotline call`: development, this run's random
    secrets (the same for both, so the terminal phone's signatures are accepted, and never
    the checkout's var/secrets), no public URL.

    The caller's own HOTLINE_* and TWILIO_* settings are left out, so a developer's shell
    does not change what is measured or tested.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env.update(HOTLINE_ENV="development", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.update(secrets_env())
    env.update(extra)
    if database_url is not None:
        env["HOTLINE_DATABASE_URL"] = database_url
    if config is not None:
        env["HOTLINE_CONFIG_PATH"] = str(config)
    return env


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    pid: int
    log: Path  # its stdout and stderr

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


@contextmanager
def running(
    cmd: Sequence[str], *, port: int, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[LiveServer]:
    """Run `cmd` (a server listening on `port`) until GET /readyz answers 200; stop it after."""
    with log.open("wb") as out:
        argv = list(cmd)
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        try:
            server = LiveServer(url=f"http://127.0.0.1:{port}", pid=proc.pid, log=log)
            _wait_ready(proc, argv, server)
            yield server
        finally:
            _stop(proc)


@contextmanager
def hotline_serve(
    database_url: str, log: Path, *, cwd: Path, args: Sequence[str] = (), **env: str
) -> Iterator[LiveServer]:
    """`hotline serve` on a free loopback port, in this Python, until the block ends.

    `env` adds variables to hotline_env(database_url), e.g. HOTLINE_CONFIG_PATH.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port), *args]
    with running(cmd, port=port, env=hotline_env(database_url, None, **env), cwd=cwd, log=log) as s:
        yield s


def _wait_ready(proc: subprocess.Popen[bytes], argv: list[str], server: LiveServer) -> None:
    deadline = time.monotonic() + READY_WITHIN
    last = "no answer yet"
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerFailed(
                    f"{argv[2:]} exited with {proc.returncode} before it was ready:\n"
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
    raise ServerFailed(
        f"{argv[2:]} not ready at {server.url} within {READY_WITHIN:.0f}s ({last}):\n"
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
