"""Targets and the rows of figures every part prints."""

from __future__ import annotations

from collections.abc import Sequence

from hotline.testing.measure import percentile

TARGET_PASS_P99_MS = 20.0  # the steady-state pass, whole (queries included)
TARGET_COLD_P50_MS = 100.0  # a pass that reserves a line for nearly every line (issue 13)
TARGET_HOLD_P99_MS = 100.0  # issue 13: 2,000 callers holding, p99 < 100 ms, 0 timeouts
TARGET_PUSH_P99_MS = 1000.0  # issue 13: line free -> the caller's dial request, with push


def spread(seconds: Sequence[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": values[-1] if values else float("nan"),
    }


def ms_row(label: str, seconds: Sequence[float], extra: str = "") -> str:
    s = spread(seconds)
    return f"  {label:<34} {s['p50']:>8.2f} {s['p90']:>8.2f} {s['p99']:>8.2f} {s['max']:>8.2f}" + (
        f"  {extra}" if extra else ""
    )


MS_HEADER = f"  {'':<34} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
