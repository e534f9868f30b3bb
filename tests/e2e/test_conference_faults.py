"""Faults during a conference call: a live `hotline serve` on a private PostgreSQL cluster
(`hotline.testing.pgcluster`, as `test_outage_modes.py`), reached through the test's proxy,
with Twilio's REST stand-in; a caller talks with a counsellor in the call's conference, held
(`on_hold`) or in a three-way call with a partner's desk (`three_way`). The fault begins;
during it the caller hangs up, and Twilio's conference and participant callbacks, the
caller's status and the legs' statuses arrive; the fault ends. After it, polled with a
deadline: the call `completed`, no line held for it, no party left `dialling` or `joined`,
the stand-in's conference of the call completed (no caller alone in it), the spool empty.

Faults: the database refusing connections, its packets stalled, the service killed with
SIGKILL in a stall and restarted on the same database and spool (`test_outage_modes`'s
`refused`, `stalled`, `sigkill`), and the service killed while the caller hangs up, so that
Twilio's callbacks reach no process and are lost (`sigkill-callbacks-lost`): then only
reconciliation with Twilio (the stand-in) can end the call."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotline.testing import pgcluster
from hotline.testing.pgcluster import PrivateCluster, private_cluster
from tests.conftest import new_sid
from tests.e2e.conferencekit import Conf, make_key, only_line_ready, parties, row, until
from tests.e2e.conftest import CONFIG
from tests.e2e.faultkit import eventually, spool_empty
from tests.e2e.faultkit import take as snapshot
from tests.e2e.test_outage_modes import Fault, Killed, Refused, Stage, Stalled, staged

pytestmark = pytest.mark.e2e


class Lost(Fault):
    """The service killed with SIGKILL; Twilio's callbacks meanwhile reach no process (lost,
    as Twilio does not retry them); a new process on the same database and spool."""

    name = "sigkill-callbacks-lost"
    proxied = True

    def begin(self, stage: Stage) -> None:
        os.kill(stage.twilio.server.pid, signal.SIGKILL)

    def end(self, stage: Stage) -> None:
        stage.twilio.server = stage.start_server()


FAULTS = [Refused(), Stalled(), Killed(), Lost()]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster for the module (as test_outage_modes.py's)."""
    why = pgcluster.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run these tests")
        pytest.skip(why)
    with private_cluster() as c:
        yield c


def in_phase(stage: Stage, phase: str) -> tuple[Conf, list[tuple[str, str]]]:
    """A caller in conversation in the call's conference, in `phase`; the legs still in it
    beside the caller's, (CallSid, label)."""
    only_line_ready(stage.database)
    call = Conf(stage.twilio, stage.api, new_sid()).connect()
    assert call.leg is not None
    key = make_key(stage.database, CONFIG, "counsellor")
    others = [(call.leg.sid, "counsellor")]
    with httpx.Client(base_url=stage.twilio.server.url, headers=key, timeout=20) as c:
        if phase == "on_hold":
            resp = c.post(f"/api/calls/{call.call_id}/hold", json={"on": True})
            assert resp.status_code == 200, resp.text
            assert call.participant(call.caller_sid)["hold"] is True  # type: ignore[index]
        else:
            body = {"kind": "partner", "target_id": "inochi-desk", "consult": False}
            resp = c.post(f"/api/calls/{call.call_id}/parties", json=body)
            assert resp.status_code == 201, resp.text
            label = f"p{resp.json()['id']}"
            others.append((call.party_answers(label), label))
    got = row(stage.database, f"SELECT state, phase FROM calls WHERE id = {call.call_id}")
    assert tuple(got) == ("connected", phase)
    return call, others


def hangs_up_at_twilio(call: Conf, others: list[tuple[str, str]]) -> None:
    """What Twilio knows once the caller hung up: every leg completed, the conference over."""
    api = call.api
    with api.lock:
        for leg in [call.caller_sid, *(sid for sid, _ in others)]:
            api.statuses[leg] = "completed"
    with api.rooms.lock:
        room = api.rooms.rooms[call.sid]
        room.legs.clear()
        room.status = "completed"


def during(call: Conf, others: list[tuple[str, str]], fault: Fault) -> None:
    """The caller hangs up: Twilio's callbacks (each answered 204 within its wait, the
    database away), or none at all when no process is there to hear them."""
    if isinstance(fault, Lost):
        hangs_up_at_twilio(call, others)
        return
    third = [(sid, label) for sid, label in others if label.startswith("p")]
    call.caller_hangs_up(*others)
    for sid, label in third:  # the party's own final status
        made = call.created_party(label)
        resp = call.signed(made["StatusCallback"], {"CallSid": sid, "CallStatus": "completed"})
        assert resp.status_code == 204, resp.text


