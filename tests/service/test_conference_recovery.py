"""A conference call's end and a held caller's counsellor lost, when Twilio's callbacks come
late, out of order or not at all, on SQLite and PostgreSQL (the fixtures of
tests/service/test_conference.py: the app with the REST stand-in, a caller whose line is
reserved). The e2e tests (tests/e2e/test_conference_faults.py) play the same with real
processes and faults."""

from __future__ import annotations

from typing import Any

from hotline.calls import lifecycle as lc
from hotline.common.audit import Actor
from hotline.ivr import upkeep
from hotline.routing import operator
from hotline.services import services_of
from hotline.testing.conference import ConferenceCall
from hotline.testing.twilio_api import TwilioApi
from tests.conftest import Clock
from tests.service import test_conference as room

# The fixtures of the conference's own tests, here too.
api, app, twilio, reserved = room.api, room.app, room.twilio, room.reserved


async def connected(call: ConferenceCall) -> None:
    await call.dial()
    await call.ringing()
    await call.press("1")


async def test_the_callers_status_before_the_conference_end_leaves_nobody_in_it(
    app: Any, reserved: ConferenceCall
) -> None:
    call = reserved
    await connected(call)
    await call.caller_status("completed")  # the conference's callbacks still to come
    row = await room.call_of(app, call.caller_sid)
    assert row.state == "completed"
    assert await room.parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]
    await call.conference_ends()  # late: changes nothing
    assert await room.parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]


async def test_reconciliation_ending_a_conference_call_leaves_nobody_in_it(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    call = reserved
    await connected(call)
    with api.lock:  # over at Twilio, every callback saying so lost
        api.statuses[call.caller_sid] = "completed"
    services = services_of(app)
    clock.advance(services.settings.reconcile_after_seconds + 1)
    assert await upkeep.reconcile_once(services) == 1
    row = await room.call_of(app, call.caller_sid)
    assert row.state == "completed" and (await room.line_of(app)).call_id is None
    assert await room.parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]


async def test_a_held_callers_counsellor_lost_unheard_sends_the_caller_back_to_the_queue(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    call = reserved
    await connected(call)
    was = await room.call_of(app, call.caller_sid)
    await room._apply(app, call.caller_sid, lc.HoldSet(on=True))
    assert call.leg is not None
    services = services_of(app)
    clock.advance(services.settings.reconcile_after_seconds + 1)
    # Twilio still has the counsellor's leg: the held caller is left alone.
    assert await upkeep.reconcile_conferences(services) == 0
    assert (await room.call_of(app, call.caller_sid)).phase == "on_hold"
    # The counsellor's phone drops; no callback says so. The caller, held, is still in it.
    api.rooms.leave(call.conference_sid, call.leg.sid)
    with api.lock:
        api.statuses[call.leg.sid] = "completed"
    assert await upkeep.reconcile_conferences(services) == 0  # nothing ended
    await app.state.pushes.drain()
    row = await room.call_of(app, call.caller_sid)
    assert (row.state, row.phase, row.line_id) == ("waiting", None, None)
    assert (row.waiting_since, row.connected_at) == (was.waiting_since, was.connected_at)
    redirected = [u["Url"] for sid, u in api.updates if sid == call.caller_sid]
    assert redirected and "/voice/requeue?o=loneliness" in redirected[-1]
    assert ("counsellor", "left") in await room.parties(app, row.id)
    # The leg's own callback, late: a repeat, nothing more.
    await call.leg_status("completed")
    assert (await room.call_of(app, call.caller_sid)).state == "waiting"


async def test_a_partys_status_while_the_database_is_away_is_answered_204(
    app: Any, reserved: ConferenceCall
) -> None:
    call = reserved
    await connected(call)
    row = await room.call_of(app, call.caller_sid)
    with room._database_away():
        resp = await call.post(
            f"/voice/party-status?cid={row.id}&label=p1",
            CallSid="CA" + "9" * 32,
            CallStatus="completed",
        )
    assert resp.status_code == 204, resp.text


async def test_an_operator_ending_a_conference_call_leaves_nobody_in_it(
    app: Any, reserved: ConferenceCall, clock: Clock
) -> None:
    call = reserved
    await connected(call)
    async with app.state.sessions.begin() as s:
        state = await operator.end_call(
            s, app.state.router, call_sid=call.caller_sid, who=Actor.console(), now=clock()
        )
    assert state == "completed"
    await app.state.pushes.drain()
    # The conference is ended at Twilio too, at once (not left to the upkeep's check).
    ended = [r for r in call.api.requests if r.startswith("POST") and "/Conferences/CF" in r]
    assert ended, call.api.requests
    row = await room.call_of(app, call.caller_sid)
    assert await room.parties(app, row.id) == [("caller", "left"), ("counsellor", "left")]
