"""Small-cell protection of exported counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hotline.records.cells import HIDDEN, coarsen


def test_counts_below_the_minimum_are_coarsened_and_zero_is_shown() -> None:
    cells = coarsen({"20代": 3, "40代": 12, "60代": 0, "30代": 5}, 5)
    assert cells == [
        {"value": "40代", "count": 12},
        {"value": "30代", "count": 5},
        {"value": "20代", "count": "<5"},
        {"value": "60代", "count": 0},
    ]


def test_in_a_partition_one_hidden_cell_hides_the_smallest_shown_one_too() -> None:
    cells = coarsen({"男性": 60, "女性": 37, "その他": 3}, 5, partition=True)
    assert [c["count"] for c in cells] == [60, HIDDEN, "<5"]


def test_two_small_cells_need_no_second_hiding() -> None:
    cells = coarsen({"a": 60, "b": 2, "c": 3}, 5, partition=True)
    assert [c["count"] for c in cells] == [60, "<5", "<5"]


def test_multi_select_tables_are_not_partitions() -> None:
    cells = coarsen({"a": 60, "b": 2}, 5)
    assert [c["count"] for c in cells] == [60, "<5"]


def test_the_minimum_comes_from_config() -> None:
    assert coarsen({"a": 9}, 10)[0]["count"] == "<10"
    assert coarsen({"a": 1}, 1)[0]["count"] == 1


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 50), max_size=8), st.integers(1, 10))
def test_no_shown_cell_is_small_and_no_single_hidden_cell_can_be_subtracted(
    counts: dict[str, int], min_cell: int
) -> None:
    cells = coarsen(counts, min_cell, partition=True)
    shown = [c["count"] for c in cells if isinstance(c["count"], int)]
    assert all(n == 0 or n >= min_cell for n in shown)
    hidden = [c for c in cells if not isinstance(c["count"], int)]
    small = [v for v, n in counts.items() if 0 < n < min_cell]
    assert len(hidden) != 1 or not [n for n in shown if n > 0]
    assert {c["value"] for c in hidden} >= set(small)
