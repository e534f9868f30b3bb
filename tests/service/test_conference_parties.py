"""Third parties through the API: a partner, support organisation or interpreter dialled into
the call (consulted first, or straight into a three-way call), the held caller brought in,
the targets open now; refusals and Twilio's failures, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from hotline.conference import store
from hotline.conference.control import ControlFailed
from hotline.config import HotlineConfig
from tests.service.conference_kit import control, in_conference, keys, parties, room_cfg
from tests.service.test_metrics import scrape, value


@pytest.fixture(scope="module")
def cfg() -> HotlineConfig:
    return room_cfg()


async def test_consult_a_partner_then_bring_the_caller_in(app, client: httpx.AsyncClient) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    body = {"kind": "partner", "target_id": "inochi-desk", "consult": True}
    resp = await client.post(f"/api/calls/{call.id}/parties", json=body, headers=k["counsellor"])
    assert resp.status_code == 201, resp.text
    party = resp.json()
    assert (party["kind"], party["name"], party["status"]) == (
        "partner",
        "日本いのちの電話連盟",
        "dialling",
    )
    assert party["asked_by"].startswith("key ") and "number" not in party
    # The caller hears the on-hold words while the counsellor talks to the partner first.
    assert fake.calls[0] == (
        "hold",
        {
            "conference_sid": call.conference_sid,
            "leg_sid": call.call_sid,
            "on": True,
            "language": "ja",
        },
    )
    dialled = fake.named("add_party")[-1]
    assert dialled["to"] == "sip:desk@inochi.example.invalid"
    assert (dialled["label"], dialled["muted"]) == (f"p{party['id']}", False)
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert card["call"]["phase"] == "consulting"
    stored = next(p for p in await parties(app, call.id) if p.id == party["id"])
    assert stored.leg_sid == "CAleg" + "0" * 29 + "1"  # the leg Twilio placed, kept
    again = await client.post(f"/api/calls/{call.id}/parties", json=body, headers=k["counsellor"])
    assert again.status_code == 409
    joined = await client.post(f"/api/calls/{call.id}/three-way", headers=k["counsellor"])
    assert joined.status_code == 200, joined.text
    assert joined.json()["call"]["phase"] == "three_way"
    assert fake.named("hold")[-1] == {
        "conference_sid": call.conference_sid,
        "leg_sid": call.call_sid,
        "on": False,
        "language": "ja",
    }
    s = await scrape(client)
    assert value(s, "hotline_three_way_calls_total", option="loneliness", target="partner") == 1
    twice = await client.post(f"/api/calls/{call.id}/three-way", headers=k["counsellor"])
    assert twice.status_code == 409


async def test_a_party_straight_into_a_three_way_call(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    body = {"kind": "interpreter", "target_id": "example-interpreters", "consult": False}
    resp = await client.post(f"/api/calls/{call.id}/parties", json=body, headers=k["counsellor"])
    assert resp.status_code == 201, resp.text
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert card["call"]["phase"] == "three_way"
    s = await scrape(client)
    assert value(s, "hotline_three_way_calls_total", option="loneliness", target="interpreter") == 1


async def test_a_party_twilio_would_not_dial_is_marked_failed(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    fake.fail["add_party"] = ControlFailed("rejected", 400)
    call = await in_conference(app)
    k = await keys(app)
    body = {"kind": "support", "target_id": "example-nagano", "consult": True}
    resp = await client.post(f"/api/calls/{call.id}/parties", json=body, headers=k["counsellor"])
    assert resp.status_code == 502, resp.text
    detail = resp.json()["detail"]
    assert detail["status"] == "failed" and "marked failed" in detail["message"]
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    failed = next(p for p in card["parties"] if p["id"] == detail["party_id"])
    assert (failed["status"], failed["outcome"]) == ("failed", "twilio-rejected")
    assert card["call"]["phase"] == "talking"  # the caller is not left on hold


async def test_party_refusals_name_the_field(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    url = f"/api/calls/{call.id}/parties"
    cases = [
        ({"kind": "emergency", "target_id": "x"}, "kind"),
        ({"kind": "partner", "target_id": "nobody-desk"}, "target_id"),
        ({"kind": "partner"}, "target_id"),
        ({"kind": "partner", "target_id": "inochi-desk", "number": "+8150"}, "number"),
    ]
    for body, field in cases:
        resp = await client.post(url, json=body, headers=k["counsellor"])
        assert resp.status_code == 422, (body, resp.text)
        assert field in {e["loc"][-1] for e in resp.json()["detail"]}, resp.text
        assert "nobody-desk" not in resp.text and "+8150" not in resp.text  # no echo
    other = await client.post(
        url, json={"kind": "partner", "target_id": "inochi-desk"}, headers=k["other"]
    )
    assert other.status_code == 403


async def test_targets_open_now(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    resp = await client.get(f"/api/calls/{call.id}/targets", headers=k["counsellor"])
    assert resp.status_code == 200, resp.text
    found = {kind: [t["id"] for t in ts] for kind, ts in resp.json().items()}
    # 12:00 in Tokyo on a Monday: ChildLine's desk (16:00-21:00) is closed.
    assert "inochi-desk" in found["partner"] and "childline-desk" not in found["partner"]
    assert found["support"] == ["example-nagano"]
    assert found["supervisor"] == []  # the organisation's supervisors, none on duty yet
    assert "loneliness" not in found["queue"] and "under18" in found["queue"]
    assert "+81" not in resp.text and "sip:" not in resp.text
    assert (
        await client.get(f"/api/calls/{call.id}/targets", headers=k["operator"])
    ).status_code == 403
    on = {"on": True, "supervisor_id": "inochi-sv-02"}
    assert (await client.post("/api/duty", json=on, headers=k["supervisor"])).status_code == 200
    resp = await client.get(f"/api/calls/{call.id}/targets", headers=k["counsellor"])
    assert [t["id"] for t in resp.json()["supervisor"]] == ["inochi-sv-02"]


async def test_a_desk_closed_now_is_refused_and_nothing_is_dialled(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    # 12:00 in Tokyo on a Monday: ChildLine's desk opens at 16:00.
    body = {"kind": "partner", "target_id": "childline-desk", "consult": True}
    resp = await client.post(f"/api/calls/{call.id}/parties", json=body, headers=k["counsellor"])
    assert resp.status_code == 409, resp.text
    assert "closed now" in resp.text
    assert not fake.named("add_party")
    assert not [p for p in await parties(app, call.id) if p.role == "third"]


async def test_a_supervisor_on_duty_consulted_then_handed_the_caller(
    app, client: httpx.AsyncClient
) -> None:
    """The counsellor brings the supervisor on duty in as a third party (not a supervision:
    everyone hears everyone), talks to them first, then leaves the caller with them."""
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    url = f"/api/calls/{call.id}/parties"
    body = {"kind": "supervisor", "target_id": "inochi-sv-01", "consult": True}
    off = await client.post(url, json=body, headers=k["counsellor"])
    assert off.status_code == 409 and "not on duty" in off.text, off.text
    assert not fake.named("add_party")
    on = {"on": True, "supervisor_id": "inochi-sv-01"}
    assert (await client.post("/api/duty", json=on, headers=k["supervisor"])).status_code == 200
    resp = await client.post(url, json=body, headers=k["counsellor"])
    assert resp.status_code == 201, resp.text
    party = resp.json()
    assert (party["kind"], party["role"], party["status"]) == ("supervisor", "third", "dialling")
    card = await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])
    assert card.json()["call"]["phase"] == "consulting"
    async with app.state.sessions.begin() as session:  # Twilio: the supervisor's leg joined
        label, leg = f"p{party['id']}", fake.named("add_party")[-1]["label"]
        assert label == leg
        assert await store.joined(session, call.id, label, "CAsv", dt.datetime.now(dt.UTC))
    left = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": True}, headers=k["counsellor"]
    )
    assert left.status_code == 200, left.text
    assert left.json()["call"]["phase"] == "handed_over"
    other = await client.post(url, json=body, headers=k["other"])
    assert other.status_code == 403
