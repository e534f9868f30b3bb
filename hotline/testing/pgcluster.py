"""A private PostgreSQL cluster for the tests that stop, restart or starve their database.

The fault tests refuse connections, restart the server with `pg_ctl restart -m fast`, exhaust
its connection slots: none of that may touch the shared server others test against. This one
lives in a temporary directory, listens on a free loopback port (and a Unix socket in that
directory), and is always stopped (`pg_ctl stop -m immediate`) and removed afterwards, even
after a failure.

`initdb` and `postgres` refuse to run as root: as root (CI's containers), they run as the
`postgres` user (`runuser -u postgres --`), who owns the directory.

Two roles: the superuser `postgres` (the tests' hand: CREATE DATABASE, terminate, ALTER
DATABASE) and `hotline`, an ordinary role that owns the tests' databases, as the service's
role does in production. Only the superuser may use the last `superuser_reserved_connections`
slots, so with the ordinary slots all taken the tests still have theirs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hotline.db import upgrade
from hotline.testing.databases import admin
from hotline.testing.servers import free_port


def _binaries() -> Path:
    """HOTLINE_TEST_PG_BIN, or Debian's PostgreSQL 15 (the version CI installs), or the
    newest Debian has here."""
    if named := os.environ.get("HOTLINE_TEST_PG_BIN"):
        return Path(named)
    debian = Path("/usr/lib/postgresql")
    found = sorted(
        debian.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0
    )
    wanted = debian / "15" / "bin"
    return wanted if (wanted / "initdb").exists() or not found else found[-1].parent


BINARIES = _binaries()
SERVICE_ROLE = "hotline"
START_WITHIN = 60  # seconds for pg_ctl to start or stop the server; a bound, not a measurement


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL binaries here (or no `postgres` user to run them as root)."""


@dataclass(frozen=True)
class PrivateCluster:
    directory: Path
    port: int
    max_connections: int
    reserved: int  # superuser_reserved_connections

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def admin_url(self) -> str:
        """The superuser, for asyncpg, on the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str, *, role: str = SERVICE_ROLE) -> str:
        """SQLAlchemy's asyncpg URL of `database` as `role`."""
        return f"postgresql+asyncpg://{role}@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        """`pg_ctl ARGS` on this cluster (waits for it to finish: `-w`). The server it starts
        writes to the log file, never to our pipes (which would keep `pg_ctl` from ending)."""
        log = self.directory / "server.log"
        argv = [str(BINARIES / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w"]
        _run([*argv, "-t", str(START_WITHIN), *args], log=log)

    def start(self) -> None:
        self.ctl("start")

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new database owned by the service's role, migrated to head; dropped afterwards
        (its URL as the service's role)."""
        name = f"hotline_fault_{uuid.uuid4().hex[:10]}"
        asyncio.run(admin(self.admin_url, f'CREATE DATABASE "{name}" OWNER {SERVICE_ROLE}'))
        try:
            upgrade(self.url(name))
            yield self.url(name)
        finally:
            with suppress(Exception):  # the cluster may be the thing that failed
                asyncio.run(
                    admin(
                        self.admin_url,
                        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true',
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE datname = '{name}'",
                        f'DROP DATABASE IF EXISTS "{name}"',
                    )
                )


def available() -> str | None:
    """Why a private cluster cannot run here, or None."""
    if not (BINARIES / "initdb").exists():
        return f"no PostgreSQL binaries in {BINARIES} (set HOTLINE_TEST_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


@contextmanager
def private_cluster(max_connections: int = 20, reserved: int = 3) -> Iterator[PrivateCluster]:
    """initdb, start, yield; always stopped (immediate) and removed."""
    why = available()
    if why is not None:
        raise ClusterUnavailable(why)
    directory = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    cluster = PrivateCluster(directory, free_port(), max_connections, reserved)
    started = False
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        _run(
            [str(BINARIES / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust"]
            + ["-E", "UTF8", "--no-sync", "--no-instructions"],
            log=None,
        )
        _configure(cluster)
        cluster.start()
        started = True
        asyncio.run(admin(cluster.admin_url, f"CREATE ROLE {SERVICE_ROLE} LOGIN"))
        yield cluster
    finally:
        if started:
            with suppress(Exception):
                cluster.ctl("-m", "immediate", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def _configure(cluster: PrivateCluster) -> None:
    settings = {
        "port": str(cluster.port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{cluster.directory}'",
        "max_connections": str(cluster.max_connections),
        "superuser_reserved_connections": str(cluster.reserved),
        # A test's cluster: nothing to keep after a crash.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "16MB",
    }
    with (cluster.data / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{k} = {v}\n" for k, v in settings.items())


def _run(argv: Sequence[str], *, log: Path | None) -> None:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=START_WITHIN + 30, check=False
    )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr}\n{tail}")
