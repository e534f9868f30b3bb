"""The report tallies: ended calls added up per day change no figure, on SQLite and PostgreSQL.

The report is built here without its own catch-up (no `sessions`), so that the calls not
tallied yet are counted from the calls table, beside the tallied ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hotline.calls.models import Call
from hotline.cli import main
from hotline.reports import report, tallies
from tests.conftest import Clock, Twilio, new_sid
from tests.service.test_metrics import talk
from tests.service.test_routing import queue


async def build(app: Any, period: str = "period_5") -> dict[str, Any]:
    async with app.state.sessions() as s:
        return await report.build(s, app.state.cfg, period)


async def untallied(app: Any) -> int:
    async with app.state.sessions() as s:
        stmt = select(func.count()).select_from(Call).where(tallies.UNTALLIED)
        return int((await s.execute(stmt)).scalar_one())


async def test_a_report_reads_the_same_before_and_after_a_catch_up(
    twilio: Twilio, app: Any, clock: Clock
) -> None:
    # Two ended calls, tallied: a caller who gave up waiting, another who gave up in the menu.
    gave_up = new_sid()
    await queue(twilio, gave_up, "8")
    await twilio.post("/voice/status", CallSid=gave_up, CallStatus="completed")
    other = new_sid()
    await twilio.call("/voice/incoming", other, From="+819099998888")
    await twilio.post("/voice/status", CallSid=other, CallStatus="completed")
    assert await tallies.catch_up(app.state.sessions) == 2
    assert await tallies.catch_up(app.state.sessions) == 0  # nothing twice
    first = await build(app)
    assert first["unique_callers"] == {"caller_days": 2, "connected": 0, "answer_rate": 0.0}

    # Not tallied yet: the first caller redials the same day and is connected (their tallied
    # caller-day is reached now), and a third caller is still in the menu (an open call).
    await talk(twilio, app, clock, new_sid())
    await twilio.call("/voice/incoming", new_sid(), From="+819033334444")
    assert await untallied(app) == 2
    live = await build(app)
    assert (live["calls"], live["connected"], live["answer_rate"]) == (4, 1, 25.0)
    assert live["unique_callers"] == {"caller_days": 3, "connected": 1, "answer_rate": 33.3}
    assert live["abandoned"] == {"total": 2, "menu": 1, "waiting": 1, "ringing": 0, "callback": 0}
    assert live["wait_seconds"]["connected_calls"] == 1

    assert await tallies.catch_up(app.state.sessions) == 1  # the open call waits its end
    assert await untallied(app) == 1
    assert await build(app) == live
    assert await tallies.rebuild(app.state.sessions) == 3
    assert await build(app) == live


def test_hotline_tallies_catches_up_and_rebuilds(
    db_url: str, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    assert main(["tallies"]) == 0
    assert "tallied 0 ended calls" in capsys.readouterr().out
    assert main(["tallies", "--rebuild"]) == 0
    assert "(rebuilt)" in capsys.readouterr().out
