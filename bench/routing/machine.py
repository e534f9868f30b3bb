"""What the service, PostgreSQL and the machine spent: CPU, connections, the service's
own latency histogram, the errors in its log."""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

import asyncpg
import httpx

from hotline.testing.databases import plain_url

from .figures import TARGET_HOLD_P99_MS

HISTOGRAM = "hotline_webhook_duration_seconds_bucket{"  # the service's /metrics


def postgres_cpu() -> float:
    """CPU seconds so far of the local PostgreSQL server, every database (Linux /proc).

    Its live processes, plus the backends that have exited (reaped by the postmaster, their
    time is in its children's time): a pool that opens and closes connections is counted.
    """
    stats: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with suppress(OSError):
                head, rest = (proc / "stat").read_text().rsplit(")", 1)
                if head.endswith("(postgres"):
                    stats[int(proc.name)] = rest.split()
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # the postmaster
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


async def database_sessions(url: str) -> int:
    """Connections ever opened to this database (pg_stat_database.sessions, PostgreSQL 14+)."""
    conn = await asyncpg.connect(plain_url(url), timeout=5)
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        return int(await conn.fetchval(query) or 0)
    finally:
        await conn.close()


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat; (0, 0) elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


def busy_now(seconds: float = 2.0) -> str:
    """How busy the CPUs are now: anything but a few % is other work sharing the machine."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    if total1 <= total0:
        return "CPU use unknown"
    return f"CPUs {(busy1 - busy0) / (total1 - total0):.0%} busy"


async def service_histogram(client: httpx.AsyncClient, base: str) -> dict[float, float] | None:
    """The service's own /voice/wait latency histogram (cumulative count by bucket bound);
    empty before its first /voice/wait, None if the service has no /metrics.

    Measured by its ASGI middleware: from the app receiving the request to the answer, so
    without the time a request waited in the socket and uvicorn before the app read it.
    """
    try:
        resp = await client.get(f"{base}/metrics", extensions={"bench_pool": 0})
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    buckets = {}
    for line in resp.text.splitlines():
        if line.startswith(HISTOGRAM) and 'route="/voice/wait"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def inside_summary(buckets: dict[float, float]) -> str:
    total = buckets.get(float("inf"), 0.0)
    if total <= 0:
        return "no /voice/wait in the service's histogram"
    bounds = sorted(buckets)
    within = buckets.get(TARGET_HOLD_P99_MS / 1000, float("nan")) / total
    p99 = next(b for b in bounds if buckets[b] >= 0.99 * total)
    p99_text = f"<= {p99 * 1000:g} ms" if p99 != float("inf") else f"> {bounds[-2] * 1000:g} ms"
    return (
        f"inside the service (its own histogram, {total:.0f} answers): {within:.1%} within "
        f"{TARGET_HOLD_P99_MS:g} ms, p99 {p99_text}"
    )


def log_problems(log: Path) -> tuple[int, list[str]] | None:
    """How many ERROR lines the service logged, and the first with its traceback."""
    lines = log.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("ERROR", "CRITICAL"))]
    if not starts:
        return None
    first = [lines[starts[0]]]
    for line in lines[starts[0] + 1 : starts[0] + 60]:
        if line.startswith(("ERROR", "WARNING", "INFO", "CRITICAL")):
            break
        first.append(line)
    if len(first) > 16:
        first = [*first[:8], "...", *first[-8:]]
    return len(starts), first
