"""Waiting callers reach free counsellors: the whole webhook path, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select, update

from hotline.calls.models import Call
from hotline.lines.models import Line
from hotline.routing.ticker import tick_once
from hotline.services import services_of
from tests.conftest import PUBLIC, Clock, Twilio, new_sid, says, talking_on


async def _call(app, sid: str) -> Call:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def _line(app, line_id: str) -> Line:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        line = await s.get(Line, line_id)
        assert line is not None
        return line


async def only_lines(app, *line_ids: str) -> None:  # type: ignore[no-untyped-def]
    """Staff only these lines (the others go off duty)."""
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline"))
        await s.execute(update(Line).where(Line.id.in_(line_ids)).values(status="ready"))


async def queue(tw: Twilio, sid: str, *keys: str) -> ET.Element:
    doc = await tw.call("/voice/incoming", sid)
    for key in keys:
        doc = await tw.call(doc.find("Gather").get("action"), sid, Digits=key)
    return doc


async def hold(tw: Twilio, sid: str) -> ET.Element:
    """One hold poll, as Twilio makes every hold segment."""
    return await tw.call("/voice/wait?o=loneliness&n=2", sid)


async def poll(tw: Twilio, sid: str, doc: ET.Element) -> ET.Element:
    return await tw.call(doc.find("Enqueue").get("waitUrl"), sid)


async def leave_and_ring(tw: Twilio, sid: str, enqueue_doc: ET.Element) -> ET.Element:
    hold = await poll(tw, sid, enqueue_doc)
    assert hold[0].tag == "Leave", ET.tostring(hold)
    action = enqueue_doc.find("Enqueue").get("action")
    return await tw.call(action, sid, QueueResult="leave")


def dialled(doc: ET.Element) -> tuple[str, str, str]:
    dial = doc.find("Dial")
    target = dial[0]
    return target.text or "", target.get("url") or "", dial.get("action") or ""


async def test_a_caller_is_connected_to_a_free_primary_line(twilio: Twilio, app, sid) -> None:
    await only_lines(app, "inochi-01")
    enq = await queue(twilio, sid, "8")
    dial = await leave_and_ring(twilio, sid, enq)
    target, whisper_url, action = dialled(dial)
    assert target == "sip:line01@inochi.example.invalid"
    assert (await _call(app, sid)).state == "ringing"
    # The counsellor's leg: the whisper names the option and the wait, and asks for 1.
    whisper = await twilio.call(whisper_url, new_sid())
    assert "孤独・孤立" in "".join(says(whisper)) and "1を押して" in "".join(says(whisper))
    assert whisper[-1].tag == "Hangup"  # no key: the counsellor's leg ends, no bridge
    accepted = await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
    assert len(accepted) == 0  # an empty document: Twilio bridges
    call = await _call(app, sid)
    assert (call.state, call.org_id) == ("connected", "inochi")
    assert (await _line(app, "inochi-01")).call_id == call.id
    end = await twilio.call(action, sid, DialCallStatus="completed", DialCallSid=new_sid())
    assert end[-1].tag == "Hangup"
    assert (await _call(app, sid)).state == "completed"
    assert (await _line(app, "inochi-01")).call_id is None


@pytest.mark.parametrize("status", ["completed", "no-answer", "busy", "failed", "weird"])
async def test_a_line_that_does_not_accept_rests_and_the_caller_keeps_their_place(
    twilio: Twilio, app, clock: Clock, status: str
) -> None:
    await only_lines(app, "inochi-01", "inochi-02")
    first, second = new_sid(), new_sid()
    enq = await queue(twilio, first, "8")
    _, whisper_url, action = dialled(await leave_and_ring(twilio, first, enq))
    waited_from = (await _call(app, first)).waiting_since
    clock.advance(5)
    await queue(twilio, second, "8")  # takes the other free line
    assert (await _call(app, second)).line_id == "inochi-02"
    # No key pressed in the whisper (voicemail), whatever DialCallStatus says.
    again = await twilio.call(action, first, DialCallStatus=status, DialCallSid=new_sid())
    assert again.find("Enqueue") is not None  # back on hold, never dropped
    call = await _call(app, first)
    assert (call.state, call.waiting_since, call.connected_at) == ("waiting", waited_from, None)
    line = await _line(app, "inochi-01")
    assert line.call_id is None and line.cooldown_until is not None
    # When inochi-02 frees up, the first caller (longest wait) gets it before anyone newer.
    third = new_sid()
    await queue(twilio, third, "8")
    await twilio.post("/voice/status", CallSid=second, CallStatus="completed", SequenceNumber="1")
    assert (await _call(app, first)).line_id == "inochi-02"
    assert (await _call(app, third)).state == "waiting"


async def test_overflow_and_backup_tiers_open_after_their_delays(twilio, app, clock) -> None:
    clock.now = dt.datetime(2022, 7, 8, 3, 0, tzinfo=dt.UTC)  # 第1期: 死にたいほどつらい気持ち
    await only_lines(app, "inochi-01", "jaico-01", "sisc-01")
    await talking_on(app, "inochi-01")  # the primary is talking to someone else
    sid = new_sid()
    await queue(twilio, sid, "3")
    assert (await _call(app, sid)).state == "waiting"
    clock.advance(29)
    await hold(twilio, sid)
    await tick_once(services_of(app))
    assert (await _call(app, sid)).state == "waiting"
    clock.advance(1)  # 30 s: the overflow tier (日本産業カウンセラー協会) may serve
    await tick_once(services_of(app))
    call = await _call(app, sid)
    assert (call.state, call.line_id) == ("reserved", "jaico-01")


async def test_a_language_is_served_by_lines_that_speak_it_then_by_the_partner_with_interpreters(
    twilio: Twilio, app, clock: Clock
) -> None:
    await only_lines(app, "foreign-en-01", "foreign-ko-01", "sisc-01")
    ko, vi = new_sid(), new_sid()
    await queue(twilio, ko, "2", "3")  # a Korean line and sisc are free: the Korean line
    await queue(twilio, vi, "2", "4")
    assert (await _call(app, ko)).line_id == "foreign-ko-01"
    # Nobody speaks Vietnamese: 社会的包摂サポートセンター, a partner of key 2 in the seed,
    # takes the call at once, with interpreters.
    assert (await _call(app, vi)).line_id == "sisc-01"


async def test_higher_priority_callers_are_offered_a_line_first(twilio, app, clock) -> None:
    clock.now = dt.datetime(2022, 7, 8, 3, 0, tzinfo=dt.UTC)  # 第1期: the 8-option menu
    await only_lines(app, "inochi-01")
    talking = await talking_on(app, "inochi-01")
    lonely, crisis = new_sid(), new_sid()
    await queue(twilio, lonely, "9")
    clock.advance(30)
    await queue(twilio, crisis, "3")  # 死にたいほどつらい気持ち, priority 10
    await twilio.post("/voice/status", CallSid=talking, CallStatus="completed")
    assert (await _call(app, crisis)).line_id == "inochi-01"
    assert (await _call(app, lonely)).state == "waiting"


async def test_no_staffed_line_means_the_closed_message(twilio: Twilio, app, sid) -> None:
    await only_lines(app, "inochi-01")
    doc = await queue(twilio, sid, "3")  # 女性の悩み: only sisc serves it, and sisc is off
    # Within its hours: not called 受付時間外. Other keys are open: the menu again.
    text = " ".join(says(doc))
    assert "ただいまこの窓口ではおつなぎできません" in text and "受付時間外" not in text
    assert doc.find("Gather") is not None and doc.find("Hangup") is None
    assert (await _call(app, sid)).state == "menu"
    doc = await twilio.call(doc.find("Gather").get("action"), sid, Digits="3")  # again
    doc = await twilio.call(doc.find("Gather").get("action"), sid)  # silence, to the default
    doc = await twilio.call(doc.find("Gather").get("action"), sid)
    doc = await twilio.call(doc.find("Gather").get("action"), sid)
    assert doc.find("Enqueue") is not None  # the default (loneliness), inochi-01 serves it


async def test_an_untaken_reservation_expires_and_the_line_is_offered_again(
    twilio: Twilio, app, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    lost, next_one = new_sid(), new_sid()
    await queue(twilio, lost, "8")  # reserved, but its next poll never comes
    clock.advance(1)
    await queue(twilio, next_one, "8")
    clock.advance(31)
    await hold(twilio, next_one)  # still on hold, polling as Twilio does
    await tick_once(services_of(app))
    # The lost caller's reservation expired; as they no longer poll, they are not offered
    # the line again (it would be held for nobody): the caller still holding gets it.
    assert (await _call(app, lost)).state == "waiting"
    call = await _call(app, next_one)
    assert (call.state, call.line_id) == ("reserved", "inochi-01")


async def test_a_caller_silent_on_hold_is_ended_even_without_callbacks(
    twilio: Twilio, app, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    await talking_on(app, "inochi-01")
    gone = new_sid()
    await queue(twilio, gone, "8")
    clock.advance(60)
    await tick_once(services_of(app))
    assert (await _call(app, gone)).state == "waiting"  # a minute without a poll: still kept
    clock.advance(31)
    await tick_once(services_of(app))  # 91 s without a poll: Twilio's hang-up callbacks were lost
    call = await _call(app, gone)
    assert (call.state, call.end_stage, call.connected_at) == ("abandoned", "waiting", None)


async def test_a_sweep_that_reaches_the_call_a_step_holds_changes_that_very_call(
    twilio: Twilio, app, clock: Clock
) -> None:
    """A step's pass may sweep the call the step holds (locked by the step, so never skipped):
    the step's own object is changed, so it goes on with the call as it now is."""
    from hotline.calls import store

    await only_lines(app, "inochi-01")
    await talking_on(app, "inochi-01")
    gone = new_sid()
    await queue(twilio, gone, "8")
    clock.advance(91)  # silent on hold past the bound
    async with app.state.sessions.begin() as s:
        held = await store.get_call(s, gone, lock=True)
        assert held is not None and held.state == "waiting"
        await app.state.router.assign(s, clock(), held)
        assert (held.state, held.end_stage) == ("abandoned", "waiting")
    call = await _call(app, gone)
    assert (call.state, call.end_stage) == ("abandoned", "waiting")


