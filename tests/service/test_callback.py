"""Callback: a caller who asks to be called back keeps their place, the counsellor accepts
before the caller is dialled, a caller not reached is tried again, and the number is gone.

Twilio's REST API is the local stand-in (`hotline.testing.twilio_api`) reached through the
service's own adapter: the calls we create are the requests the stand-in records, and each
leg's webhooks are posted back signed, as Twilio would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from hotline.app import create_app
from hotline.calls.models import Call, CallEvent
from hotline.lines.models import Line
from hotline.services import services_of
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import CALLER, PUBLIC, Clock, Twilio, make_settings, new_sid, talking_on

ACCOUNT = "AC" + "2" * 32
TOKEN = "stand-in-token"
LINE = "inochi-01"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
async def app(db_url: str, cfg, clock: Clock, api: TwilioApi) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, twilio_api_base=api.base_url
    )
    application = create_app(settings, cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def twilio(client) -> Twilio:  # type: ignore[no-untyped-def]
    return Twilio(client, TOKEN)  # signed with the account's token, as Twilio signs


async def holding(twilio: Twilio, sid: str, caller: str = CALLER) -> ET.Element:
    """A caller who chose loneliness (8) and holds: every line is busy."""
    await twilio.call("/voice/incoming", sid, From=caller)
    await twilio.call("/voice/menu?m=period-5&t=1", sid, From=caller, Digits="8")
    return await twilio.call("/voice/wait?o=loneliness&n=1", sid, From=caller)


async def ask_callback(twilio: Twilio, sid: str, key: str = "1") -> ET.Element:
    await twilio.call("/voice/hold-key?o=loneliness&n=1", sid, Digits=key)
    return await twilio.call("/voice/hold-key?o=loneliness&n=1&step=confirm", sid, Digits="1")


async def booked(twilio: Twilio) -> str:
    """A caller who held, asked for a callback and confirmed: their CallSid."""
    sid = new_sid()
    await holding(twilio, sid)
    await ask_callback(twilio, sid)
    return sid


async def accepted(twilio: Twilio, app: Any, api: TwilioApi, counsellor_sid: str) -> Any:
    """The counsellor's leg (the last call placed) hears the whisper and presses 1: the
    caller's leg the service places then."""
    whisper = await leg(twilio, api.created[-1].url, counsellor_sid)
    accept = whisper.find(".//Gather").get("action")  # type: ignore[union-attr]
    await leg(twilio, accept, counsellor_sid, Digits="1")
    await app.state.pushes.drain()
    return api.created[-1]


async def call_of(app: Any, sid: str) -> Call:
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def free_line(app: Any, line_id: str = LINE) -> list[Any]:
    """The counsellor of `line_id` is ready again; a pass runs (and its pushes go out)."""
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).where(Line.id == line_id).values(call_id=None, status="ready"))
        # Only this line may be offered: the others stay busy.
        made = await app.state.router.assign(s, app.state.clock())
    await app.state.pushes.drain()
    return made


async def leg(twilio: Twilio, url: str, leg_sid: str, **params: str) -> ET.Element:
    """A webhook of a leg we created, posted as Twilio posts it (to our URL, signed)."""
    resp = await twilio.post(url, CallSid=leg_sid, **params)
    assert resp.status_code == 200, resp.text
    return ET.fromstring(resp.content)


async def status(twilio: Twilio, url: str, leg_sid: str, call_status: str) -> None:
    resp = await twilio.post(url, CallSid=leg_sid, CallStatus=call_status)
    assert resp.status_code == 204


def says(doc: ET.Element) -> str:
    return " ".join(el.text or "" for el in doc.iter("Say"))


async def everything_stored(app: Any) -> str:
    """Every text of every row of every table, as one string (to look for a number)."""
    chunks: list[str] = []
    async with app.state.sessions() as s:
        tables = [t for t in Call.metadata.sorted_tables]
        for table in tables:
            rows = (await s.execute(select(table))).all()
            chunks.extend(str(v) for row in rows for v in row)
        chunks.extend(str(e.detail) for e in (await s.execute(select(CallEvent))).scalars())
    return "\n".join(chunks)


@pytest.fixture
async def busy_lines(app: Any) -> None:
    await talking_on(app)  # every line in conversation


