"""Counsellors looked after: a call marked hard gives its line a break (no caller is offered it)
and opens a debrief request that coordinators take and close; long talk without a pause gives
the break by itself. Through the webhooks and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update

from hotline.app import create_app
from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common.audit import Actor, AuditEntry
from hotline.config import Care
from hotline.lines import care
from hotline.lines.lines import lines_of
from hotline.lines.models import Line
from hotline.routing.table import describe_lines
from hotline.routing.ticker import tick_once
from hotline.services import services_of
from hotline.testing.rows import call_row
from tests.conftest import Clock, Twilio, make_settings, new_sid, talking_on
from tests.service.test_metrics import scrape, value
from tests.service.test_presence import talk_and_hang_up
from tests.service.test_records import FORM, SECRET, make_key
from tests.service.test_routing import (
    _call,
    _line,
    dialled,
    leave_and_ring,
    only_lines,
    poll,
    queue,
)


async def put_through(twilio: Twilio, sid: str, enq) -> None:  # type: ignore[no-untyped-def]
    """The caller leaves the hold for their line and its counsellor presses 1."""
    _, whisper_url, _ = dialled(await leave_and_ring(twilio, sid, enq))
    whisper = await twilio.call(whisper_url, new_sid())
    await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")


async def hold_until_connected(
    twilio: Twilio, app, clock: Clock, sid: str, enq, seconds: int
) -> int:  # type: ignore[no-untyped-def]
    """The caller holds, polling every minute as the hold does, for at most `seconds`: the
    seconds waited until a line was reserved for them (-1 if none was)."""
    waited = 0
    while waited < seconds:
        clock.advance(60)
        waited += 60
        await poll(twilio, sid, enq)
        await tick_once(services_of(app))
        if (await _call(app, sid)).line_id is not None:
            return waited
    return -1


async def test_a_hard_call_gives_its_line_a_break_and_the_next_caller_another_line(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01", "inochi-02")
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    counsellor = await make_key(app, "inochi")
    marked = await client.post("/api/lines/inochi-01/hard-call", headers=counsellor)
    assert marked.status_code == 200, marked.text
    assert marked.json()["state"] == "open" and marked.json()["source"] == "counsellor"
    line = await _line(app, "inochi-01")
    assert (line.status, line.break_owed_seconds) == ("wrap_up", 15 * 60)  # after the record
    saved = await client.post("/api/records", json={**FORM, "call_sid": first}, headers=counsellor)
    assert saved.status_code == 201, saved.text
    line = await _line(app, "inochi-01")
    assert (line.status, line.away_reason) == ("away", "hard_call")
    # The counsellor cannot cut their own break short.
    back = await client.post(
        "/api/lines/inochi-01/status", json={"status": "ready"}, headers=counsellor
    )
    assert back.status_code == 409
    # The next caller goes to the other line.
    second = new_sid()
    await put_through(twilio, second, await queue(twilio, second, "8"))
    assert (await _call(app, second)).line_id == "inochi-02"
    assert (await _line(app, "inochi-02")).status == "talking"
    # With that line busy, the one after waits out the break (15 minutes), then gets it.
    third = new_sid()
    enq = await queue(twilio, third, "8")
    assert (await _call(app, third)).state == "waiting"
    waited = await hold_until_connected(twilio, app, clock, third, enq, 20 * 60)
    assert 14 * 60 <= waited <= 16 * 60
    assert (await _call(app, third)).line_id == "inochi-01"
    s = await scrape(client)
    assert value(s, "hotline_hard_calls_total", org="inochi", source="counsellor") == 1
    assert value(s, "hotline_care_breaks_total", org="inochi", reason="hard_call") == 1
    assert value(s, "hotline_debrief_requests_open", org="inochi") == 1


async def test_a_record_at_a_hard_risk_level_opens_a_debrief_coordinators_take_and_close(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    counsellor = await make_key(app, "inochi")
    record = {**FORM, "call_sid": first, "seriousness": "緊急"}
    assert (await client.post("/api/records", json=record, headers=counsellor)).status_code == 201
    line = await _line(app, "inochi-01")
    assert (line.status, line.away_reason) == ("away", "hard_call")
    # The only line rests for minutes: a caller holds for it, and is not told nobody is there.
    waiting = new_sid()
    await queue(twilio, waiting, "8")
    assert (await _call(app, waiting)).state == "waiting"
    # Coordinators see it; counsellors do not list them.
    assert (await client.get("/api/debriefs", headers=counsellor)).status_code == 403
    coordinator = await make_key(app, "coord", Role.COORDINATOR)
    listed = await client.get("/api/debriefs", headers=coordinator)
    assert listed.status_code == 200
    [debrief] = listed.json()
    assert (debrief["line_id"], debrief["org_id"], debrief["source"]) == (
        "inochi-01",
        "inochi",
        "risk_level",
    )
    assert SECRET not in listed.text and "+81" not in listed.text and first not in listed.text
    url = f"/api/debriefs/{debrief['id']}"
    taken = await client.post(url, json={"action": "acknowledge"}, headers=coordinator)
    assert taken.json()["state"] == "acknowledged"
    closed = await client.post(url, json={"action": "close"}, headers=coordinator)
    assert closed.json()["state"] == "closed" and closed.json()["closed_at"]
    again = await client.post(url, json={"action": "close"}, headers=coordinator)
    assert again.status_code == 409
    assert (await client.get("/api/debriefs", headers=coordinator)).json() == []
    async with app.state.sessions() as s:
        actions = (
            await s.execute(select(AuditEntry.action).where(AuditEntry.entity == "debrief"))
        ).scalars()
        assert sorted(actions) == [
            "care.debrief_acknowledge",
            "care.debrief_close",
            "care.hard_call",
        ]
    s = await scrape(client)
    assert value(s, "hotline_hard_calls_total", org="inochi", source="risk_level") == 1
    assert value(s, "hotline_debrief_requests_open", org="inochi") == 0


async def test_marking_a_call_twice_opens_one_request_and_a_line_without_a_call_cannot(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    counsellor = await make_key(app, "inochi")
    none = await client.post("/api/lines/inochi-01/hard-call", headers=counsellor)
    assert none.status_code == 409
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    record = {**FORM, "call_sid": first, "hard_call": True}
    assert (await client.post("/api/records", json=record, headers=counsellor)).status_code == 201
    again = await client.post("/api/lines/inochi-01/hard-call", headers=counsellor)
    assert again.status_code == 200 and again.json()["source"] == "counsellor"
    coordinator = await make_key(app, "coord", Role.COORDINATOR)
    assert len((await client.get("/api/debriefs", headers=coordinator)).json()) == 1
    other = await make_key(app, "sisc")
    assert (await client.post("/api/lines/inochi-01/hard-call", headers=other)).status_code == 403


@pytest.fixture
async def short_limit_app(db_url: str, cfg, clock: Clock) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """Talk limited to 10 minutes without a pause of 5."""
    care = Care(max_consecutive_talk_minutes=10, consecutive_break_minutes=5)
    application = create_app(
        make_settings(db_url), cfg.model_copy(update={"care": care}), clock=clock
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_talk_past_the_limit_without_a_pause_gives_the_line_its_break(
    twilio: Twilio, short_limit_app, clock: Clock
) -> None:
    app = short_limit_app
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    )
    counsellor = await make_key(app, "inochi")
    await only_lines(app, "inochi-01")
    for n in range(2):  # two conversations of 5 minutes, a minute apart
        tw = Twilio(client)
        await talk_and_hang_up(tw, app, clock, new_sid())
        clock.advance(60)
        ended = await client.post(
            "/api/lines/inochi-01/wrap-up", json={"action": "end"}, headers=counsellor
        )
        assert ended.status_code == 200
        expected = "ready" if n == 0 else "away"
        assert ended.json()["presence"] == expected, ended.text
    line = await _line(app, "inochi-01")
    assert line.away_reason == "talk_limit"
    clock.advance(5 * 60 + 1)
    await tick_once(services_of(app))
    assert (await _line(app, "inochi-01")).status == "ready"
    s = await scrape(client)
    assert value(s, "hotline_care_breaks_total", org="inochi", reason="talk_limit") == 1
    await client.aclose()


async def test_the_pass_offers_no_call_to_a_line_on_its_break(app, clock: Clock) -> None:
    """Without HTTP: the routing pass over the stored lines, a hard call marked by the care
    service, a caller waiting; the line on its break is never reserved until it is over."""
    services = services_of(app)
    router, who = services.router, Actor(None, "inochi", "counsellor", "test")
    await only_lines(app, "inochi-01")
    ended = await talking_on(app, "inochi-01")
    async with app.state.sessions.begin() as s:
        line = await s.get(Line, "inochi-01")
        call_id = line.call_id
        line.call_id, line.last_call_id = None, call_id  # the call over, its wrap-up done
        await care.mark(
            s,
            router,
            who,
            call_id=call_id,
            org_id="inochi",
            line=line,
            line_id="inochi-01",
            source="counsellor",
            now=clock(),
        )
    assert (await _line(app, "inochi-01")).status == "away"
    async with app.state.sessions() as s:
        shown = describe_lines(await lines_of(s, router, "inochi", clock()))
    assert "away (hard_call) until 12:15" in shown  # `hotline routes`, in Tokyo time

    caller = new_sid()
    async with app.state.sessions.begin() as s:
        s.add(Call(**call_row(clock(), call_sid=caller, last_seen_at=clock())))

    async def pass_now() -> list[str]:
        """The caller polls (as the hold does), and a pass runs: the lines it reserved."""
        async with app.state.sessions.begin() as s:
            await s.execute(
                update(Call).where(Call.call_sid == caller).values(last_seen_at=clock())
            )
            return [r.line_id for r in await router.assign(s, clock())]

    assert await pass_now() == []  # the caller waits: the only line is on its break
    for _ in range(14):
        clock.advance(60)
        assert await pass_now() == []
    clock.advance(61)  # 15 minutes and a second: the break is over
    assert await pass_now() == ["inochi-01"]
    assert (await _call(app, caller)).line_id == "inochi-01" and ended != caller
