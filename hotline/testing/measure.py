"""What the benchmarks measure with: percentiles and a process's CPU time."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank (with 50 values, p99 is the largest); NaN when there are none."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children so far (`hotline serve
    --workers N` runs the work in children); Linux /proc, 0 elsewhere."""
    return sum(_own_cpu(p) for p in (pid, *_children(pid)))


def _own_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Every descendant of a process (uvicorn's workers, and their own children)."""
    try:
        direct = [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except OSError:
        return []
    return [d for c in direct for d in (c, *_children(c))]
