"""A caller sent back to the queue from the call's conference leaves it even when the routing
pass offers them another line at once (the call is `reserved`, not `waiting`, when the
redirect is pushed): otherwise they would hear the ringback in an empty conference while the
new line's reservation ran out. On SQLite and PostgreSQL, through real HTTP, Twilio's side the
local REST stand-in (as tests/service/test_conference.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from hotline.lines.models import Line
from hotline.testing.conference import ConferenceCall
from hotline.testing.twilio_api import TwilioApi
from tests.conftest import Twilio, new_sid
from tests.service.test_conference import TOKEN, api, app, call_of, twilio

__all__ = ["api", "app", "twilio"]  # the fixtures, shared with test_conference.py

LINES = ("inochi-01", "inochi-02")


async def test_a_caller_offered_another_line_at_once_is_still_taken_out_of_the_conference(
    app: Any, api: TwilioApi, twilio: Twilio, client: Any
) -> None:
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline"))
        await s.execute(update(Line).where(Line.id.in_(LINES)).values(status="ready"))
    sid = new_sid()
    doc = await twilio.call("/voice/incoming", sid)
    await twilio.call(doc.find("Gather").get("action"), sid, Digits="8")
    await app.state.pushes.drain()
    first = (await call_of(app, sid)).line_id
    call = ConferenceCall(client, api, app, caller_sid=sid, token=TOKEN)
    await call.dial()
    await call.ringing()
    await call.leg_status("no-answer")
    row = await call_of(app, sid)
    assert row.state == "reserved" and row.line_id in LINES and row.line_id != first
    await app.state.pushes.drain()
    redirected = [u for s, u in api.updates if s == sid]
    assert redirected and "/voice/requeue" in redirected[-1]["Url"]
    back = await call.caller_twiml(redirected[-1]["Url"])
    assert back.find("Enqueue") is not None  # its first poll takes the line offered