def recovered(stage: Stage, call: Conf) -> str | None:
    state = row(stage.database, f"SELECT state, phase FROM calls WHERE id = {call.call_id}")
    if state[0] != "completed":
        return f"the call is {tuple(state)}"
    _, lines = snapshot(stage.database)
    if call.caller_sid in lines.values():
        return f"a line is held for the ended call: {lines}"
    left = [
        (p.label, p.status)
        for p in parties(stage.database, call.call_id)
        if p.status in ("dialling", "joined")
    ]
    if left:
        return f"parties still in the ended call: {left}"
    room = stage.api.rooms.of(call.name)
    if room is None or room.status != "completed" or room.legs:
        return f"the call's conference is not over: {room}"
    if not spool_empty(stage.tmp / "spool"):
        return "the spool is not empty"
    return None


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("phase", ["on_hold", "three_way"])
def test_a_fault_in_a_conference_leaves_no_line_held_and_no_caller_alone(
    phase: str, fault: Fault, cluster: PrivateCluster, tmp_path: Path
) -> None:
    with staged(cluster, tmp_path, fault) as stage:
        call, others = in_phase(stage, phase)
        fault.begin(stage)
        try:
            during(call, others, fault)
        finally:
            fault.end(stage)
        hangs_up_at_twilio(call, others)
        eventually(lambda: recovered(stage, call), "after the fault", stage.log)


@pytest.mark.parametrize("fault", [Refused()], ids=lambda f: f.name)
def test_the_counsellors_leg_reported_before_the_conference_end_while_held(
    fault: Fault, cluster: PrivateCluster, tmp_path: Path
) -> None:
    """Twilio's callbacks of one hang-up come in no promised order: the counsellor's leg's
    final status before the conference's end takes the held caller back to the queue first
    (as when only the counsellor's leg drops); the caller's own status then ends the call,
    counted connected once, `completed`."""
    with staged(cluster, tmp_path, fault) as stage:
        call, others = in_phase(stage, "on_hold")
        assert call.leg is not None
        fault.begin(stage)
        try:
            hangs_up_at_twilio(call, others)
            call.event("participant-leave", call.caller_sid, "caller")
            leg = {"CallSid": call.leg.sid, "CallStatus": "completed"}
            assert call.signed(call.leg.status_callback or "", leg).status_code == 204
            call.event("participant-leave", call.leg.sid, "counsellor")
            call.event("conference-end")
            done = {"CallSid": call.caller_sid, "CallStatus": "completed", "SequenceNumber": "9"}
            assert call.signed("/voice/status", done).status_code == 204
        finally:
            fault.end(stage)
        eventually(lambda: recovered(stage, call), "after the fault", stage.log)


def test_the_counsellors_leg_lost_while_the_caller_is_held_takes_them_back_to_the_queue(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    """The service killed; meanwhile the counsellor hangs up while the caller is on hold
    (their exit does not end the conference then), and every callback saying so is lost. The
    caller must not stay alone on hold in the conference: once a new process runs, the upkeep
    asks Twilio about the counsellor's leg and takes the caller back to the head of the queue
    (the lifecycle's `LegEnded`, its `Requeue` redirecting the caller's leg)."""
    fault = Lost()
    with staged(cluster, tmp_path, fault) as stage:
        api = stage.api
        call, _ = in_phase(stage, "on_hold")
        assert call.leg is not None
        redirects = len(api.updates)
        fault.begin(stage)
        try:
            with api.lock:
                api.statuses[call.leg.sid] = "completed"
            api.rooms.leave(call.sid, call.leg.sid)
        finally:
            fault.end(stage)

        def redirected() -> dict[str, str] | None:
            return next((u for s, u in api.updates[redirects:] if s == call.caller_sid), None)

        redirect = until(redirected, "the held caller taken out of the conference", stage.log)
        assert "/voice/requeue" in redirect["Url"], redirect
        api.rooms.leave(call.sid, call.caller_sid)  # Twilio: out, and their exit ends it
        queued = call.twilio.twiml(redirect["Url"], call.caller_sid).find("Enqueue")
        assert queued is not None

        def back_in_the_queue() -> str | None:
            got = row(
                stage.database, f"SELECT state, connected_at FROM calls WHERE id = {call.call_id}"
            )
            if got[0] not in ("waiting", "reserved") or got[1] is None:
                return f"the call is {tuple(got)}"
            counsellor = [
                p.status for p in parties(stage.database, call.call_id) if p.label == "counsellor"
            ]
            if counsellor != ["left"]:
                return f"the counsellor's party is {counsellor}"
            if not spool_empty(stage.tmp / "spool"):
                return "the spool is not empty"
            return None

        eventually(back_in_the_queue, "after the restart", stage.log)
