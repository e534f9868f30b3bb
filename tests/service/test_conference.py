"""The call with the conference in the middle, through real HTTP, on SQLite and PostgreSQL:
the service has Twilio's REST API (the local stand-in, `hotline.testing.twilio_api`), so the
caller waits in the call's conference hearing the ringback while the counsellor's leg is
placed by REST; the whisper's 1 joins them. Twilio's conference callbacks are posted signed
(`hotline.testing.conference.ConferenceCall`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from hotline.app import create_app
from hotline.calls.models import Call, CallEvent
from hotline.conference.models import CallParty
from hotline.ivr import upkeep
from hotline.lines.models import Line
from hotline.services import services_of
from hotline.testing.conference import ConferenceCall
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import CALLER, Clock, Twilio, make_settings, new_sid

ACCOUNT = "AC" + "3" * 32
TOKEN = "stand-in-token"
LINE = "inochi-01"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
async def app(db_url: str, cfg, clock: Clock, api: TwilioApi, tmp_path) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        db_url,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        twilio_api_base=api.base_url,
        spool_dir=tmp_path / "spool",
    )
    application = create_app(settings, cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def twilio(client) -> Twilio:  # type: ignore[no-untyped-def]
    return Twilio(client, TOKEN)


@pytest.fixture
async def reserved(app: Any, twilio: Twilio, client, api: TwilioApi) -> ConferenceCall:  # type: ignore[no-untyped-def]
    """A caller who chose loneliness (8) with only inochi-01 on duty: its line is reserved."""
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline"))
        await s.execute(update(Line).where(Line.id == LINE).values(status="ready"))
    sid = new_sid()
    doc = await twilio.call("/voice/incoming", sid)
    doc = await twilio.call(doc.find("Gather").get("action"), sid, Digits="8")
    await app.state.pushes.drain()
    assert (await call_of(app, sid)).state == "reserved"
    return ConferenceCall(client, api, app, caller_sid=sid, token=TOKEN)


async def call_of(app: Any, sid: str) -> Call:
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def line_of(app: Any) -> Line:
    async with app.state.sessions() as s:
        line = await s.get(Line, LINE)
        assert line is not None
        return line


async def parties(app: Any, call_id: int) -> list[tuple[str, str]]:
    async with app.state.sessions() as s:
        rows = (await s.execute(select(CallParty).where(CallParty.call_id == call_id))).scalars()
        return sorted((p.label, p.status) for p in rows)


async def events(app: Any, call_id: int) -> int:
    async with app.state.sessions() as s:
        stmt = select(func.count()).select_from(CallEvent).where(CallEvent.call_id == call_id)
        return int((await s.execute(stmt)).scalar_one())


async def test_caller_and_counsellor_meet_in_the_calls_conference(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    call = reserved
    doc = await call.dial()
    conference = doc.find("Dial/Conference")
    assert conference is not None
    row = await call_of(app, call.caller_sid)
    assert conference.text == f"hotline-call-{row.id}"
    assert (conference.get("startConferenceOnEnter"), conference.get("endConferenceOnExit")) == (
        "false",
        "true",
    )
    assert conference.get("beep") == "false" and conference.get("participantLabel") == "caller"
    assert conference.get("waitUrl", "").endswith("/voice/ringback")
    assert conference.get("statusCallbackEvent") == "start end join leave hold"
    assert CALLER not in ET.tostring(doc).decode()  # never a caller's number in TwiML
    assert row.state == "ringing" and row.phase is None
    leg = await call.ringing()
    assert leg.to == "sip:line01@inochi.example.invalid" and leg.from_ != CALLER
    assert "/voice/whisper" in leg.url and "/voice/leg-status" in (leg.status_callback or "")
    assert leg.timeout == 25
    # The ringback: Japan's tone, looped, with no database.
    ringback = await call.caller_twiml(conference.get("waitUrl", ""))
    play = ringback.find("Play")
    assert play is not None and play.get("loop") == "0"
    wav = await call.client.get(play.text.replace(call.public, ""))
    assert wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"
    joined = await call.press("1")
    counsellor = joined.find("Dial/Conference")
    assert counsellor is not None and counsellor.text == conference.text
    assert counsellor.get("startConferenceOnEnter") == "true"
    assert counsellor.get("participantLabel") == "counsellor"
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase, row.leg_sid) == ("connected", "talking", leg.sid)
    assert row.conference_sid == call.conference_sid
    assert await parties(app, row.id) == [("caller", "joined"), ("counsellor", "joined")]
    assert (await line_of(app)).status == "talking"
    goodbye = await call.counsellor_hangs_up()
    assert goodbye[-1].tag == "Hangup" and goodbye.find("Say") is not None
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase) == ("completed", None)
    assert (await line_of(app)).call_id is None
    assert await parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]
    # Nothing the service asked of Twilio carries the caller's number.
    assert CALLER not in " ".join(api.requests) + str([c.params for c in api.created])


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "completed"])
async def test_a_counsellor_leg_not_answered_requeues_the_caller_at_the_head(
    app: Any, api: TwilioApi, reserved: ConferenceCall, status: str
) -> None:
    call = reserved
    await call.dial()
    waited_from = (await call_of(app, call.caller_sid)).waiting_since
    await call.ringing()
    if status == "completed":  # answered, the whisper heard, no key: the leg hangs up
        assert (await call.whisper())[-1].tag == "Hangup"
    await call.leg_status(status)
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.waiting_since, row.line_id, row.connected_at) == (
        "waiting",
        waited_from,
        None,
        None,
    )
    line = await line_of(app)
    assert line.call_id is None and line.cooldown_until is not None  # a miss: it rests
    # After commit, the caller is redirected out of the conference, back to the queue.
    await app.state.pushes.drain()
    redirected = [u for sid, u in api.updates if sid == call.caller_sid]
    assert redirected and "/voice/requeue" in redirected[-1]["Url"]
    back = await call.caller_twiml(redirected[-1]["Url"])
    assert back.find("Enqueue") is not None
    # A retry of the leg's status changes nothing.
    before = await events(app, row.id)
    await call.leg_status(status)
    assert await events(app, row.id) == before


async def test_twilio_refusing_the_counsellor_leg_requeues_the_caller(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    api.reject_numbers.add("sip:line01@inochi.example.invalid")
    await reserved.dial()
    await app.state.pushes.drain()
    row = await call_of(app, reserved.caller_sid)
    assert row.state == "waiting" and row.line_id is None


async def test_a_caller_who_hangs_up_while_it_rings_frees_the_line(
    app: Any, reserved: ConferenceCall
) -> None:
    call = reserved
    await call.dial()
    await call.ringing()
    await call.caller_hangs_up()
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.end_stage) == ("abandoned", "ringing")
    assert (await line_of(app)).call_id is None
    # The counsellor answers late: told the caller is gone, never joined.
    late = await call.whisper()
    assert late.find("Dial") is None and late[-1].tag == "Hangup"


async def test_a_caller_who_hangs_up_while_talking_completes_the_call(
    app: Any, reserved: ConferenceCall
) -> None:
    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    await call.caller_hangs_up()
    row = await call_of(app, call.caller_sid)
    assert row.state == "completed"
    line = await line_of(app)
    assert line.call_id is None and line.status == "wrap_up"


async def test_every_conference_callback_retried_changes_nothing(
    app: Any, twilio: Twilio, reserved: ConferenceCall
) -> None:
    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    row = await call_of(app, call.caller_sid)
    before = (await events(app, row.id), await parties(app, row.id))
    call.seq = 0  # Twilio retries the same requests
    await call.event("participant-join", call.caller_sid, "caller")
    await call.event("conference-start")
    assert call.leg is not None
    await call.event("participant-join", call.leg.sid, "counsellor")
    assert (await events(app, row.id), await parties(app, row.id)) == before
    mark = call.seq
    await call.counsellor_hangs_up()
    after = (await events(app, row.id), await parties(app, row.id))
    call.seq = mark  # the same requests again, as Twilio retries them
    await call.counsellor_hangs_up()
    assert (await events(app, row.id), await parties(app, row.id)) == after


def _database_away() -> Any:
    from contextlib import contextmanager

    from sqlalchemy.engine import Engine

    @contextmanager
    def away() -> Iterator[None]:
        def refused(*a: object, **k: object) -> None:
            raise ConnectionRefusedError("the database is away")

        event.listen(Engine, "before_cursor_execute", refused)
        try:
            yield
        finally:
            event.remove(Engine, "before_cursor_execute", refused)

    return away()


async def test_conference_callbacks_while_the_database_is_away_are_spooled_and_replayed(
    app: Any, reserved: ConferenceCall
) -> None:
    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    assert call.leg is not None
    with _database_away():
        # The counsellor hangs up: the conference ends; the callbacks cannot be applied.
        call.api.rooms.leave(call.conference_sid, call.leg.sid)
        await call.event("participant-leave", call.leg.sid, "counsellor")
        await call.conference_ends((call.caller_sid, "caller"))
        await call.leg_status("completed")
    assert (await call_of(app, call.caller_sid)).state == "connected"
    assert await upkeep.replay_spool(services_of(app)) >= 3
    row = await call_of(app, call.caller_sid)
    assert row.state == "completed" and (await line_of(app)).call_id is None
    assert await parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]


async def test_a_conference_nobody_is_in_ends_and_frees_its_line(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    assert call.leg is not None
    # Both legs are gone but every callback that would say so was lost.
    api.rooms.leave(call.conference_sid, call.caller_sid)
    api.rooms.leave(call.conference_sid, call.leg.sid)
    services = services_of(app)
    clock.advance(services.settings.reconcile_after_seconds + 1)
    assert await upkeep.reconcile_conferences(services) == 1
    row = await call_of(app, call.caller_sid)
    assert row.state == "completed" and (await line_of(app)).call_id is None
    # A conference someone is still in is left alone.
    assert await upkeep.reconcile_conferences(services) == 0


async def test_the_on_hold_words_are_calm_in_the_callers_language_without_the_database(
    reserved: ConferenceCall,
) -> None:
    with _database_away():
        doc = await reserved.caller_twiml("/voice/on-hold?l=en")
    assert [el.tag for el in doc] == ["Say", "Pause", "Redirect"]
    assert "still connected" in (doc.find("Say").text or "")
    assert (doc.find("Redirect").text or "").endswith("/voice/on-hold?l=en")
    ja = await reserved.caller_twiml("/voice/on-hold")
    assert "保留" in (ja.find("Say").text or "")


async def test_a_call_ended_by_a_move_in_the_conference_ends_the_conference(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    """The counsellor leaves without handing over (an in-call action): the call completes, its
    line is freed, and after commit the conference is ended at Twilio."""
    from hotline.calls import lifecycle as lc
    from hotline.calls import service, store

    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    services = services_of(app)
    async with services.unit() as uow:
        row = await store.get_call(uow.session, call.caller_sid, lock=True)
        assert row is not None
        left = lc.CounsellorLeft(handover=False)
        await service.apply(uow.session, services.router, row, left, services.clock())
        await uow.commit()
    await app.state.pushes.drain()
    assert ("end", call.conference_sid) in [entry[:2] for entry in api.rooms.log]
    assert (await call_of(app, call.caller_sid)).state == "completed"
    goodbye = await call.caller_twiml(call.dial_action, DialCallStatus="completed")
    assert goodbye[-1].tag == "Hangup"


async def _apply(app: Any, sid: str, event: Any) -> None:
    from hotline.calls import service, store

    services = services_of(app)
    async with services.unit() as uow:
        row = await store.get_call(uow.session, sid, lock=True)
        assert row is not None
        await service.apply(uow.session, services.router, row, event, services.clock())
        await uow.commit()
    await app.state.pushes.drain()


async def test_the_counsellor_dropping_while_the_caller_is_held_requeues_the_caller(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    from hotline.calls import lifecycle as lc

    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    connected = await call_of(app, call.caller_sid)
    await _apply(app, call.caller_sid, lc.HoldSet(on=True))
    assert (await call_of(app, call.caller_sid)).phase == "on_hold"
    assert call.leg is not None
    api.rooms.leave(call.conference_sid, call.leg.sid)  # their phone drops
    await call.event("participant-leave", call.leg.sid, "counsellor")
    await call.leg_status("completed")
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.line_id) == ("waiting", None)
    assert (row.waiting_since, row.connected_at) == (
        connected.waiting_since,
        connected.connected_at,
    )
    line = await line_of(app)
    assert line.call_id is None and line.status == "wrap_up"  # no miss: it took the call
    await app.state.pushes.drain()
    redirected = [u["Url"] for sid, u in api.updates if sid == call.caller_sid]
    assert redirected and "/voice/requeue?o=loneliness" in redirected[-1]
    # Twilio took the redirect: nothing is owed (`requeue` until then).
    assert (await call_of(app, call.caller_sid)).phase is None
    assert (await call.caller_twiml(redirected[-1])).find("Enqueue") is not None
    # Hanging up while waiting again: the call was connected once, so it completes.
    await call.caller_twiml("/voice/queue-result?o=loneliness", QueueResult="hangup")
    assert (await call_of(app, call.caller_sid)).state == "completed"


async def test_a_cold_transfer_takes_the_caller_to_the_other_queue_with_their_wait(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    from hotline.calls import lifecycle as lc

    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    before = await call_of(app, call.caller_sid)
    await _apply(app, call.caller_sid, lc.TransferredToQueue("under18", None))
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.option_id, row.waiting_since) == (
        "waiting",
        "under18",
        before.waiting_since,
    )
    redirected = [u["Url"] for sid, u in api.updates if sid == call.caller_sid]
    assert redirected and "/voice/requeue?o=under18" in redirected[-1]
    queue = (await call.caller_twiml(redirected[-1])).find("Enqueue")
    assert queue is not None and queue.text == "hotline-under18"
