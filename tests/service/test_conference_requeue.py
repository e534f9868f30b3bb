"""A caller sent back to the queue out of the call's conference while Twilio cannot be reached,
through real HTTP, on SQLite and PostgreSQL: the redirect is owed (the call's phase
`requeue`), never swept as silent, retried by the upkeep with a back-off until Twilio takes
it; a caller Twilio says has gone meanwhile ends as what the call was (abandoned while
waiting, or completed when it was connected once). The stand-in plays the outage (503)."""

from __future__ import annotations

from typing import Any

from hotline.calls import lifecycle as lc
from hotline.calls import service, store
from hotline.ivr import requeue, upkeep
from hotline.services import services_of
from hotline.testing.conference import ConferenceCall
from hotline.testing.twilio_api import TwilioApi
from tests.conftest import Clock
from tests.service.test_conference import (
    ACCOUNT,
    api,
    app,
    call_of,
    line_of,
    reserved,
    twilio,
)

__all__ = ["api", "app", "reserved", "twilio"]  # the fixtures, shared with test_conference.py


def redirects(api: TwilioApi, sid: str) -> list[str]:
    """The redirects of the caller's leg Twilio took."""
    return [u["Url"] for s, u in api.updates if s == sid and u.get("Url")]


def tries(api: TwilioApi, sid: str) -> int:
    """The requests that would redirect the caller's leg (taken or not)."""
    return sum(1 for r in api.requests if r.startswith("POST") and f"/Calls/{sid}.json" in r)


async def sweep(app: Any, clock: Clock) -> None:
    """The routing pass, with its sweeps, once the silent bound has passed."""
    clock.advance(services_of(app).router.stale_after.total_seconds() + 1)
    async with app.state.sessions.begin() as s:
        await app.state.router.assign(s, clock())


async def owed_after_an_outage(app: Any, api: TwilioApi, call: ConferenceCall) -> None:
    """The counsellor's leg is not answered while Twilio cannot be reached: the caller is
    waiting in our records, still in the conference, the redirect owed."""
    await call.dial()
    await call.ringing()
    api.down = True
    await call.leg_status("no-answer")
    await app.state.pushes.drain()
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase, row.line_id) == ("waiting", lc.REQUEUE, None)
    assert redirects(api, call.caller_sid) == [] and tries(api, call.caller_sid) == 1


async def test_a_redirect_twilio_did_not_take_is_retried_until_the_caller_is_back_in_the_queue(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    call = reserved
    await owed_after_an_outage(app, api, call)
    waited_from = (await call_of(app, call.caller_sid)).waiting_since
    # Past the silent bound: the caller cannot poll from the conference, and is not swept.
    await sweep(app, clock)
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase) == ("waiting", lc.REQUEUE)
    services = services_of(app)
    # The upkeep tries again (Twilio still away), then waits out the back-off.
    assert await upkeep.retry_requeues(services) == 0
    assert tries(api, call.caller_sid) == 2
    assert await upkeep.retry_requeues(services) == 0
    assert tries(api, call.caller_sid) == 2  # not due yet
    clock.advance(requeue.backoff(2).total_seconds())
    assert await upkeep.retry_requeues(services) == 0
    assert tries(api, call.caller_sid) == 3
    # Twilio is back: the next try takes the caller out of the conference.
    api.down = False
    clock.advance(requeue.RETRY_CAP.total_seconds())
    assert await upkeep.retry_requeues(services) == 1
    taken = redirects(api, call.caller_sid)
    assert len(taken) == 1 and "/voice/requeue?o=loneliness" in taken[0]
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase, row.waiting_since) == ("waiting", None, waited_from)
    assert row.last_seen_at == clock()  # heard from now on: the sweep's bound starts again
    # Nothing more is owed: no more tries; the caller's leg reaches the queue.
    assert await upkeep.retry_requeues(services) == 0
    assert len(redirects(api, call.caller_sid)) == 1
    back = await call.caller_twiml(taken[0])
    assert back.find("Enqueue") is not None and back.find("Enqueue").text == "hotline-loneliness"  # type: ignore[union-attr]


