"""Small-cell protection of exported counts. Pure: no I/O.

A count from 1 to `min_cell - 1` could point at a person (the only 70代以上 caller of an
organisation on one day), so it is shown as "<min_cell" (primary suppression). In a table
whose cells add up to the total (each record has one value: age group, gender, ...), one
hidden cell could be recovered by subtraction, so the smallest shown cell is hidden as well,
as "*" (secondary suppression). Zero is shown: it points at nobody.
"""

from __future__ import annotations

from typing import Any

HIDDEN = "*"


def coarsen(counts: dict[Any, int], min_cell: int, *, partition: bool = False) -> list[dict]:
    """Cells `{"value", "count"}`, largest first; counts below `min_cell` coarsened."""
    small = f"<{min_cell}"
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    cells: list[dict[str, Any]] = [
        {"value": v, "count": small if 0 < n < min_cell else n} for v, n in ordered
    ]
    if partition:
        _hide_one_more(cells, small)
    return cells


def _hide_one_more(cells: list[dict[str, Any]], small: str) -> None:
    hidden = [c for c in cells if c["count"] == small]
    shown = [c for c in cells if isinstance(c["count"], int) and c["count"] > 0]
    if len(hidden) == 1 and shown:
        min(reversed(shown), key=lambda c: c["count"])["count"] = HIDDEN
