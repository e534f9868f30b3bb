"""Figures, report assembly and rendering, without a database."""

from __future__ import annotations

import csv
import io

import pytest

from hotline.config import HotlineConfig
from hotline.reports import definitions, labels, render, report


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert definitions.percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert definitions.percentile([float(i) for i in range(11)], 0.9) == 9.0
    assert definitions.percentile([], 0.5) == 0.0


@pytest.mark.parametrize(
    ("connected", "calls", "rate"),
    [(489, 813, 60.1), (3032, 34315, 8.8), (1, 16, 6.3), (0, 0, 0.0), (5, 5, 100.0)],
)
def test_answer_rates_round_half_up_to_one_decimal(connected, calls, rate) -> None:
    assert report.rate(connected, calls) == rate


def test_the_options_a_menu_offers(cfg: HotlineConfig) -> None:
    assert labels.offered_options(cfg, "period-5") == [
        "under18",
        "women",
        "gender",
        "loneliness",
        "foreign",
    ]
    assert set(labels.offered_options(cfg, "eight-options")) >= {"suicidal", "poverty", "foreign"}


def test_labels_stay_in_closed_sets(cfg: HotlineConfig) -> None:
    closed = labels.Closed(cfg)
    assert closed.period("period_99") == "none" and closed.period("period_5") == "period_5"
    assert closed.entry("+81312345678") == "other" and closed.org(None) == "none"


def empty(cfg: HotlineConfig, period_id: str) -> dict:  # type: ignore[type-arg]
    info = report.find(cfg, period_id)
    return report.assemble(
        cfg, info, groups=[], callers=(0, 0), waits=[], serious=0, ages={}, kinds={}
    )


def test_an_empty_period_is_all_zeros(cfg: HotlineConfig) -> None:
    r = empty(cfg, "year_end_2022")
    assert (r["calls"], r["answer_rate"], r["unique_callers"]["answer_rate"]) == (0, 0.0, 0.0)
    offered = ["under18", "gender", "loneliness", "none"]  # the seed's three fields
    assert [o["id"] for o in r["options"]] == offered
    # 12-28 09:00 to 01-04 09:00: eight Tokyo days, both ends included.
    assert [d["date"] for d in r["days"]][0] == "2022-12-28" and len(r["days"]) == 8


def test_an_unknown_period_names_the_known_ones(cfg: HotlineConfig) -> None:
    with pytest.raises(report.UnknownPeriod, match="known periods: period_1, period_2"):
        report.find(cfg, "period_9")


def test_the_table_lines_up_under_japanese_labels(cfg: HotlineConfig) -> None:
    text = render.table(empty(cfg, "period_5"))
    assert text.startswith("第5期（period_5） 2023-12-15 09:00 〜 2024-01-04 09:00")
    rows = [line for line in text.splitlines() if line.startswith("  呼出件数")]
    assert rows and rows[0].endswith(" 0")
    widths = {render.width(line) for line in text.splitlines()[1:4]}
    assert len(widths) == 1  # 項目/値, 呼出件数, 接続完了: one column width


def test_csv_has_one_figure_per_line(cfg: HotlineConfig) -> None:
    reports = [empty(cfg, "period_5"), empty(cfg, "none")]
    rows = list(csv.DictReader(io.StringIO(render.to_csv(reports))))
    assert list(rows[0]) == render.CSV_HEADER
    rate = next(r for r in rows if r["figure"] == "answer_rate" and r["section"] == "total")
    assert (rate["figure_ja"], rate["value"]) == ("応答率", "0.0")
    assert "第5期" in render.table_all(reports) and "期間外" in render.table_all(reports)
