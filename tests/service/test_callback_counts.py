"""Callbacks counted in the period report, the tallies, /metrics and `hotline report`, on
SQLite and PostgreSQL, without changing the per-attempt figures.

The calls are stored rows, as the callback core leaves them (`hotline.testing.rows`): the
report is built without its own catch-up, so that tallied and untallied calls add up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import insert

from hotline.calls.models import Call
from hotline.cli import main
from hotline.db import make_engine, session_factory
from hotline.reports import tallies
from hotline.testing.rows import call_row, callback_row
from tests.conftest import Clock
from tests.service.test_console import login, users  # noqa: F401 - the users fixture
from tests.service.test_metrics import scrape, total, value
from tests.service.test_reports_tallies import build

PERIOD = "period_5"


def caller(name: str) -> str:
    return name * 64


async def store(app: Any, *rows: dict[str, Any]) -> None:
    async with app.state.sessions.begin() as s:
        await s.execute(insert(Call), [{**r, "period_id": PERIOD} for r in rows])


async def test_callbacks_are_counted_apart_and_reach_their_callers(
    app: Any, client: Any, clock: Clock
) -> None:
    now = clock.now - dt.timedelta(hours=2)
    # Ended, then tallied. Caller a gave up holding, then booked a callback that reached them
    # on its second try; b was connected directly; c's callback never reached them after
    # three tries; d's expired at the end of the option's hours.
    await store(
        app,
        call_row(now, caller_hash=caller("a"), state="abandoned", end_stage="waiting"),
        callback_row(now, "completed", tries=1, caller_hash=caller("a")),
        call_row(now, caller_hash=caller("b"), state="completed", connected_at=now),
        callback_row(now, "failed", tries=3, caller_hash=caller("c")),
        callback_row(now, "expired", caller_hash=caller("d")),
    )
    assert await tallies.catch_up(app.state.sessions) == 5
    # Not tallied: e's request waits for its second try, f is being dialled, h is talking
    # with a counsellor; c calls again and is connected directly.
    await store(
        app,
        callback_row(now, "queued", tries=1, caller_hash=caller("e")),
        callback_row(now, "calling", caller_hash=caller("f")),
        callback_row(now, "talking", caller_hash=caller("h")),
        call_row(now, caller_hash=caller("c"), state="completed", connected_at=now),
    )

    r = await build(app)
    # Per attempt: nine inbound calls, two connected by a counsellor's accept; the six that
    # booked a callback ended there, unconnected (the trials' 応答率 is per attempt).
    assert (r["calls"], r["connected"], r["answer_rate"]) == (9, 2, 22.2)
    assert r["abandoned"] == {"total": 7, "menu": 0, "waiting": 1, "ringing": 0, "callback": 6}
    assert r["wait_seconds"]["connected_calls"] == 2  # a callback's wait is not a hold
    # Calls placed to callers: a 2, c 3, d 0, e 1, f 1 (under way), h 1.
    assert r["callbacks"] == {
        "requested": 6,
        "attempted": 8,
        "connected": 2,
        "failed": 1,
        "expired": 1,
    }
    # Per caller: a and h were reached by a callback, b and c directly; d, e, f not yet.
    assert r["unique_callers"] == {"caller_days": 7, "connected": 4, "answer_rate": 57.1}
    loneliness = next(o for o in r["options"] if o["id"] == "loneliness")
    assert (loneliness["calls"], loneliness["connected"], loneliness["abandoned"]) == (9, 2, 7)

    assert await tallies.catch_up(app.state.sessions) == 1  # open requests wait their end
    assert await build(app) == r
    assert await tallies.rebuild(app.state.sessions) == 6
    assert await build(app) == r

    # /metrics: the stored totals are the report's.
    s = await scrape(client)
    for outcome, n in r["callbacks"].items():
        labels = {"period": PERIOD, "option": "loneliness", "outcome": outcome}
        assert value(s, "hotline_period_callbacks", **labels) == n
    assert total(s, "hotline_period_connected", period=PERIOD) == 2
    assert total(s, "hotline_period_calls", period=PERIOD) == 9
    assert (
        value(s, "hotline_period_abandoned", period=PERIOD, option="loneliness", stage="callback")
        == 6
    )
    assert value(s, "hotline_period_callbacks", period="period_1", option="suicidal",
                 outcome="failed") == 0  # fmt: skip


async def test_a_period_without_callbacks_reports_zeros(app: Any, clock: Clock) -> None:
    await store(app, call_row(clock.now, state="completed", connected_at=clock.now))
    r = await build(app)
    assert (r["calls"], r["connected"], r["abandoned"]["callback"]) == (1, 1, 0)
    assert set(r["callbacks"].values()) == {0}


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    return db_url


async def store_at(url: str, *rows: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        async with session_factory(engine).begin() as s:
            await s.execute(insert(Call), [{**r, "period_id": PERIOD} for r in rows])
    finally:
        await engine.dispose()


def test_hotline_report_prints_the_callbacks(
    cli_db: str, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = (
        callback_row(clock.now, "completed", tries=2, caller_hash=caller("a")),
        callback_row(clock.now, "failed", tries=3, caller_hash=caller("b")),
    )
    asyncio.run(store_at(cli_db, *rows))
    assert main(["report", "--period", PERIOD]) == 0
    table = capsys.readouterr().out
    for label, n in [("放棄（折り返し予約）", 2), ("折り返し予約", 2), ("折り返し発信", 6)]:
        assert any(line.split() == [label, str(n)] for line in table.splitlines()), label
    for label, n in [("折り返し接続", 1), ("折り返し不通", 1), ("折り返し期限切れ", 0)]:
        assert any(line.split() == [label, str(n)] for line in table.splitlines()), label
    assert any(line.split() == ["接続完了", "0"] for line in table.splitlines())
    assert main(["report", "--period", PERIOD, "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert f"{PERIOD},total,,,callbacks_connected,折り返し接続,1" in csv_text
    assert f"{PERIOD},total,,,abandoned_callback,放棄（折り返し予約）,2" in csv_text


@pytest.mark.usefixtures("users")
async def test_the_dashboard_shows_the_periods_callbacks(
    app: Any, client: Any, clock: Clock
) -> None:
    now = clock.now - dt.timedelta(hours=2)
    await store(
        app,
        callback_row(now, "completed", caller_hash=caller("a")),
        callback_row(now, "failed", tries=3, caller_hash=caller("b")),
        callback_row(now, "expired", caller_hash=caller("c")),
        callback_row(now, "queued", caller_hash=caller("d")),
        callback_row(now, "calling", caller_hash=caller("e")),
        call_row(now, caller_hash=caller("f"), state="completed", connected_at=now),
    )
    await login(client, "ito")
    for url in ("/console/dashboard", "/console/dashboard/figures"):
        page = (await client.get(url)).text
        # Per attempt: six calls, one connected; two of six callers were reached.
        assert 'id="fig-calls">6<' in page and 'id="fig-connected">1<' in page
        assert 'id="fig-caller-rate">33.3%<' in page
        shown = {k: figure(page, f"fig-cb-{k}") for k in CONSOLE}
        assert shown == {"open": 2, "requested": 5, "connected": 1, "failed": 1, "expired": 1}
    report = (await client.get(f"/console/reports/{PERIOD}")).text
    assert "折り返し接続" in report and "折り返し期限切れ" in report


CONSOLE = ("open", "requested", "connected", "failed", "expired")


def figure(page: str, element_id: str) -> int:
    found = re.search(rf'id="{element_id}">(\d+)<', page)
    assert found is not None, element_id
    return int(found.group(1))