async def test_a_line_whose_dial_result_never_came_is_freed(twilio, app, clock) -> None:
    await only_lines(app, "inochi-01")
    sid = new_sid()
    await leave_and_ring(twilio, sid, await queue(twilio, sid, "8"))
    clock.advance(181)
    await tick_once(services_of(app))
    assert ((await _call(app, sid)).state, (await _call(app, sid)).end_stage) == (
        "abandoned",
        "ringing",
    )
    assert (await _line(app, "inochi-01")).call_id is None


async def test_a_caller_who_hangs_up_while_reserved_frees_the_line(twilio, app, clock) -> None:
    await only_lines(app, "inochi-01")
    gone, waiting = new_sid(), new_sid()
    enq = await queue(twilio, gone, "8")
    clock.advance(1)
    await queue(twilio, waiting, "8")
    await twilio.post(enq.find("Enqueue").get("action"), CallSid=gone, QueueResult="hangup")
    gone_call = await _call(app, gone)
    assert (gone_call.state, gone_call.end_stage, gone_call.connected_at) == (
        "abandoned",
        "waiting",
        None,
    )
    assert (await _call(app, waiting)).line_id == "inochi-01"


async def test_a_caller_who_hangs_up_while_ringing_is_abandoned_not_connected(
    twilio: Twilio, app, sid: str
) -> None:
    await only_lines(app, "inochi-01")
    _, _, action = dialled(await leave_and_ring(twilio, sid, await queue(twilio, sid, "8")))
    await twilio.call(action, sid, DialCallStatus="canceled", DialCallSid=new_sid())
    call = await _call(app, sid)
    assert (call.state, call.end_stage) == ("abandoned", "ringing")
    line = await _line(app, "inochi-01")
    assert line.call_id is None and line.cooldown_until is None