async def test_the_caller_reaching_the_queue_settles_what_is_owed(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    """Twilio took the redirect but its answer was lost: the caller's leg at /voice/requeue
    (or their first hold poll) says they are back; the upkeep redirects nobody again."""
    call = reserved
    await owed_after_an_outage(app, api, call)
    api.down = False
    back = await call.caller_twiml("/voice/requeue?o=loneliness")
    assert back.find("Enqueue") is not None
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase) == ("waiting", None)
    clock.advance(requeue.RETRY_CAP.total_seconds())
    assert await upkeep.retry_requeues(services_of(app)) == 0
    assert tries(api, call.caller_sid) == 1
    # Heard no more from here on, they are swept as any silent caller.
    await sweep(app, clock)
    assert (await call_of(app, call.caller_sid)).state == "abandoned"


async def test_a_caller_gone_while_the_redirect_kept_failing_ends_abandoned(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    """The caller hung up in the conference and every callback saying so was lost: once the
    tries keep failing, Twilio is asked first, and the call ends as it was (abandoned while
    waiting), with no redirect of a call that is over."""
    call = reserved
    await owed_after_an_outage(app, api, call)
    services = services_of(app)
    for _ in range(requeue.ASK_AFTER - 1):
        clock.advance(requeue.RETRY_CAP.total_seconds())
        assert await upkeep.retry_requeues(services) == 0
    assert tries(api, call.caller_sid) == requeue.ASK_AFTER
    with api.lock:
        api.statuses[call.caller_sid] = "completed"  # they hung up meanwhile
    api.down = False
    clock.advance(requeue.RETRY_CAP.total_seconds())
    asked = len(api.requests)
    assert await upkeep.retry_requeues(services) == 1
    assert api.requests[asked:] == [
        f"GET /2010-04-01/Accounts/{ACCOUNT}/Calls/{call.caller_sid}.json"
    ]
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.end_stage, row.phase) == ("abandoned", "waiting", None)
    assert (await line_of(app)).call_id is None


async def test_a_connected_caller_gone_before_the_redirect_ends_completed(
    app: Any, api: TwilioApi, reserved: ConferenceCall
) -> None:
    """The counsellor's leg dropped while the caller was held, and the caller hung up before
    Twilio took the redirect: Twilio refuses it (21220, not in progress), says the call is
    over, and the call ends completed (it was connected once)."""
    call = reserved
    await call.dial()
    await call.ringing()
    await call.press("1")
    services = services_of(app)
    async with services.unit() as uow:
        row = await store.get_call(uow.session, call.caller_sid, lock=True)
        assert row is not None
        await service.apply(
            uow.session, services.router, row, lc.HoldSet(on=True), services.clock()
        )
    with api.lock:
        api.statuses[call.caller_sid] = "completed"  # the caller hung up; its callbacks lost
    assert call.leg is not None
    await call.event("participant-leave", call.leg.sid, "counsellor")
    await app.state.pushes.drain()
    row = await call_of(app, call.caller_sid)
    assert (row.state, row.phase) == ("completed", None)
    assert redirects(api, call.caller_sid) == []


async def test_an_owed_redirect_survives_a_restart(
    app: Any, api: TwilioApi, reserved: ConferenceCall, clock: Clock
) -> None:
    """The schedule of tries is the process's; the phase is the database's: a process that
    never saw the failure (a restart, another instance) tries an owed redirect once it is
    older than the first back-off."""
    call = reserved
    await owed_after_an_outage(app, api, call)
    api.down = False
    app.state.pushes.requeues.owed.clear()  # a new process knows no schedule
    services = services_of(app)
    assert await upkeep.retry_requeues(services) == 0  # too fresh: the push may be under way
    assert tries(api, call.caller_sid) == 1
    clock.advance(requeue.RETRY_FIRST.total_seconds() + 1)
    assert await upkeep.retry_requeues(services) == 1
    assert len(redirects(api, call.caller_sid)) == 1
    assert (await call_of(app, call.caller_sid)).phase is None
