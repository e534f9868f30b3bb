"""The period report's conference calls: holds, transfers, three-way calls, emergency
escalations and supervisions, from `call_parties` and the event log, on SQLite and PostgreSQL.

The rows are written as the conference's code leaves them (the parties' rows, the lifecycle's
events with their fields as detail), so the report is checked on its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hotline.auth.models import Role
from hotline.calls.models import Call, CallEvent
from hotline.conference.models import CallParty
from hotline.reports import render, report, tallies
from hotline.testing.rows import connected_row
from tests.service.test_console import login, users  # noqa: F401 - the users fixture
from tests.service.test_lines_api import bearer, make_key

T0 = dt.datetime(2023, 12, 20, 3, 0, tzinfo=dt.UTC)  # inside 第5期


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


class Calls:
    """Conversations of a period, their parties and their events, written directly."""

    def __init__(self, app: Any) -> None:
        self.app, self.steps = app, 0

    async def call(self, period: str = "period_5", ended: bool = True) -> int:
        row = connected_row(T0, period_id=period, line_id="inochi-01", org_id="inochi")
        if ended:
            row.update(state="completed", ended_at=at(30))
        async with self.app.state.sessions.begin() as s:
            call = Call(**row)
            s.add(call)
            await s.flush()
            return int(call.id)

    async def event(self, call_id: int, event_kind: str, minute: float, **detail: Any) -> None:
        self.steps += 1
        async with self.app.state.sessions.begin() as s:
            s.add(
                CallEvent(
                    call_id=call_id,
                    step=f"test-{self.steps}",
                    kind=event_kind,
                    detail={**detail, "decision": {}},
                    at=at(minute),
                )
            )

    async def party(
        self,
        call_id: int,
        kind: str,
        *,
        consult: bool = False,
        joined: float | None = 2,
        left: float | None = None,
        role: str = "third",
        **fields: Any,
    ) -> int:
        async with self.app.state.sessions.begin() as s:
            party = CallParty(
                call_id=call_id,
                role=role,
                kind=kind,
                target_id=f"{kind}-1",
                label="p",
                status="failed" if joined is None else "left" if left is not None else "joined",
                asked_by="counsellor@inochi",
                asked_at=at(1),
                joined_at=None if joined is None else at(joined),
                left_at=None if left is None else at(left),
                **fields,
            )
            s.add(party)
            await s.flush()
            party.label = f"p{party.id}" if role == "third" else f"s{party.id}"
            party_id = int(party.id)
        if role == "third" and kind != "queue":
            await self.event(call_id, "party", 1, party_id=party_id, kind=kind, consult=consult)
        return party_id


async def conference_calls(app: Any) -> None:
    """Four conversations of 第5期 and one outside every period."""
    w = Calls(app)
    # Held twice, resumed; a partner consulted, then the caller handed over to it (warm);
    # a support organisation consulted and dropped before: neither a transfer nor three-way.
    a = await w.call()
    for minute, kind in ((3, "hold"), (4, "resume"), (5, "hold"), (6, "resume")):
        await w.event(a, kind, minute, on=kind == "hold")
    await w.party(a, "support", consult=True, joined=7, left=8)
    await w.party(a, "partner", consult=True, joined=9)
    await w.event(a, "counsellor-left", 10, handover=True)
    # An emergency line joined with the caller at once (three-way); another never answered;
    # two supervisors listening and coaching, a third whose leg failed.
    b = await w.call(ended=False)  # still in conversation: counted as it stands
    await w.party(b, "emergency", joined=2)
    await w.party(b, "emergency", joined=None)
    await w.party(b, "supervisor", role="supervisor", muted=1)
    await w.party(b, "supervisor", role="supervisor", coaching=1)
    await w.party(b, "supervisor", role="supervisor", joined=None)
    # A cold transfer to another option's queue; an interpreter consulted, then everyone
    # joined (three-way), the counsellor staying.
    c = await w.call()
    await w.party(c, "interpreter", consult=True, joined=3)
    await w.event(c, "alljoined", 4)
    async with app.state.sessions.begin() as s:
        s.add(
            CallParty(
                call_id=c,
                role="third",
                kind="queue",
                target_id="women",
                label="q",
                status="left",
                asked_at=at(12),
                left_at=at(12),
            )
        )
    # A partner met at once and met at once, then the caller handed over to it (cold).
    d = await w.call()
    await w.party(d, "partner", joined=2)
    await w.event(d, "counsellor-left", 3, handover=True)
    # Outside every period: counted in `none`, not in 第5期.
    e = await w.call(period="none")
    await w.event(e, "hold", 2, on=True)
    await w.party(e, "emergency", joined=None)


EXPECTED = {
    "holds": 2,
    "transfers": {
        "total": 3,
        "warm": 1,
        "cold": 2,
        "by_target": {
            "queue": {"warm": 0, "cold": 1},
            "partner": {"warm": 1, "cold": 1},
            "support": {"warm": 0, "cold": 0},
            "interpreter": {"warm": 0, "cold": 0},
            "emergency": {"warm": 0, "cold": 0},
            "supervisor": {"warm": 0, "cold": 0},
        },
    },
    "three_way": {
        "total": 3,
        "by_target": {
            "queue": 0,
            "partner": 1,
            "support": 0,
            "interpreter": 1,
            "emergency": 1,
            "supervisor": 0,
        },
    },
    "emergency": {"escalations": 2, "connected": 1, "failed": 1},
    "supervisions": {"total": 2, "listen": 1, "coach": 1, "join": 0},
}


async def build(app: Any, period: str = "period_5") -> dict[str, Any]:
    async with app.state.sessions() as s:
        return await report.build(s, app.state.cfg, period)


async def test_the_report_counts_the_conference_calls_of_its_period(app: Any) -> None:
    await conference_calls(app)
    assert (await build(app))["conference"] == EXPECTED
    other = (await build(app, "none"))["conference"]
    assert (other["holds"], other["emergency"]) == (
        1,
        {"escalations": 1, "connected": 0, "failed": 1},
    )
    assert (await build(app, "period_1"))["conference"]["transfers"]["total"] == 0


async def test_the_tallies_change_no_conference_figure(app: Any) -> None:
    await conference_calls(app)
    before = await build(app)
    assert await tallies.catch_up(app.state.sessions) == 4  # the ended calls
    assert await build(app) == before


async def test_the_api_the_table_and_the_csv_show_them(app: Any, client: Any) -> None:
    await conference_calls(app)
    key = await make_key(app, "inochi", Role.COUNSELLOR)
    r = (await client.get("/api/reports/periods/period_5", headers=bearer(key))).json()
    assert r["conference"] == EXPECTED
    table = render.table(r)
    assert "  保留" in table and "転送先：連携団体" in table
    rows = {line.split()[0]: line.split()[-1] for line in table.splitlines() if line.strip()}
    assert (rows["三者通話"], rows["消防・警察への接続"]) == ("3", "2")
    csv = render.to_csv([r]).splitlines()
    assert "period_5,total,,,emergency_failed,消防・警察への接続（つながらず）,1" in csv
    assert (
        "period_5,transfer_target,partner,連携団体,transfers_warm,転送（先に相談員が転送先と話す）,1"
        in csv
    )
    side = render.table_all([r, await build(app, "none")]).splitlines()
    assert any(line.startswith("保留") and line.split()[1:] == ["2", "1"] for line in side)


@pytest.mark.usefixtures("users")
async def test_the_consoles_report_page_shows_them(app: Any, client: Any) -> None:
    await conference_calls(app)
    await login(client, "ito")
    page = (await client.get("/console/reports/period_5")).text
    assert '<div>保留</div><div class="value">2</div>' in page
    assert '<div class="value">3（1／2）</div>' in page  # transfers: warm / cold
    assert '<div class="value">2（1）</div>' in page  # escalations (failed)
    assert "<tr><td>連携団体</td><td>1</td><td>1</td><td>1</td></tr>" in page