async def test_repeated_status_callbacks_free_a_line_once(twilio: Twilio, app, clock) -> None:
    await only_lines(app, "inochi-01")
    talking = new_sid()
    dial = await leave_and_ring(twilio, talking, await queue(twilio, talking, "8"))
    _, whisper_url, _ = dialled(dial)
    whisper = await twilio.call(whisper_url, new_sid())
    await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
    clock.advance(60)
    for seq in ("3", "3", "1"):
        resp = await twilio.post(
            "/voice/status", CallSid=talking, CallStatus="completed", SequenceNumber=seq
        )
        assert resp.status_code == 204
    call = await _call(app, talking)
    assert call.state == "completed" and call.ended_at == clock()
    assert (await _line(app, "inochi-01")).call_id is None


async def test_whisper_for_a_caller_who_already_left_declines(twilio, app, sid) -> None:
    await only_lines(app, "inochi-01")
    _, whisper_url, _ = dialled(await leave_and_ring(twilio, sid, await queue(twilio, sid, "8")))
    await twilio.post("/voice/status", CallSid=sid, CallStatus="completed", SequenceNumber="1")
    whisper = await twilio.call(whisper_url, new_sid())
    assert whisper.find("Gather") is None and whisper[-1].tag == "Hangup"


async def test_urls_in_twiml_are_public(twilio: Twilio, app, sid) -> None:
    await only_lines(app, "inochi-01")
    dial = await leave_and_ring(twilio, sid, await queue(twilio, sid, "8"))
    _, whisper_url, action = dialled(dial)
    assert whisper_url.startswith(PUBLIC) and action.startswith(PUBLIC)


async def test_a_call_left_in_the_menu_is_ended_when_its_callbacks_were_lost(
    twilio: Twilio, app, clock: Clock
) -> None:
    sid = new_sid()
    await twilio.call("/voice/incoming", sid)  # then nothing: no key, no status callback
    clock.advance(300)
    await tick_once(services_of(app))
    assert (await _call(app, sid)).state == "menu"  # a slow caller is still in the menu
    clock.advance(301)
    await tick_once(services_of(app))
    call = await _call(app, sid)
    assert (call.state, call.end_stage) == ("abandoned", "menu")
