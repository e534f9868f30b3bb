"""Supervisors through the API: on and off duty, listening (muted), coaching (heard by the
counsellor only) and joining a call of their own organisation, the counsellor's card showing
who is listening; help requests to the supervisors on duty; the live calls each role sees,
never a number. Audited and counted, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from hotline.config import HotlineConfig
from tests.conftest import CALLER
from tests.service.conference_kit import (
    SUPERVISOR,
    audited,
    control,
    in_conference,
    keys,
    room_cfg,
)
from tests.service.test_metrics import scrape, value


@pytest.fixture(scope="module")
def cfg() -> HotlineConfig:
    return room_cfg()


async def test_supervisors_go_on_and_off_duty(app, client: httpx.AsyncClient) -> None:
    k = await keys(app)
    on = {"on": True, "supervisor_id": "inochi-sv-01"}
    assert (await client.post("/api/duty", json=on, headers=k["counsellor"])).status_code == 403
    bad = await client.post(
        "/api/duty", json={"on": True, "supervisor_id": "sisc-sv-01"}, headers=k["supervisor"]
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "supervisor_id"]
    resp = await client.post("/api/duty", json=on, headers=k["supervisor"])
    assert resp.status_code == 200, resp.text
    assert [(d["supervisor_id"], d["name"]) for d in resp.json()] == [
        ("inochi-sv-01", "当番SV 佐藤")
    ]
    seen = await client.get("/api/duty", headers=k["counsellor"])
    assert [d["supervisor_id"] for d in seen.json()] == ["inochi-sv-01"]
    other = await client.get("/api/duty", headers=k["other"])
    assert other.json() == []
    off = await client.post("/api/duty", json={"on": False}, headers=k["supervisor"])
    assert off.status_code == 200 and off.json() == []
    again = await client.post("/api/duty", json={"on": False}, headers=k["supervisor"])
    assert again.status_code == 409
    assert [e.detail["on"] for e in await audited(app, "supervisor.duty")] == [True, False]


@pytest.mark.parametrize("mode", ["listen", "coach", "join"])
async def test_a_supervisor_listens_coaches_or_joins(
    app, client: httpx.AsyncClient, mode: str
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    body = {"mode": mode, "supervisor_id": "inochi-sv-01"}
    url = f"/api/calls/{call.id}/supervise"
    for role in ("counsellor", "other_supervisor", "operator"):
        assert (await client.post(url, json=body, headers=k[role])).status_code == 403
    resp = await client.post(url, json=body, headers=k["supervisor"])
    assert resp.status_code == 201, resp.text
    party = resp.json()
    assert (party["role"], party["kind"], party["name"]) == (
        "supervisor",
        "supervisor",
        "当番SV 佐藤",
    )
    dialled = fake.named("add_party")[-1]
    assert dialled["to"] == SUPERVISOR and dialled["label"] == f"s{party['id']}"
    assert dialled["muted"] is (mode == "listen")
    assert dialled["coach_leg_sid"] == (call.leg_sid if mode == "coach" else None)
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert card["call"]["listening"] == [f"当番SV 佐藤 ({mode})"]
    assert card["call"]["phase"] == "talking"  # a supervisor changes no phase
    entry = (await audited(app, "conference.supervisor"))[-1]
    assert entry.detail["mode"] == mode and entry.entity_id == str(call.id)
    assert entry.role == "supervisor"
    s = await scrape(client)
    assert value(s, "hotline_supervisions_total", mode=mode) == 1
    bad = await client.post(url, json={**body, "mode": "whisper"}, headers=k["supervisor"])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "mode"
    # Dropped by the counsellor (or the supervisor) like any party.
    gone = await client.delete(
        f"/api/calls/{call.id}/parties/{party['id']}", headers=k["counsellor"]
    )
    assert gone.status_code == 200 and gone.json()["call"]["listening"] == []


async def test_help_reaches_the_supervisors_on_duty(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    url = f"/api/calls/{call.id}/help"
    nobody = await client.post(url, headers=k["counsellor"])
    assert nobody.status_code == 201 and nobody.json()["on_duty"] == 0
    on = {"on": True, "supervisor_id": "inochi-sv-02"}
    await client.post("/api/duty", json=on, headers=k["supervisor"])
    asked = await client.post(url, headers=k["counsellor"])
    assert asked.status_code == 201, asked.text
    assert (asked.json()["on_duty"], asked.json()["line_id"]) == (1, "inochi-01")
    assert (await client.post(url, headers=k["other"])).status_code == 403
    assert (await client.post(url, headers=k["operator"])).status_code == 403
    listed = await client.get("/api/help", headers=k["supervisor"])
    assert [h["id"] for h in listed.json()] == [nobody.json()["id"], asked.json()["id"]]
    assert (await client.get("/api/help", headers=k["other_supervisor"])).json() == []
    assert (await client.get("/api/help", headers=k["counsellor"])).status_code == 403
    card = (await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])).json()
    assert card["help_open"] == 2
    hid = asked.json()["id"]
    taken = await client.post(
        f"/api/help/{hid}", json={"action": "acknowledge"}, headers=k["supervisor"]
    )
    assert taken.json()["state"] == "acknowledged"
    closed = await client.post(
        f"/api/help/{hid}", json={"action": "close"}, headers=k["supervisor"]
    )
    assert closed.json()["state"] == "closed"
    assert (
        await client.post(f"/api/help/{hid}", json={"action": "close"}, headers=k["supervisor"])
    ).status_code == 409
    assert (
        await client.post(
            f"/api/help/{hid}", json={"action": "close"}, headers=k["other_supervisor"]
        )
    ).status_code == 404
    s = await scrape(client)
    assert value(s, "hotline_help_requests_total", org="inochi") == 2
    assert [e.detail["on_duty"] for e in await audited(app, "conference.help")] == [0, 1]


async def test_live_calls_each_role_sees_never_a_number(app, client: httpx.AsyncClient) -> None:
    control(app)
    ours = await in_conference(app, waited=90, talked=120)
    theirs = await in_conference(app, "childline-01", "childline", option="under18")
    k = await keys(app)
    seen = {}
    for role in ("counsellor", "supervisor", "other", "operator", "admin"):
        resp = await client.get("/api/live", headers=k[role])
        assert resp.status_code == 200, resp.text
        assert CALLER not in resp.text and "+81" not in resp.text and "sip:" not in resp.text
        seen[role] = [c["call_id"] for c in resp.json()]
    assert seen["counsellor"] == seen["supervisor"] == [ours.id]
    assert seen["other"] == [theirs.id]
    assert sorted(seen["operator"]) == sorted(seen["admin"]) == sorted([ours.id, theirs.id])
    assert (await client.get("/api/live", headers=k["coordinator"])).status_code == 403
    live = (await client.get("/api/live", headers=k["counsellor"])).json()[0]
    assert (live["option"], live["language"], live["phase"]) == (
        "孤独・孤立でお悩みの方",
        "ja",
        "talking",
    )
    assert (live["waited_seconds"], live["talking_seconds"]) == (90, 120)
    assert live["in_call"] == ["caller", "counsellor"]


async def test_the_console_calls_the_same_functions_as_a_console_account(app) -> None:
    """The console hands the service its account (an `Actor` with `user_id`), not a key."""
    from hotline.common.audit import Actor
    from hotline.conference import service

    fake = control(app)
    call = await in_conference(app)
    who = Actor(None, "inochi", "supervisor", "console", user_id=7)
    services = app.services
    async with services.console_unit() as u:
        duty = await service.set_duty(
            u.session, services, who, on=True, supervisor_id="inochi-sv-02"
        )
    assert [d.supervisor_id for d in duty] == ["inochi-sv-02"]
    async with services.console_unit() as u:
        party = await service.supervise(
            u.session, services, who, call.id, mode="listen", supervisor_id="inochi-sv-02"
        )
    assert party.asked_by == "user 7" and fake.named("add_party")[-1]["muted"] is True
    async with services.console_unit() as u:
        card = await service.card(u.session, services, who, call.id)
    assert card.call.listening == ["当番SV 鈴木 (listen)"]
