"""Conference calls through real HTTP, on SQLite and PostgreSQL: a live `hotline serve` with
Twilio's REST stand-in served on loopback (`hotline.testing.twilio_api`); Twilio's side played
with signed webhooks and the stand-in's conferences (`tests/e2e/conferencekit.py`), the
counsellor's and the supervisor's actions through the JSON API with keys made by `hotline
keys create`. A warm transfer handed over, a cold transfer to another option's queue, an
emergency three-way call, a supervisor coaching. Waits are polls with a deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hotline.testing.servers import LiveServer
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import new_sid, pg_database
from tests.e2e.conferencekit import (
    HOTLINE_ID,
    LINE,
    POLICE,
    SUPERVISOR,
    Conf,
    make_key,
    only_line_ready,
    parties,
    room_config,
    row,
    until,
)
from tests.e2e.faultkit import ACCOUNT, TOKEN, Twilio, serve, spool_empty
from tests.e2e.faultkit import take as snapshot

pytestmark = pytest.mark.e2e
CALLER = "+819011112222"


@dataclass
class Stage:
    database: str
    api: TwilioApi
    server: LiveServer
    spool: Path
    keys: dict[str, dict[str, str]]

    def http(self, role: str = "counsellor") -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=self.keys[role], timeout=20)

    def conf(self) -> Conf:
        only_line_ready(self.database)
        return Conf(Twilio(self.server, self.api), self.api, new_sid()).connect()


def _stage(database: str, tmp: Path) -> Iterator[Stage]:
    config = room_config(tmp)
    with twilio_api(ACCOUNT, TOKEN) as api:
        served = serve(database, tmp / "serve.log", tmp / "spool", api, config)
        server = next(served)
        try:
            keys = {role: make_key(database, config, role) for role in ("counsellor", "supervisor")}
            yield Stage(database, api, server, tmp / "spool", keys)
        finally:
            served.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    tmp = tmp_path_factory.mktemp(f"conf-{request.param}")
    if request.param == "sqlite":
        yield from _stage(f"sqlite+aiosqlite:///{tmp / 'hotline.db'}", tmp)
        return
    database = pg_database()
    url = next(database)
    try:
        yield from _stage(url, tmp)
    finally:
        database.close()


def ok(resp: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
    assert resp.status_code == status, resp.text
    assert CALLER not in resp.text
    body: dict = resp.json()  # type: ignore[type-arg]
    return body


def card(stage: Stage, call: Conf, role: str = "counsellor") -> dict:  # type: ignore[type-arg]
    with stage.http(role) as c:
        return ok(c.get(f"/api/calls/{call.call_id}/conference"))


def state_of(stage: Stage, call: Conf) -> tuple[str, str | None]:
    found = row(stage.database, f"SELECT state, phase FROM calls WHERE id = {call.call_id}")
    return (found[0], found[1])


def line_status(stage: Stage) -> tuple[str, int | None]:
    found = row(stage.database, f"SELECT status, call_id FROM lines WHERE id = '{LINE}'")
    return (found[0], found[1])


def ended_cleanly(stage: Stage, call: Conf) -> None:
    """The call completed, no party still dialling or in it, no line held for it, the
    spool empty."""

    def done() -> bool | None:
        if state_of(stage, call)[0] != "completed":
            return None
        if any(p.status in ("dialling", "joined") for p in parties(stage.database, call.call_id)):
            return None
        held = snapshot(stage.database)[1]
        if any(sid == call.caller_sid for sid in held.values()):
            return None
        return True if spool_empty(stage.spool) else None

    until(done, "the call ended cleanly", stage.server.log)


def test_a_warm_transfer_consulted_then_three_way_then_handed_over(stage: Stage) -> None:
    call = stage.conf()
    assert until(lambda: state_of(stage, call) == ("connected", "talking") or None, "talking")
    with stage.http() as c:
        targets = ok(c.get(f"/api/calls/{call.call_id}/targets"))
        assert "inochi-desk" in str(targets)
        body = {"kind": "partner", "target_id": "inochi-desk", "consult": True}
        party = ok(c.post(f"/api/calls/{call.call_id}/parties", json=body), 201)
    label = f"p{party['id']}"
    # The caller is held at Twilio; the party is dialled with the hotline's number.
    assert call.participant(call.caller_sid)["hold"] is True  # type: ignore[index]
    made = call.created_party(label)
    assert made["From"] == HOTLINE_ID and CALLER not in str(made)
    assert state_of(stage, call) == ("connected", "consulting")
    call.party_answers(label)
    with stage.http() as c:
        ok(c.post(f"/api/calls/{call.call_id}/three-way"))
    assert call.participant(call.caller_sid)["hold"] is False  # type: ignore[index]
    assert state_of(stage, call) == ("connected", "three_way")
    with stage.http() as c:
        ok(c.post(f"/api/calls/{call.call_id}/leave", json={"handover": True}))
    assert call.leg is not None and call.participant(call.leg.sid) is None  # its leg removed
    call.event("participant-leave", call.leg.sid, "counsellor")
    assert state_of(stage, call) == ("connected", "handed_over")
    assert until(lambda: line_status(stage)[1] is None or None, "the line freed")
    assert line_status(stage)[0] == "wrap_up"
    # The caller and the partner talk on; the caller hangs up, the conference ends.
    call.caller_hangs_up((made["CallSid"], label))
    ended_cleanly(stage, call)


def test_a_cold_transfer_to_another_options_queue(stage: Stage) -> None:
    call = stage.conf()
    before = row(
        stage.database, f"SELECT waiting_since, priority FROM calls WHERE id = {call.call_id}"
    )
    redirects = len(stage.api.updates)
    with stage.http() as c:
        party = ok(c.post(f"/api/calls/{call.call_id}/transfer", json={"option_id": "suicidal"}))
    assert (party["kind"], party["target_id"], party["status"]) == ("queue", "suicidal", "left")
    # The caller's leg is redirected out of the conference to the other option's queue.
    redirect = until(
        lambda: next((u for s, u in stage.api.updates[redirects:] if s == call.caller_sid), None),
        "the caller redirected",
    )
    assert "/voice/requeue" in redirect["Url"] and "suicidal" in redirect["Url"]
    state = row(
        stage.database,
        f"SELECT state, option_id, waiting_since, priority FROM calls WHERE id = {call.call_id}",
    )
    assert (state[0], state[1]) in (("waiting", "suicidal"), ("reserved", "suicidal"))
    assert (state[2], state[3]) == (before[0], before[1])  # their place kept
    assert until(lambda: line_status(stage)[1] != call.call_id or None, "the line released")
    # Out of the conference the caller's exit ends it: the counsellor's leg with it.
    assert call.leg is not None
    stage.api.rooms.leave(call.sid, call.caller_sid)
    call.event("participant-leave", call.caller_sid, "caller")
    call.leaves(call.leg.sid, "counsellor")
    call.event("conference-end")
    ended = call.signed(
        call.leg.status_callback or "", {"CallSid": call.leg.sid, "CallStatus": "completed"}
    )
    assert ended.status_code == 204, ended.text
    # The redirect answers the other option's <Enqueue>; a line that serves it is offered.
    twilio = call.twilio
    queued = twilio.twiml(redirect["Url"], call.caller_sid).find("Enqueue")
    assert queued is not None and "o=suicidal" in (queued.get("action") or "")
    only_line_ready(stage.database, "inochi-02")
    twilio.held_until_offered(queued.get("waitUrl", ""), call.caller_sid)
    offered = twilio.twiml(queued.get("action", ""), call.caller_sid, QueueResult="leave")
    again = Conf(twilio, stage.api, call.caller_sid)
    again.into_conference(offered)
    leg = again.ringing()
    assert "line=inochi-02" in leg.url
    again.accept()
    assert state_of(stage, again)[0] == "connected"
    again.caller_hangs_up((leg.sid, "counsellor"))
    ended_cleanly(stage, again)


def test_an_emergency_three_way_call(stage: Stage) -> None:
    call = stage.conf()
    url = f"/api/calls/{call.call_id}/emergency"
    with stage.http() as c:
        assert c.post(url, json={"service": "police"}).status_code == 422  # confirm required
        assert not [p for p in stage.api.rooms.created if p.get("To") == POLICE]
        body = {"service": "police", "confirm": True, "consult": True}
        party = ok(c.post(url, json=body), 201)
    assert (party["kind"], party["target_id"]) == ("emergency", "長野県:police")
    assert party["asked_by"] and party["asked_at"]
    label = f"p{party['id']}"
    made = call.created_party(label)
    assert made["To"] == POLICE and made["From"] == HOTLINE_ID
    # The caller stays in the call (held while the counsellor speaks first), never taken out.
    assert call.participant(call.caller_sid) is not None
    call.party_answers(label)
    with stage.http() as c:
        ok(c.post(f"/api/calls/{call.call_id}/three-way"))
        assert (
            c.post(f"/api/calls/{call.call_id}/leave", json={"handover": False}).status_code == 409
        )
    assert call.participant(call.caller_sid)["hold"] is False  # type: ignore[index]
    assert state_of(stage, call) == ("connected", "three_way")
    audit = row(
        stage.database,
        "SELECT action, key_id, at, detail FROM audit_log WHERE action = 'conference.emergency' "
        f"AND entity_id = '{call.call_id}'",
    )
    assert audit is not None, "no conference.emergency in the audit log"
    assert audit[1] is not None and audit[2] is not None  # who (the key) and when
    detail = json.loads(audit[3]) if isinstance(audit[3], str) else audit[3]
    assert detail["target_id"] == "長野県:police" and detail["party_id"] == party["id"], detail
    assert POLICE not in str(detail)
    with stage.http() as c:
        draft = ok(c.get("/api/records/draft", params={"call_sid": call.caller_sid}))
    assert "緊急" in str(draft) and "長野県" in str(draft), draft
    call.caller_hangs_up((made["CallSid"], label), (call.leg.sid, "counsellor"))  # type: ignore[union-attr]
    ended_cleanly(stage, call)


def test_a_supervisor_coaches_the_counsellor(stage: Stage) -> None:
    call = stage.conf()
    assert call.leg is not None
    with stage.http("supervisor") as c:
        body = {"mode": "coach", "supervisor_id": "inochi-sv-01"}
        party = ok(c.post(f"/api/calls/{call.call_id}/supervise", json=body), 201)
    label = f"s{party['id']}"
    made = call.created_party(label)
    assert made["To"] == SUPERVISOR and made["From"] == HOTLINE_ID
    assert made["Coaching"] == "true" and made["CallSidToCoach"] == call.leg.sid, made
    call.party_answers(label)
    seen = card(stage, call)
    assert "当番SV 佐藤" in str(seen["call"]["listening"]), seen
    audit = row(
        stage.database,
        "SELECT action FROM audit_log WHERE action = 'conference.supervisor' "
        f"AND entity_id = '{call.call_id}'",
    )
    assert audit is not None, "no conference.supervisor in the audit log"
    call.caller_hangs_up((made["CallSid"], label), (call.leg.sid, "counsellor"))
    ended_cleanly(stage, call)
