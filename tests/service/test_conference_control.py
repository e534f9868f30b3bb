"""The conference room's commands to Twilio (`hotline.ivr.conference.TwilioConference`, the
`ConferenceControl` of `services.conference`) through the twilio client against the REST
stand-in: what each asks, as the stand-in records it, and Twilio's refusals as ControlFailed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from hotline.app import create_app
from hotline.conference.control import ControlFailed
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import Clock, make_settings

ACCOUNT = "AC" + "4" * 32
TOKEN = "stand-in-token"
NUMBER = "+815055550101"  # fictional, as the tests' config


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
def room(api: TwilioApi) -> str:
    sid = api.rooms.conference("hotline-call-7")
    api.rooms.join(sid, "CA" + "a" * 32, "caller")
    api.rooms.join(sid, "CA" + "b" * 32, "counsellor", starts=True)
    return sid


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_room_holds_adds_coaches_mutes_drops_and_ends_through_the_participants_api(
    app: Any, api: TwilioApi, room: str
) -> None:
    control = app.services.conference
    assert control is not None
    caller, counsellor = "CA" + "a" * 32, "CA" + "b" * 32
    await control.hold(room, caller, on=True, language="en")
    action, sid, leg, asked = api.rooms.log[-1]
    assert (action, sid, leg, asked["Hold"]) == ("update", room, caller, "true")
    assert asked["HoldUrl"].endswith("/voice/on-hold?l=en") and asked["HoldMethod"] == "POST"
    await control.hold(room, caller, on=False, language="en")
    assert api.rooms.log[-1][3] == {"Hold": "false"}
    party = await control.add_party(
        room, call_id=7, party_id=3, label="p3", to=NUMBER, org_id="inochi"
    )
    made = api.rooms.created[-1]
    assert made["CallSid"] == party and made["Label"] == "p3" and made["To"] == NUMBER
    assert made["EarlyMedia"] == "true" and made["EndConferenceOnExit"] == "false"
    assert made["StatusCallback"].endswith("/voice/party-status?cid=7&label=p3")
    assert made["From"] != NUMBER  # the hotline's (or the organisation's) number
    coach = await control.add_party(
        room, call_id=7, party_id=4, label="s4", to=NUMBER, org_id=None, coach_leg_sid=counsellor
    )
    coached = api.rooms.created[-1]
    assert (coached["Coaching"], coached["CallSidToCoach"]) == ("true", counsellor)
    await control.update_party(room, coach, muted=True, coaching=False)
    assert api.rooms.log[-1][3] == {"Muted": "true", "Coaching": "false"}
    await control.update_party(room, counsellor, end_conference_on_exit=False)
    assert api.rooms.log[-1][3] == {"EndConferenceOnExit": "false"}
    assert {p.label for p in await control.participants(room)} == {
        "caller", "counsellor", "p3", "s4",
    }  # fmt: skip
    await control.remove_party(room, party)
    assert ("delete", room, party, {}) in api.rooms.log
    assert [c.sid for c in await control.find("hotline-call-7")] == [room]
    await control.end(room)
    assert api.rooms.log[-1][:2] == ("end", room)
    assert await control.find("hotline-call-7") == []
    with pytest.raises(ControlFailed) as refused:
        await control.remove_party(room, party)
    assert (refused.value.why, refused.value.code) == ("rejected", 20404)
    api.down = True
    with pytest.raises(ControlFailed) as away:
        await control.hold(room, caller, on=True, language=None)
    assert away.value.why == "unavailable"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_cold_transfer_redirects_the_caller_to_the_options_queue(
    app: Any, api: TwilioApi
) -> None:
    caller = "CA" + "c" * 32
    api.statuses[caller] = "in-progress"
    await app.services.conference.to_queue(caller, "loneliness", "en")
    sid, asked = api.updates[-1]
    assert sid == caller and asked["Url"].endswith("/voice/requeue?o=loneliness&l=en")
