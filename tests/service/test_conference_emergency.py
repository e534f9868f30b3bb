"""Emergency escalation through the API: confirmation required, the prefecture's command
centre's direct line dialled into the call with the caller kept on the line, who escalated,
when and to whom kept and audited, a line that does not connect counted failed and shown; no
line configured: a plain refusal that says what to do. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import httpx
import pytest

from hotline.conference.control import ControlFailed
from hotline.config import HotlineConfig
from tests.conftest import Twilio
from tests.service.conference_kit import (
    FIRE,
    POLICE,
    audited,
    control,
    in_conference,
    keys,
    parties,
    room_cfg,
)
from tests.service.test_metrics import scrape, value
from tests.service.test_records import FORM


@pytest.fixture(scope="module")
def cfg() -> HotlineConfig:
    return room_cfg()


async def test_an_escalation_needs_a_confirmation_and_a_known_service(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    url = f"/api/calls/{call.id}/emergency"
    for body, field in (
        ({"service": "fire", "confirm": False}, "confirm"),
        ({"service": "fire"}, "confirm"),
        ({"service": "ambulance", "confirm": True}, "service"),
        ({"service": "fire", "confirm": True, "prefecture": "長野"}, "prefecture"),
    ):
        resp = await client.post(url, json=body, headers=k["counsellor"])
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["detail"][0]["loc"][-1] == field
    assert not fake.named("add_party")
    for role in ("operator", "other", "coordinator"):
        body = {"service": "fire", "confirm": True}
        assert (await client.post(url, json=body, headers=k[role])).status_code == 403


async def test_the_command_centre_is_dialled_in_with_the_caller_kept_on_the_line(
    app, client: httpx.AsyncClient, clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert card["emergency"]["prefecture"] == "長野県"
    assert (card["emergency"]["fire"], card["emergency"]["police"]) == (True, True)
    assert card["emergency"]["emergency_missing"] is False and FIRE not in str(card)
    body = {"service": "police", "confirm": True, "consult": True}
    resp = await client.post(f"/api/calls/{call.id}/emergency", json=body, headers=k["counsellor"])
    assert resp.status_code == 201, resp.text
    party = resp.json()
    assert (party["kind"], party["target_id"], party["status"]) == (
        "emergency",
        "長野県:police",
        "dialling",
    )
    assert party["asked_by"].startswith("key ") and party["asked_at"]
    assert fake.named("add_party")[-1]["to"] == POLICE and POLICE not in resp.text
    # The caller is held while the counsellor speaks first, never taken out of the call.
    assert fake.named("hold") == [
        {
            "conference_sid": call.conference_sid,
            "leg_sid": call.call_sid,
            "on": True,
            "language": "ja",
        }
    ]
    assert not fake.named("remove_party") and not fake.named("end")
    entry = (await audited(app, "conference.emergency"))[-1]
    assert entry.entity_id == str(call.id)
    assert entry.detail["prefecture"] == "長野県" and entry.detail["target_id"] == "長野県:police"
    assert entry.detail["party_id"] == party["id"] and entry.at == clock.now
    stored = [p for p in await parties(app, call.id) if p.kind == "emergency"]
    assert [(p.target_id, p.asked_by) for p in stored] == [("長野県:police", party["asked_by"])]
    # The call's record form starts at 緊急, the escalation shown (who, when, to whom).
    draft = await client.get(
        "/api/records/draft", params={"call_sid": call.call_sid}, headers=k["counsellor"]
    )
    assert draft.status_code == 200, draft.text
    assert draft.json()["seriousness"] == "緊急"
    [shown] = draft.json()["emergencies"]
    assert (shown["prefecture"], shown["service"], shown["asked_by"]) == (
        "長野県",
        "police",
        party["asked_by"],
    )
    other = await client.get(
        "/api/records/draft", params={"call_sid": call.call_sid}, headers=k["other"]
    )
    assert other.status_code == 403
    record = {**FORM, "call_sid": call.call_sid, "seriousness": "緊急"}
    saved = await client.post("/api/records", json=record, headers=k["counsellor"])
    assert saved.status_code == 201, saved.text
    read = await client.get(f"/api/records/{saved.json()['id']}", headers=k["counsellor"])
    assert [e["service"] for e in read.json()["emergencies"]] == ["police"]
    # The counsellor stays until the emergency service has left.
    leave = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": True}, headers=k["counsellor"]
    )
    assert leave.status_code == 409 and "emergency" in leave.text
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("hotline") and r.name != "hotline.access"
    ]
    assert not [m for m in logged if POLICE in m or FIRE in m]  # never a number in the log


async def test_an_emergency_line_that_does_not_connect_is_counted_and_shown(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    fake.fail["add_party"] = ControlFailed("unavailable", 503)
    call = await in_conference(app)
    k = await keys(app)
    body = {"service": "fire", "confirm": True, "consult": False}
    resp = await client.post(f"/api/calls/{call.id}/emergency", json=body, headers=k["counsellor"])
    assert resp.status_code == 502, resp.text
    party_id = resp.json()["detail"]["party_id"]
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    failed = next(p for p in card["parties"] if p["id"] == party_id)
    assert (failed["kind"], failed["status"]) == ("emergency", "failed")
    assert card["call"]["phase"] == "talking"
    s = await scrape(client)
    assert value(s, "hotline_emergency_escalations_total", service="fire", outcome="failed") == 1
    assert (await audited(app, "conference.emergency-failed"))[-1].detail["why"] == "unavailable"


async def test_no_direct_line_configured_says_what_to_do(app, client: httpx.AsyncClient) -> None:
    fake = control(app)
    call = await in_conference(app, "sisc-01", "sisc")  # 東京都: no direct line configured
    k = await keys(app)
    sisc = await __import__("tests.service.test_records", fromlist=["make_key"]).make_key(
        app, "sisc"
    )
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=sisc)).json()
    assert card["emergency"]["emergency_missing"] is True
    assert "119" in card["emergency"]["what_to_do_ja"] and "110" in card["emergency"]["what_to_do"]
    body = {"service": "fire", "confirm": True}
    resp = await client.post(f"/api/calls/{call.id}/emergency", json=body, headers=sisc)
    assert resp.status_code == 409, resp.text
    detail = resp.json()["detail"]
    assert detail["emergency_missing"] is True and "119" in detail["what_to_do"]
    assert "東京都" in detail["message"]
    assert not fake.named("add_party")
    assert k  # the keys of inochi do not reach sisc's call
    assert (
        await client.post(f"/api/calls/{call.id}/emergency", json=body, headers=k["counsellor"])
    ).status_code == 403


async def test_twilios_callbacks_count_the_line_connected_or_failed_once(
    app, client: httpx.AsyncClient, twilio: Twilio, clock
) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    body = {"service": "fire", "confirm": True, "consult": False}
    url = f"/api/calls/{call.id}/emergency"
    fire = (await client.post(url, json=body, headers=k["counsellor"])).json()
    joined = {
        "StatusCallbackEvent": "participant-join",
        "ParticipantLabel": f"p{fire['id']}",
        "CallSid": "CAleg" + "0" * 29 + "1",
        "ConferenceSid": call.conference_sid,
    }
    for _ in range(2):  # Twilio retries: counted once
        resp = await twilio.post(f"/voice/conference?call={call.call_sid}", **joined)
        assert resp.status_code in (200, 204), resp.text
    s = await scrape(client)
    assert value(s, "hotline_emergency_escalations_total", service="fire", outcome="connected") == 1
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert next(p for p in card["parties"] if p["id"] == fire["id"])["status"] == "joined"
    # The fire line dropped once help was on its way; the police line never answers.
    await client.delete(f"/api/calls/{call.id}/parties/{fire['id']}", headers=k["counsellor"])
    clock.advance(5)
    police = (
        await client.post(url, json={**body, "service": "police"}, headers=k["counsellor"])
    ).json()
    label = f"p{police['id']}"
    status = {"CallStatus": "no-answer", "CallSid": "CAleg" + "0" * 29 + "2"}
    for _ in range(2):
        resp = await twilio.post(f"/voice/party-status?cid={call.id}&label={label}", **status)
        assert resp.status_code in (200, 204), resp.text
    s = await scrape(client)
    assert value(s, "hotline_emergency_escalations_total", service="police", outcome="failed") == 1
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    shown = next(p for p in card["parties"] if p["id"] == police["id"])
    assert (shown["status"], shown["outcome"]) == ("failed", "no-answer")
