"""The counsellor's in-call actions through the API: hold and resume, leave, end, a cold
transfer to another option's queue, dropping a party; their refusals, who may do them, the
audit log and the metrics, on SQLite and PostgreSQL. Twilio's side is a recording stand-in
of `ConferenceControl` (tests/service/conference_kit.py)."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import update

from hotline.calls.models import Call
from hotline.conference.control import ControlFailed
from hotline.conference.models import CallParty
from hotline.lines.models import Line
from tests.service.conference_kit import (
    audited,
    control,
    in_conference,
    keys,
    parties,
    stored_call,
)
from tests.service.test_metrics import scrape, value


async def test_hold_and_resume_hold_the_callers_leg_and_count_the_hold(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    held = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"]
    )
    assert held.status_code == 200, held.text
    assert held.json()["call"]["phase"] == "on_hold"
    caller = next(p for p in held.json()["parties"] if p["role"] == "caller")
    assert caller["held"] is True
    assert fake.named("hold") == [
        {
            "conference_sid": call.conference_sid,
            "leg_sid": call.call_sid,
            "on": True,
            "language": "ja",
        }
    ]
    # While the caller is held, the counsellor's leg dropping must not end the conference.
    assert fake.named("update_party")[-1]["end_conference_on_exit"] is False
    again = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"]
    )
    assert again.status_code == 409 and "on_hold" in again.text
    back = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": False}, headers=k["counsellor"]
    )
    assert back.status_code == 200, back.text
    assert back.json()["call"]["phase"] == "talking"
    assert fake.named("update_party")[-1]["end_conference_on_exit"] is True
    s = await scrape(client)
    assert value(s, "hotline_conference_holds_total", option="loneliness") == 1


async def test_a_hold_twilio_refuses_is_undone_and_said(app, client: httpx.AsyncClient) -> None:
    fake = control(app)
    fake.fail["hold"] = ControlFailed("unavailable", 503)
    call = await in_conference(app)
    k = await keys(app)
    resp = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"]
    )
    assert resp.status_code == 502 and "nothing changed" in resp.text
    assert (await stored_call(app, call.id)).phase == "talking"
    card = await client.get(f"/api/calls/{call.id}/conference", headers=k["counsellor"])
    assert card.json()["call"]["phase"] == "talking"


async def test_who_may_act_on_a_call(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    url = f"/api/calls/{call.id}/hold"
    assert (await client.post(url, json={"on": True})).status_code == 401
    for role in ("other", "other_supervisor", "operator", "admin", "coordinator"):
        resp = await client.post(url, json={"on": True}, headers=k[role])
        assert resp.status_code == 403, (role, resp.text)
    # Operators and admins see the call, but change nothing; coordinators see nothing.
    for role in ("operator", "admin", "counsellor", "supervisor"):
        seen = await client.get(f"/api/calls/{call.id}/conference", headers=k[role])
        assert seen.status_code == 200, (role, seen.text)
    for role in ("other", "coordinator"):
        seen = await client.get(f"/api/calls/{call.id}/conference", headers=k[role])
        assert seen.status_code == 403
    assert (await client.post(url, json={"on": True}, headers=k["supervisor"])).status_code == 200
    assert (await client.get("/api/calls/999999/conference", headers=k["admin"])).status_code == 404


async def test_bad_bodies_name_the_field(app, client: httpx.AsyncClient) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    resp = await client.post(
        f"/api/calls/{call.id}/hold", json={"of": True}, headers=k["counsellor"]
    )
    assert resp.status_code == 422
    fields = {e["loc"][-1] for e in resp.json()["detail"]}
    assert {"on", "of"} <= fields
    resp = await client.post(
        f"/api/calls/{call.id}/transfer", json={"option_id": "nope"}, headers=k["counsellor"]
    )
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "option_id"]


async def test_no_action_on_a_call_not_in_conversation_or_without_a_conference(
    app, client: httpx.AsyncClient
) -> None:
    control(app)
    call = await in_conference(app)
    k = await keys(app)
    async with app.state.sessions.begin() as s:
        await s.execute(update(Call).where(Call.id == call.id).values(conference_sid=None))
    resp = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"]
    )
    assert resp.status_code == 409 and "conference" in resp.text
    async with app.state.sessions.begin() as s:
        await s.execute(update(Call).where(Call.id == call.id).values(state="completed"))
    resp = await client.post(f"/api/calls/{call.id}/end", headers=k["counsellor"])
    assert resp.status_code == 409 and "not in conversation" in resp.text
    app.services.conference = None  # no Twilio REST account: calls are bridged
    resp = await client.post(
        f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"]
    )
    assert resp.status_code == 409 and "REST" in resp.text


async def test_a_cold_transfer_puts_the_caller_in_the_other_queue_keeping_their_place(
    app, client: httpx.AsyncClient
) -> None:
    control(app)
    call = await in_conference(app, language="ja", waited=300)
    before = await stored_call(app, call.id)
    k = await keys(app)
    resp = await client.post(
        f"/api/calls/{call.id}/transfer", json={"option_id": "under18"}, headers=k["counsellor"]
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["kind"], resp.json()["name"]) == ("queue", "18歳以下の方")
    after = await stored_call(app, call.id)
    # Back in a queue, and offered at once the next free line that may serve it (not the
    # counsellor's, which is in its wrap-up).
    assert (after.option_id, after.language) == ("under18", "ja")
    assert after.state in ("waiting", "reserved") and after.line_id != "inochi-01"
    assert (after.waiting_since, after.priority) == (before.waiting_since, before.priority)
    assert after.connected_at == before.connected_at  # counted as connected once
    queued = [p for p in await parties(app, call.id) if p.kind == "queue"]
    assert [(p.target_id, p.status) for p in queued] == [("under18", "left")]
    entry = (await audited(app, "conference.transfer"))[-1]
    assert entry.detail["option_id"] == "under18" and entry.entity_id == str(call.id)
    s = await scrape(client)
    labels = {"option": "loneliness", "target": "queue", "mode": "cold"}
    assert value(s, "hotline_transfers_total", **labels) == 1
    same = await client.post(
        f"/api/calls/{call.id}/transfer", json={"option_id": "under18"}, headers=k["counsellor"]
    )
    assert same.status_code in (403, 409)  # offered another line, or waiting: not theirs


async def _with_party(app, call_id: int, kind: str, phase: str, status: str = "joined") -> int:  # type: ignore[no-untyped-def]
    """A third party in the call, as Twilio's join callback leaves it."""
    now: dt.datetime = app.state.clock()
    async with app.state.sessions.begin() as s:
        row = CallParty(
            call_id=call_id,
            role="third",
            kind=kind,
            target_id=f"{kind}-1",
            label="p",
            leg_sid="CAthird" + kind,
            status=status,
            asked_at=now,
            joined_at=now,
        )
        s.add(row)
        await s.flush()
        row.label = f"p{row.id}"
        await s.execute(update(Call).where(Call.id == call_id).values(phase=phase))
        return row.id


