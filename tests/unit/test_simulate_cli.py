"""`hotline simulate`: the table, the files, the same result for the same seed, the fit."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from hotline.cli import main
from hotline.reports.chart import MISSING
from hotline.simulate import chart, supply
from hotline.simulate.model import load_model, load_trials, published_rates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(ROOT / "config" / "menus.yaml"))


def simulate(capsys, *argv: str) -> str:  # type: ignore[no-untyped-def]
    assert main(["simulate", *argv]) == 0
    return capsys.readouterr().out


def test_two_policies_print_a_table_and_write_json_csv_and_a_chart(tmp_path: Path, capsys) -> None:
    out = simulate(
        capsys,
        "--period",
        "year_end_2022",
        "--policy",
        "pooled",
        "--policy",
        "silos",
        "--calls",
        "4000",
        "--out",
        str(tmp_path),
    )
    assert "年末年始 (year_end_2022)" in out
    for option in ("under18", "gender", "loneliness", "total"):
        assert f"pooled  {option}" in out and f"silos   {option}" in out
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert [r["policy"] for r in doc["runs"]] == ["pooled", "silos"]
    assert "assumption" in doc["notes"]["talk"]  # every assumption says it is one
    rows = list(csv.DictReader(io.StringIO((tmp_path / "latest.csv").read_text("utf-8"))))
    assert {r["option"] for r in rows} >= {"under18", "gender", "loneliness", "none", "total"}
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")


def test_the_same_seed_prints_the_same_figures(tmp_path: Path, capsys) -> None:
    args = ["--period", "day_of_life", "--format", "json", "--out", str(tmp_path)]
    first, again = (json.loads(simulate(capsys, *args)) for _ in range(2))
    other = json.loads(simulate(capsys, *args, "--seed", "2"))
    for doc in (first, again, other):
        doc.pop("seconds")
    assert first == again
    assert first["runs"] != other["runs"]


def test_a_staffing_plan_is_read_and_its_mistakes_named(tmp_path: Path, capsys, cfg) -> None:
    plan = tmp_path / "plan.csv"
    rows = [supply.PlanRow("inochi", None, (1,) * 12 + (3,) * 12)]
    plan.write_text(supply.write_plan(rows), encoding="utf-8")
    out = simulate(capsys, "--period", "day_of_life", "--plan", str(plan), "--out", str(tmp_path))
    assert f"staffing plan {plan}" in out
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert doc["runs"][0]["staffed_hours"] == {"inochi": 48.0}  # 12 x 1 + 12 x 3, one day
    plan.write_text("org,option,00\ninochii,,1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="line 2: unknown organisation 'inochii'"):
        main(["simulate", "--period", "day_of_life", "--plan", str(plan)])


def test_the_fit_reproduces_the_published_rates_and_prints_pooled_beside(
    tmp_path: Path, capsys
) -> None:
    out = simulate(capsys, "--fit", "year_end_2022", "--calls", "8000", "--out", str(tmp_path))
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    published = published_rates(load_model(), load_trials(), "year_end_2022")
    silos = {r["policy"]: r for r in doc["runs"]}["silos"]["options"]
    for option, rate in published.items():
        assert silos[option]["answer_rate"] == pytest.approx(rate, abs=5.0), option
    assert set(doc["fit"]["line_hours"]) == set(published)
    assert "pooled" in out and "published" in out
    # The chart's lower panel has the callers waiting under each policy, and the upper one
    # marks the published rates the fit aimed at.
    assert all(doc["samples"][p] for p in ("silos", "pooled", "bound"))
    fig = chart.figure(doc, {})
    assert [len(line.get_xdata()) > 0 for line in fig.axes[1].lines] == [True] * 3
    marks = [c for c in fig.axes[0].collections if c.get_label().startswith("試行の公表値")]
    assert len(marks) == 1
    assert sorted(x for x, _ in marks[0].get_offsets()) == sorted(doc["fit"]["targets"].values())


def test_the_printout_says_why_its_calls_differ_and_what_its_figures_are(
    tmp_path: Path, capsys
) -> None:
    out = simulate(capsys, "--period", "day_of_life", "--out", str(tmp_path))
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    totals = ", ".join(f"{r['policy']} {r['total']['calls']}" for r in doc["runs"])
    # The header's count is what the demand reproduces; the table's are each policy's.
    assert "813 calls to reproduce" in out
    assert (
        f"the redials of those who gave up: fewer where a policy puts more through): {totals}"
        in out
    )
    assert [line for line in out.splitlines() if line.endswith(" s")] == []  # no bare "1.0 s"
    assert f"simulated in {doc['seconds']:.1f} s (wall clock)" in out


def test_the_configured_staffing_is_written_as_a_plan_to_edit(tmp_path: Path, capsys) -> None:
    plan = tmp_path / "plan.csv"
    assert main(["simulate", "--period", "period_5", "--write-plan", str(plan)]) == 0
    rows = {r["org"]: r for r in csv.DictReader(io.StringIO(plan.read_text("utf-8")))}
    assert [rows["sisc"][f"{h:02d}"] for h in range(24)] == ["3"] * 24  # 3 lines, 24 hours
    assert rows["inochi"]["option"] == ""
    assert not (tmp_path / "latest.json").exists()  # written, not simulated
    out = simulate(capsys, "--period", "day_of_life", "--plan", str(plan), "--out", str(tmp_path))
    assert "over18" in out


def test_without_the_charts_the_figures_are_written_and_one_line_says_how_to_add_them(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own environment has no matplotlib (`sys.modules[name] = None`: not
    importable, as when it is not installed); an older run's chart is not left as this one's."""
    monkeypatch.setitem(sys.modules, "matplotlib_fontja", None)
    (tmp_path / "latest.png").write_bytes(b"an older run's chart")
    assert main(["simulate", "--period", "day_of_life", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert (tmp_path / "latest.json").exists() and (tmp_path / "latest.csv").exists()
    assert not (tmp_path / "latest.png").exists()
    assert f"hotline simulate: no latest.png: {MISSING}" in err.splitlines()


def test_a_report_chart_without_the_charts_says_how_to_add_them_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib_fontja", None)
    chart = tmp_path / "chart.png"
    with pytest.raises(SystemExit) as done:
        main(["report", "--period", "period_5", "--chart", str(chart)])
    assert done.value.code == f"hotline report: {MISSING}" and not chart.exists()
