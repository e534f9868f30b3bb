"""Period reports: the API, the chart and `hotline report`, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from hotline.auth.models import Role
from hotline.cli import main
from hotline.db import upgrade
from tests.conftest import Clock, Twilio, new_sid
from tests.service.test_lines_api import bearer, make_key
from tests.service.test_metrics import talk
from tests.service.test_routing import queue

PNG = b"\x89PNG\r\n\x1a\n"


async def two_callers(twilio: Twilio, app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """One caller connected after redialling once, one who gave up in the menu."""
    redialler = new_sid()
    await queue(twilio, redialler, "8")
    await twilio.post("/voice/status", CallSid=redialler, CallStatus="completed")
    await talk(twilio, app, clock, new_sid())
    other = new_sid()
    await twilio.call("/voice/incoming", other, From="+819099998888")
    await twilio.post("/voice/status", CallSid=other, CallStatus="completed")


async def test_a_period_report_counts_attempts_and_callers(twilio, app, client, clock) -> None:
    await two_callers(twilio, app, clock)
    key = await make_key(app, "sisc", Role.OPERATOR)
    r = (await client.get("/api/reports/periods/period_5", headers=bearer(key))).json()
    assert (r["calls"], r["connected"], r["answer_rate"]) == (3, 1, 33.3)
    assert r["abandoned"] == {"total": 2, "menu": 1, "waiting": 1, "ringing": 0, "callback": 0}
    # Two people on one day: the redialler reached someone, the other did not.
    assert r["unique_callers"] == {"caller_days": 2, "connected": 1, "answer_rate": 50.0}
    options = {o["id"]: o for o in r["options"]}
    assert (options["loneliness"]["calls"], options["loneliness"]["answer_rate"]) == (2, 50.0)
    assert options["women"] == {**options["women"], "calls": 0, "answer_rate": 0.0}
    assert options["none"]["calls"] == 1
    assert [e["calls"] for e in r["entries"]] == [3, 0]
    # 20 days from 09:00 to 09:00 touch 21 Tokyo dates: 12-15 to 01-04, both included.
    assert len(r["days"]) == 21 and sum(d["calls"] for d in r["days"]) == 3
    assert (r["days"][0]["date"], r["days"][-1]["date"]) == ("2023-12-15", "2024-01-04")
    assert r["wait_seconds"] == {"connected_calls": 1, "median": 40.0, "p90": 40.0}


async def test_a_period_without_calls_reports_zeros(app, client) -> None:
    key = await make_key(app, "inochi", Role.COUNSELLOR)
    resp = await client.get("/api/reports/periods/period_1", headers=bearer(key))
    r = resp.json()
    assert (r["calls"], r["connected"], r["answer_rate"], r["serious_cases"]) == (0, 0, 0.0, 0)
    assert "NaN" not in resp.text and all(not math.isnan(o["answer_rate"]) for o in r["options"])
    assert r["wait_seconds"]["median"] == 0.0 and r["unique_callers"]["answer_rate"] == 0.0


async def test_an_unknown_period_is_404_with_the_known_ones(app, client) -> None:
    key = await make_key(app, "sisc", Role.ADMIN)
    resp = await client.get("/api/reports/periods/period_9", headers=bearer(key))
    assert resp.status_code == 404
    assert "period_5" in resp.json()["detail"]["known_periods"]
    periods = (await client.get("/api/reports/periods", headers=bearer(key))).json()
    assert [p["id"] for p in periods][-1] == "none"


async def test_reports_need_an_api_key(client) -> None:
    assert (await client.get("/api/reports/periods/period_5")).status_code == 401
    assert (await client.get("/api/reports/periods/period_5/chart.png")).status_code == 401


async def test_the_chart_is_a_png(twilio, app, client, clock) -> None:
    await two_callers(twilio, app, clock)
    key = await make_key(app, "sisc", Role.COORDINATOR)
    resp = await client.get("/api/reports/periods/period_5/chart.png", headers=bearer(key))
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.content.startswith(PNG)
    english = await client.get(
        "/api/reports/periods/period_5/chart.png", params={"lang": "en"}, headers=bearer(key)
    )
    assert english.content.startswith(PNG) and english.content != resp.content
    wrong = await client.get(
        "/api/reports/periods/period_5/chart.png", params={"lang": "fr"}, headers=bearer(key)
    )
    assert wrong.status_code == 422


# -- the command line -----------------------------------------------------------------------
@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    return db_url


def test_report_formats(cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--period", "period_5"]) == 0
    table = capsys.readouterr().out
    assert "第5期" in table and "応答率" in table and "0.0%" in table
    assert main(["report", "--period", "period_5", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["period"]["id"] == "period_5"
    assert main(["report", "--all", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["period"] for r in rows} >= {"period_1", "period_5", "none"}
    assert main(["report", "--all"]) == 0
    assert "いのちの日" in capsys.readouterr().out
    chart = tmp_path / "p5.png"
    assert main(["report", "--period", "period_5", "--chart", str(chart)]) == 0
    assert chart.read_bytes().startswith(PNG)
    english = tmp_path / "p5-en.png"
    args = ["report", "--period", "period_5", "--chart", str(english), "--lang", "en"]
    assert main(args) == 0
    assert english.read_bytes().startswith(PNG) and english.read_bytes() != chart.read_bytes()


def test_report_of_an_unknown_period(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--period", "period_9"]) == 2
    assert "known periods: period_1" in capsys.readouterr().err


def test_report_on_a_database_not_migrated_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "4898d82410ba")  # an older schema
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    assert main(["report", "--period", "period_5"]) == 1
    assert "hotline migrate" in capsys.readouterr().err