async def test_a_callback_is_served_in_its_turn_counsellor_first_then_the_caller(
    app, api, twilio, busy_lines, clock
) -> None:
    first, behind = new_sid(), new_sid()
    hold = await holding(twilio, first)
    assert hold.find(".//Gather") is not None  # the hold listens for the callback key
    clock.advance(30)
    await holding(twilio, behind, caller="+819033334444")
    booked = await ask_callback(twilio, first)
    assert booked.find(".//Hangup") is not None  # the call ends politely
    assert (await call_of(app, first)).state == "callback"

    made = await free_line(app)
    # The request is served in the turn it had on hold: not the caller who stayed holding.
    assert [r.call_id for r in made] == [(await call_of(app, first)).id]
    assert (await call_of(app, behind)).state == "waiting"
    assert len(api.created) == 1  # the counsellor only: nobody calls the caller yet
    counsellor = api.created[0]
    assert counsellor.to.startswith("sip:line01@inochi") and counsellor.from_ != CALLER
    assert counsellor.status_callback.startswith(PUBLIC + "/voice/callback/status")
    # Our whisper failing, the counsellor hears, without the database, that it is not put
    # through; the caller's leg hears the apology and the backup organisation.
    declined = await leg(twilio, counsellor.params["FallbackUrl"], "CA" + "c" * 32)
    assert "おつなぎしません" in says(declined) and declined.find("Hangup") is not None
    assert counsellor.params["FallbackMethod"] == "POST"

    whisper = await leg(twilio, counsellor.url, "CA" + "c" * 32)
    assert "折り返し" in says(whisper)
    accept = whisper.find(".//Gather").get("action")  # type: ignore[union-attr]
    calling = await leg(twilio, accept, "CA" + "c" * 32, Digits="1")
    # The counsellor waits in the call's conference (not starting it) for the caller.
    waiting = calling.find(".//Dial/Conference")
    row = await call_of(app, first)
    assert waiting is not None and waiting.text == f"hotline-call-{row.id}"
    assert waiting.get("startConferenceOnEnter") == "false"
    assert "/voice/callback/hold" in (waiting.get("waitUrl") or "")
    pause = await leg(twilio, waiting.get("waitUrl") or "", "CA" + "c" * 32)
    assert [el.tag for el in pause] == ["Pause", "Redirect"]  # a waitUrl: no Hangup, no Dial
    await app.state.pushes.drain()
    assert len(api.created) == 2  # only now is the caller dialled
    caller_leg = api.created[1]
    assert caller_leg.to == CALLER and caller_leg.from_ != CALLER
    assert CALLER not in caller_leg.url and CALLER not in ET.tostring(calling).decode()
    # Our greeting failing: the same neutral question; only on a key the apology and the
    # backup organisation (a machine: not a word).
    backup = await leg(twilio, caller_leg.params["FallbackUrl"], "CA" + "d" * 32)
    assert says(backup) == "お申し込みいただいたお電話です。ご本人でしたら1を押してください。"
    pressed = backup.find("Gather").get("action")  # type: ignore[union-attr]
    helped = await leg(twilio, pressed or "", "CA" + "d" * 32, Digits="1")
    assert "システムに問題" in says(helped) and helped.find("Dial") is not None
    machine = await leg(twilio, caller_leg.params["FallbackUrl"], "CAe", AnsweredBy="fax")
    assert [el.tag for el in machine] == ["Hangup"]

    greeting = await leg(twilio, caller_leg.url, "CA" + "d" * 32)
    key_url = greeting.find(".//Gather").get("action")  # type: ignore[union-attr]
    joined = await leg(twilio, key_url, "CA" + "d" * 32, Digits="1")
    meets = joined.find(".//Dial/Conference")  # the caller joins the counsellor, starting it
    assert meets is not None and meets.text == waiting.text
    assert meets.get("startConferenceOnEnter") == "true"
    assert CALLER not in ET.tostring(joined).decode()
    call = await call_of(app, first)
    assert call.state == "connected" and call.callback_number is None

    await status(twilio, caller_leg.status_callback, "CA" + "d" * 32, "completed")
    assert (await call_of(app, first)).state == "completed"
    assert CALLER not in await everything_stored(app)


