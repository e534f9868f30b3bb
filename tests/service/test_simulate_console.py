"""The operator's reports page shows the latest `hotline simulate` run, when there is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.cli import main
from hotline.console import ops_pages
from tests.conftest import ROOT
from tests.service.test_console import login, users  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("users")


async def test_the_reports_page_shows_the_latest_simulation(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops_pages, "SIMULATIONS", tmp_path)
    await login(client, "ito")
    assert "最新のシミュレーション" not in (await client.get("/console/reports")).text
    assert (await client.get("/console/simulation/latest.png")).status_code == 404

    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(ROOT / "config" / "menus.yaml"))
    argv = ["simulate", "--period", "day_of_life", "--out", str(tmp_path), "--lang", "en"]
    assert main(argv) == 0
    page = (await client.get("/console/reports")).text
    assert "最新のシミュレーション: いのちの日" in page
    # In Japanese like the rest of the console (the chart was asked for in English).
    for policy in ("プール型（本ルーター）", "選択肢別（試行の方式）", "上限（全回線が全相談）"):
        assert f"<td>{policy}</td>" in page
    assert "需要: 試行の公表値から作った呼出（813件を再現、乱数の種 1）" in page
    assert "配置: menus.yaml の回線" in page
    section = page.split("最新のシミュレーション", 1)[1]
    for english in ("pooled", "silos", "bound", "synthetic", "lines of"):
        assert english not in section, english
    chart = await client.get("/console/simulation/latest.png")
    assert chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")


async def test_a_counsellor_does_not_see_the_simulation(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops_pages, "SIMULATIONS", tmp_path)
    (tmp_path / "latest.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    await login(client, "tanaka")
    assert (await client.get("/console/simulation/latest.png")).status_code == 403