async def test_leaving_is_refused_while_the_caller_is_held_alone_or_an_emergency_is_in(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    leave = f"/api/calls/{call.id}/leave"
    nobody = await client.post(leave, json={"handover": True}, headers=k["counsellor"])
    assert nobody.status_code == 409 and "nobody to hand" in nobody.text
    await client.post(f"/api/calls/{call.id}/hold", json={"on": True}, headers=k["counsellor"])
    alone = await client.post(leave, json={"handover": False}, headers=k["counsellor"])
    assert alone.status_code == 409 and "on hold alone" in alone.text
    await _with_party(app, call.id, "emergency", "three_way")
    for url, body in ((leave, {"handover": True}), (f"/api/calls/{call.id}/end", None)):
        resp = await client.post(url, json=body, headers=k["counsellor"])
        assert resp.status_code == 409 and "emergency" in resp.text
    assert not fake.named("remove_party") and not fake.named("end")


async def test_a_warm_handover_leaves_the_caller_with_the_party(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    await _with_party(app, call.id, "partner", "three_way")
    resp = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": True}, headers=k["counsellor"]
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["call"]["phase"] == "handed_over"
    assert fake.named("update_party")[-1] == {
        "conference_sid": call.conference_sid,
        "leg_sid": call.leg_sid,
        "muted": None,
        "end_conference_on_exit": False,
    }
    assert fake.named("remove_party") == [
        {"conference_sid": call.conference_sid, "leg_sid": call.leg_sid}
    ]
    assert (await audited(app, "conference.leave"))[-1].detail == {"handover": True}
    s = await scrape(client)
    labels = {"option": "loneliness", "target": "partner", "mode": "warm"}
    assert value(s, "hotline_transfers_total", **labels) == 1


async def test_dropping_a_consulted_party_resumes_the_caller(
    app, client: httpx.AsyncClient
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    party = await _with_party(app, call.id, "support", "consulting")
    url = f"/api/calls/{call.id}/parties/{party}"
    resp = await client.delete(url, headers=k["counsellor"])
    assert resp.status_code == 200, resp.text
    dropped = next(p for p in resp.json()["parties"] if p["id"] == party)
    assert (dropped["status"], dropped["outcome"]) == ("left", "dropped")
    assert resp.json()["call"]["phase"] == "talking"
    assert fake.named("remove_party")[-1]["leg_sid"] == "CAthirdsupport"
    assert fake.named("hold")[-1]["on"] is False
    assert (await client.delete(url, headers=k["counsellor"])).status_code == 409
    caller = f"/api/calls/{call.id}/parties/{(await parties(app, call.id))[0].id}"
    assert (await client.delete(caller, headers=k["counsellor"])).status_code == 422
    assert (
        await client.delete(f"/api/calls/{call.id}/parties/99999", headers=k["counsellor"])
    ).status_code == 404


async def test_end_ends_the_conference(app, client: httpx.AsyncClient) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    resp = await client.post(f"/api/calls/{call.id}/end", headers=k["counsellor"])
    assert resp.status_code == 200, resp.text
    assert fake.named("end") == [{"conference_sid": call.conference_sid}]
    assert (await audited(app, "conference.end"))[-1].entity_id == str(call.id)
    fake.fail["end"] = ControlFailed("unavailable")
    # Twilio's failure is said, with what to do.
    async with app.state.sessions.begin() as s:
        await s.execute(
            update(Call).where(Call.id == call.id).values(state="connected", phase="talking")
        )
        await s.execute(update(Line).where(Line.id == "inochi-01").values(call_id=call.id))
    failed = await client.post(f"/api/calls/{call.id}/end", headers=k["counsellor"])
    assert failed.status_code == 502 and "hang up" in failed.text


async def test_hold_in_a_three_way_call_consults_the_party_alone(
    app, client: httpx.AsyncClient, clock
) -> None:
    fake = control(app)
    call = await in_conference(app)
    k = await keys(app)
    await _with_party(app, call.id, "interpreter", "three_way")
    url = f"/api/calls/{call.id}/hold"
    held = await client.post(url, json={"on": True}, headers=k["counsellor"])
    assert held.status_code == 200 and held.json()["call"]["phase"] == "consulting"
    clock.advance(5)
    back = await client.post(url, json={"on": False}, headers=k["counsellor"])
    assert back.status_code == 200 and back.json()["call"]["phase"] == "three_way"
    assert [c["on"] for c in fake.named("hold")] == [True, False]
    clock.advance(5)
    gone = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": True}, headers=k["counsellor"]
    )
    assert gone.status_code == 200 and gone.json()["call"]["phase"] == "handed_over"
    twice = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": True}, headers=k["counsellor"]
    )
    assert twice.status_code == 409 and "left the call already" in twice.text


async def test_a_conference_ended_already_is_no_failure(app, client: httpx.AsyncClient) -> None:
    """The lifecycle ends the conference after the commit too (`EndConference`): whichever
    reaches Twilio second finds it over."""
    fake = control(app)
    fake.fail["end"] = ControlFailed("rejected", 404)
    call = await in_conference(app)
    k = await keys(app)
    resp = await client.post(
        f"/api/calls/{call.id}/leave", json={"handover": False}, headers=k["counsellor"]
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "completed"
    assert fake.named("end") == [{"conference_sid": call.conference_sid}]