async def test_a_caller_not_reached_is_tried_again_then_dropped_and_the_number_erased(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = await booked(twilio)
    sealed = (await call_of(app, sid)).callback_number
    assert sealed and CALLER not in sealed  # sealed with the records' key
    for attempt in (1, 2, 3):
        made = await free_line(app)
        assert len(made) == 1, f"try {attempt} was not made"
        counsellor = api.created[-1].sid
        caller_leg = await accepted(twilio, app, api, counsellor)
        assert caller_leg.to == CALLER
        await status(twilio, caller_leg.status_callback, f"CB{attempt:032d}", "no-answer")
        # The counsellor waiting in the conference hears it, and is taken out of it.
        hold = f"{PUBLIC}/voice/callback/hold?call={sid}&line={LINE}"
        told = await leg(twilio, hold, counsellor)
        assert says(told) and told.find(".//Hangup") is None  # a waitUrl: words only
        await app.state.pushes.drain()
        out = [u["Url"] for leg_sid, u in api.updates if leg_sid == counsellor]
        assert len(out) == 1 and "/voice/callback/held" in out[0]
        let_go = await leg(twilio, out[0], counsellor)
        assert says(let_go) == says(told) and let_go[-1].tag == "Hangup"
        async with app.state.sessions() as s:
            line = await s.get(Line, LINE)
            assert line is not None and line.call_id is None and line.missed_in_row == 0
            # not offered while its counsellor is still hearing that the caller was not reached
            assert line.cooldown_until is not None and line.cooldown_until > clock()
        if attempt < 3:
            assert (await call_of(app, sid)).state == "callback"
            assert await free_line(app) == []  # not before the pause between tries
            clock.advance(5 * 60)
    call = await call_of(app, sid)
    assert (call.state, call.end_stage, call.callback_tries) == ("abandoned", "cb-failed", 3)
    stored = await everything_stored(app)
    assert CALLER not in stored and sealed not in stored


async def test_a_withheld_number_is_told_kindly_and_keeps_its_place(
    app, api, twilio, busy_lines
) -> None:
    sid = new_sid()
    await holding(twilio, sid, caller="anonymous")
    doc = await twilio.call("/voice/hold-key?o=loneliness&n=1", sid, From="anonymous", Digits="1")
    assert says(doc) and doc.find(".//Redirect") is not None  # told why, back to the hold
    assert (await call_of(app, sid)).state == "waiting"
    confirmed = await twilio.call(
        "/voice/hold-key?o=loneliness&n=1&step=confirm", sid, From="anonymous", Digits="1"
    )
    assert confirmed.find(".//Hangup") is None
    assert (await call_of(app, sid)).state == "waiting" and api.created == []


async def test_a_request_past_its_time_expires_and_its_number_is_erased(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = await booked(twilio)
    until = (await call_of(app, sid)).callback_until
    assert until is not None and until > clock()
    clock.advance((until - clock()).total_seconds() + 1)
    async with app.state.sessions.begin() as s:
        await app.state.router.assign(s, clock())  # the sweeps run with the pass
    call = await call_of(app, sid)
    assert (call.state, call.end_stage, call.callback_number) == ("abandoned", "cb-expired", None)


async def test_twilio_refusing_to_ring_the_counsellor_keeps_the_request_in_its_place(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = await booked(twilio)
    api.down = True
    await free_line(app)
    call = await call_of(app, sid)
    assert call.state == "callback" and call.line_id is None
    assert call.callback_after is not None and call.callback_after > clock()
    async with app.state.sessions() as s:
        line = await s.get(Line, LINE)
        assert line is not None and line.call_id is None and line.status == "ready"
    api.down = False
    clock.advance(61)
    assert len(await free_line(app)) == 1  # tried again after the pause


async def test_a_retried_confirmation_books_once(app, api, twilio, busy_lines) -> None:
    sid = await booked(twilio)
    again = await twilio.call("/voice/hold-key?o=loneliness&n=1&step=confirm", sid, Digits="1")
    assert again.find(".//Hangup") is not None
    async with app.state.sessions() as s:
        n = (
            await s.execute(text("SELECT count(*) FROM call_events WHERE kind = 'callback'"))
        ).scalar_one()
    assert n == 1


async def test_the_maximum_wait_offers_the_choice_and_2_asks_for_a_callback(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = new_sid()
    await holding(twilio, sid)
    clock.advance(app.state.cfg.option("loneliness").max_wait_seconds + 1)
    doc = await twilio.call("/voice/wait?o=loneliness&n=2", sid)
    action = doc.find(".//Gather").get("action")  # type: ignore[union-attr]
    assert "step=choice" in action
    lines = await twilio.post(action, CallSid=sid, From=CALLER, Digits="3")
    assert "Redirect" in lines.text and "x=1" in lines.text  # other lines, then the hold
    confirm = await twilio.call(action.replace(PUBLIC, ""), sid, Digits="2")
    assert "step=confirm" in confirm.find(".//Gather").get("action")  # type: ignore[union-attr]
    kept = await twilio.call(action.replace(PUBLIC, ""), sid, Digits="1")
    assert kept.find(".//Redirect") is not None and (await call_of(app, sid)).state == "waiting"


async def test_a_reserved_holding_caller_is_taken_out_of_the_queue_at_once(
    app, api, twilio, busy_lines
) -> None:
    sid = new_sid()
    await holding(twilio, sid)
    api.members[api.queue("hotline-loneliness")] = [sid]  # Twilio holds them in the queue
    await free_line(app)
    ((queue, dequeued, url),) = api.dequeued  # pushed, not waiting for the next poll
    assert (queue, dequeued) == ("hotline-loneliness", sid) and "push=1" in url
    dial = await leg(twilio, url, sid, From=CALLER)
    assert dial.find(".//Dial") is not None
    assert (await call_of(app, sid)).state == "ringing"
    again = await leg(twilio, url, sid, From=CALLER)  # a push and a pull: one dial
    assert ET.tostring(again) == ET.tostring(dial)


async def test_a_push_twilio_refuses_is_left_to_the_next_poll(app, api, twilio, busy_lines) -> None:
    sid = new_sid()
    await holding(twilio, sid)
    await free_line(app)  # the stand-in does not hold them: the dequeue is refused
    assert api.dequeued == [] and (await call_of(app, sid)).state == "reserved"
    leave = await twilio.call("/voice/wait?o=loneliness&n=2", sid)
    assert leave.find(".//Leave") is not None


async def test_reconciliation_leaves_a_callback_request_alone(app, api, twilio, busy_lines, clock):
    from hotline.ivr.upkeep import reconcile_once

    sid = await booked(twilio)
    api.statuses[sid] = "completed"  # the caller's own call ended when they booked
    clock.advance(app.state.settings.reconcile_after_seconds + 60)
    await reconcile_once(services_of(app))
    assert (await call_of(app, sid)).state == "callback"


async def test_a_counsellor_leg_never_heard_from_is_swept_and_rung_again(
    app, api, twilio, busy_lines, clock
) -> None:
    # As if the process was killed after the pass committed, or Twilio's callbacks were lost:
    # the line rings (for us) and nothing more is heard of its leg.
    sid = await booked(twilio)
    await free_line(app)
    assert (await call_of(app, sid)).state == "ringing" and len(api.created) == 1
    clock.advance(app.state.router.ringing_timeout.total_seconds() + 1)
    async with app.state.sessions.begin() as s:
        await app.state.router.assign(s, clock())  # the sweep, then the pass
    await app.state.pushes.drain()
    call = await call_of(app, sid)
    assert call.state == "ringing" and call.reserved_at == clock()  # its turn again, at once
    assert len(api.created) == 2 and call.callback_number is not None  # the request kept


async def test_repeated_callbacks_of_the_caller_leg_change_nothing_twice(
    app, api, twilio, busy_lines
) -> None:
    sid = await booked(twilio)
    await free_line(app)
    caller_leg = await accepted(twilio, app, api, "CA" + "e" * 32)
    greeting = await leg(twilio, caller_leg.url, "CA" + "f" * 32)
    key_url = greeting.find(".//Gather").get("action")  # type: ignore[union-attr]
    first = await leg(twilio, key_url, "CA" + "f" * 32, Digits="1")
    again = await leg(twilio, key_url, "CA" + "f" * 32, Digits="1")  # Twilio retried
    assert ET.tostring(first) == ET.tostring(again)
    for _ in range(2):
        await status(twilio, caller_leg.status_callback, "CA" + "f" * 32, "completed")
    call = await call_of(app, sid)
    assert call.state == "completed" and call.callback_tries == 0
    async with app.state.sessions() as s:
        line = await s.get(Line, LINE)
        assert line is not None and line.call_id is None and line.status == "wrap_up"


async def test_a_twilio_redirected_result_of_a_push_dials_once(
    app, api, twilio, busy_lines
) -> None:
    sid = new_sid()
    await holding(twilio, sid)
    api.members[api.queue("hotline-loneliness")] = [sid]
    await free_line(app)
    # Twilio may request the Enqueue action for our dequeue, before or after the push's URL.
    first = await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="redirected")
    ((_, _, url),) = api.dequeued
    pushed = await leg(twilio, url, sid, From=CALLER)
    assert first.find(".//Dial") is not None and ET.tostring(first) == ET.tostring(pushed)
    assert (await call_of(app, sid)).state == "ringing"


async def test_the_place_in_line_counts_callback_requests_ahead(app, api, twilio, busy_lines):
    first, second = new_sid(), new_sid()
    await holding(twilio, first)
    await holding(twilio, second, caller="+819033334444")
    await ask_callback(twilio, first)
    doc = await twilio.call("/voice/wait?o=loneliness&n=4", second, From="+819033334444")
    assert "1人" in says(doc)  # the request ahead keeps its place, and is said


async def test_a_caller_hearing_hold_music_is_neither_swept_nor_passed_over(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = new_sid()
    hold = await holding(twilio, sid)
    assert hold.find(".//Pause") is not None  # the shipped track is longer than a minute
    # A segment lasts at most until the next announcement (60 s) plus what it says.
    api.members[api.queue("hotline-loneliness")] = [sid]
    clock.advance(85)  # what is said, then a minute of music: no poll meanwhile
    async with app.state.sessions.begin() as s:
        await app.state.router.assign(s, clock())  # the sweeps run with the pass
    assert (await call_of(app, sid)).state == "waiting"  # not taken for gone
    assert len(await free_line(app)) == 1 and api.dequeued  # offered, and pushed at once


async def test_a_reserved_caller_twilio_says_has_hung_up_is_ended_and_the_line_goes_on(
    app, api, twilio, busy_lines
) -> None:
    gone, next_one = new_sid(), new_sid()
    await holding(twilio, gone)
    await holding(twilio, next_one, caller="+819033334444")
    api.members[api.queue("hotline-loneliness")] = [next_one]  # `gone` hung up unheard
    api.statuses[gone] = "completed"
    await free_line(app)
    assert (await call_of(app, gone)).state == "abandoned"
    assert (await call_of(app, next_one)).state == "reserved"
    assert [d[1] for d in api.dequeued] == [next_one]


async def test_the_callbacks_legs_meet_in_the_calls_conference_whose_end_ends_it(
    app, api, twilio, busy_lines
) -> None:
    """Twilio's conference callbacks of a callback: both legs joined (the call's parties),
    and the conference's end completes the callback and frees its line."""
    sid = await booked(twilio)
    await free_line(app)
    counsellor = api.created[-1].sid
    caller_leg = await accepted(twilio, app, api, counsellor)
    greeting = await leg(twilio, caller_leg.url, caller_leg.sid)
    key_url = greeting.find(".//Gather").get("action")  # type: ignore[union-attr]
    joined = await leg(twilio, key_url or "", caller_leg.sid, Digits="1")
    room = joined.find(".//Dial/Conference")
    assert room is not None
    callback = room.get("statusCallback") or ""
    events = [
        ("participant-join", counsellor, "counsellor"),
        ("conference-start", "", ""),
        ("participant-join", caller_leg.sid, "caller"),
        ("participant-leave", caller_leg.sid, "caller"),
        ("participant-leave", counsellor, "counsellor"),
        ("conference-end", "", ""),
    ]
    for n, (event, leg_sid, label) in enumerate(events, 1):
        params = {"ConferenceSid": "CF" + "7" * 32, "FriendlyName": room.text or ""}
        params |= {"StatusCallbackEvent": event, "SequenceNumber": str(n)}
        params |= {"CallSid": leg_sid, "ParticipantLabel": label} if leg_sid else {}
        resp = await twilio.post(callback, **params)
        assert resp.status_code == 204
    call = await call_of(app, sid)
    assert call.state == "completed" and call.callback_number is None
    async with app.state.sessions() as s:
        line = await s.get(Line, LINE)
        assert line is not None and line.call_id is None
        rows = (await s.execute(text("SELECT label, status FROM call_parties"))).all()
    assert sorted(tuple(r) for r in rows) == [("caller", "left"), ("counsellor", "left")]
    assert CALLER not in await everything_stored(app)
