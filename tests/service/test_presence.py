"""Counsellors as they really work: presence, wrap-up, missed calls, staffing that starts empty.

Through the webhooks and the line API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update

from hotline.app import create_app
from hotline.auth import store as keys
from hotline.auth.models import Role
from hotline.lines.models import Line, LinePresenceLog
from hotline.routing.ticker import tick_once
from hotline.services import services_of
from hotline.testing.servers import hotline_env
from tests.conftest import Clock, Twilio, make_settings, new_sid, talking_on
from tests.service.test_metrics import scrape, value
from tests.service.test_records import FORM, make_key
from tests.service.test_routing import (
    _call,
    _line,
    dialled,
    leave_and_ring,
    only_lines,
    poll,
    queue,
)


async def talk_and_hang_up(twilio: Twilio, app, clock: Clock, sid: str) -> None:  # type: ignore[no-untyped-def]
    """A caller of 8 put through, accepted, and the conversation over."""
    enq = await queue(twilio, sid, "8")
    _, whisper_url, action = dialled(await leave_and_ring(twilio, sid, enq))
    whisper = await twilio.call(whisper_url, new_sid())
    await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
    assert (await _line(app, "inochi-01")).status == "talking"
    clock.advance(300)
    await twilio.call(action, sid, DialCallStatus="completed", DialCallSid=new_sid())


async def presences(app, line_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        stmt = (
            select(LinePresenceLog.presence)
            .where(LinePresenceLog.line_id == line_id)
            .order_by(LinePresenceLog.id)
        )
        return list((await s.execute(stmt)).scalars())


async def test_a_line_goes_through_ringing_talking_wrap_up_and_back_to_ready(
    twilio: Twilio, app, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    first, second = new_sid(), new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    line = await _line(app, "inochi-01")
    assert line.status == "wrap_up" and line.call_id is None
    enq = await queue(twilio, second, "8")
    assert (await _call(app, second)).state == "waiting"  # no offer while writing the record
    for _ in range(2):
        clock.advance(59)
        await poll(twilio, second, enq)  # still holding, as Twilio polls the hold
        await tick_once(services_of(app))
        assert (await _call(app, second)).state == "waiting"
    clock.advance(3)  # the organisation's wrap-up (120 s) is over
    await poll(twilio, second, enq)
    await tick_once(services_of(app))
    assert (await _call(app, second)).line_id == "inochi-01"
    history = await presences(app, "inochi-01")
    assert history[-6:] == ["reserved", "ringing", "talking", "wrap_up", "ready", "reserved"]


async def test_a_saved_record_ends_the_wrap_up_at_once(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    assert (await _line(app, "inochi-01")).status == "wrap_up"
    headers = await make_key(app, "inochi")
    saved = await client.post("/api/records", json={**FORM, "call_sid": first}, headers=headers)
    assert saved.status_code == 201, saved.text
    assert (await _line(app, "inochi-01")).status == "ready"


async def test_the_counsellor_ends_or_extends_the_wrap_up(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    async with app.state.sessions.begin() as s:
        _, key = await keys.create(s, org_id="inochi", role=Role.COUNSELLOR, name="t", now=clock())
    auth = {"Authorization": f"Bearer {key}"}
    await only_lines(app, "inochi-01")
    await talk_and_hang_up(twilio, app, clock, new_sid())
    url = "/api/lines/inochi-01/wrap-up"
    longer = await client.post(url, json={"action": "extend", "seconds": 3600}, headers=auth)
    assert longer.status_code == 200
    until = longer.json()["wrap_up_until"]
    assert until.startswith("2023-12-25T03:15:00")  # capped at 600 s from the wrap-up's start
    done = await client.post(url, json={"action": "end"}, headers=auth)
    assert done.json()["presence"] == "ready"


async def test_two_missed_offers_make_a_line_away_until_its_counsellor_returns(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01", "inochi-02")
    await talking_on(app, "inochi-02")  # the option stays staffed: its other line is busy
    sid = new_sid()
    enq = await queue(twilio, sid, "8")
    for _ in range(2):  # nobody at the desk: the offer rings out
        _, _, action = dialled(await leave_and_ring(twilio, sid, enq))
        await twilio.call(action, sid, DialCallStatus="no-answer", DialCallSid=new_sid())
        clock.advance(61)  # past the line's rest
        await poll(twilio, sid, enq)  # the caller still holds
        await tick_once(services_of(app))
    line = await _line(app, "inochi-01")
    assert (line.status, line.away_reason, line.call_id) == ("away", "missed", None)
    assert (await _call(app, sid)).state == "waiting"  # never offered the same empty desk again
    s = await scrape(client)
    assert value(s, "hotline_lines_missed_away_total", org="inochi") == 1


@pytest.fixture
async def empty_app(db_url: str, cfg, clock: Clock) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """The shipped config, but staffed as production is: nobody signed in at the start."""
    staffing = cfg.staffing.model_copy(update={"by_schedule": False})
    production = cfg.model_copy(update={"staffing": staffing})
    application = create_app(make_settings(db_url), production, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def test_in_production_lines_start_offline_until_a_counsellor_signs_in(
    empty_app, clock: Clock
) -> None:
    transport = httpx.ASGITransport(app=empty_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        twilio = Twilio(client)
        sid = new_sid()
        closed = await queue(twilio, sid, "8")
        assert closed.find("Enqueue") is None  # nobody signed in: the closed message
        assert (await _call(empty_app, sid)).state == "closed"
        async with empty_app.state.sessions.begin() as s:
            _, key = await keys.create(
                s, org_id="inochi", role=Role.COUNSELLOR, name="t", now=clock()
            )
        auth = {"Authorization": f"Bearer {key}"}
        signed = await client.post(
            "/api/lines/inochi-01/status", json={"status": "ready"}, headers=auth
        )
        assert signed.json()["presence"] == "ready"
        later = new_sid()
        await queue(twilio, later, "8")
        assert (await _call(empty_app, later)).line_id == "inochi-01"


async def test_hotline_lines_ready_brings_back_the_lines_missed_calls_put_away(
    app, db_url: str
) -> None:
    """What README says after `hotline call --counsellor refuse`: `hotline lines ready
    --missed` makes every line away after missed calls ready again, and only those."""
    async with app.state.sessions.begin() as s:
        missed = Line.id.in_(["inochi-01", "jaico-01"])
        await s.execute(
            update(Line).where(missed).values(status="away", away_reason="missed", missed_in_row=2)
        )
        on_break = Line.id == "inochi-02"
        await s.execute(update(Line).where(on_break).values(status="away", away_reason="break"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotline.cli", "lines", "ready", *args],
            env=hotline_env(db_url), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    done = await asyncio.to_thread(run, "--missed")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["line inochi-01: ready", "line jaico-01: ready"]
    for line_id in ("inochi-01", "jaico-01"):
        line = await _line(app, line_id)
        assert (line.status, line.away_reason, line.missed_in_row) == ("ready", None, 0)
    assert (await _line(app, "inochi-02")).away_reason == "break"  # a break is theirs to end
    again = await asyncio.to_thread(run, "--missed")
    assert "no line to make ready" in again.stdout
    unknown = await asyncio.to_thread(run, "nope-01")
    assert unknown.returncode == 2 and "unknown line" in unknown.stderr
