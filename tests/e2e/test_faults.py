"""Faults, for real: a live `hotline serve` on PostgreSQL loses its database mid-call and is
killed with SIGKILL; after both come back, every line is free or truly busy, every call is in
its true final state, and every fact Twilio reported during the outage is counted.

The database goes away for this server only: it reaches PostgreSQL through a TCP proxy the
test cuts (`hotline.testing.proxy`). Twilio's REST API is the local stand-in. Waits are polls
with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from hotline.testing.proxy import cuttable_proxy
from hotline.testing.twilio_api import twilio_api
from hotline.testing.twilio_requests import CALLER
from tests.conftest import new_sid, pg_database
from tests.e2e.faultkit import (
    ACCOUNT,
    TOKEN,
    Twilio,
    eventually,
    report,
    serve,
    snapshot,
    spool_empty,
    through,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def database() -> Iterator[str]:
    gen = pg_database()  # skips without PostgreSQL, fails under CI
    url = next(gen)
    try:
        yield url
    finally:
        gen.close()


def test_an_outage_and_a_killed_process_lose_no_line_and_no_call(
    database: str, tmp_path: Path
) -> None:
    pg = make_url(database)
    spool = tmp_path / "spool"
    with twilio_api(ACCOUNT, TOKEN) as api, cuttable_proxy(pg.host or "", pg.port or 5432) as proxy:
        served = serve(through(proxy, database), tmp_path / "first.log", spool, api)
        server = next(served)
        twilio = Twilio(server, api)
        talked, lost = new_sid(), new_sid()  # both reach a counsellor
        twilio.connect(talked)
        twilio.connect(lost)
        api.statuses.update({talked: "in-progress", lost: "in-progress"})

        proxy.cut()  # the database goes away
        late = new_sid()
        # Status callbacks are answered as usual (they control nothing) and kept for later.
        ended = twilio.post("/voice/status", talked, CallStatus="completed", SequenceNumber="3")
        assert ended.status_code == 204, ended.text
        fallback = twilio.twiml("/voice/incoming", late)  # a new caller during the outage
        assert fallback.find("Dial") is not None  # served by the backup organisation
        hung_up = twilio.post("/voice/status", late, CallStatus="completed", SequenceNumber="2")
        assert hung_up.status_code == 204, hung_up.text
        assert twilio.http.get(server.url + "/readyz").status_code == 503
        on_disk = next(spool.glob("*.jsonl")).read_text()
        assert CALLER not in on_disk  # the spool keeps the caller's keyed hash, not the number
        kept = [json.loads(line) for line in on_disk.splitlines()]
        assert [(e["path"], e["params"]["CallSid"]) for e in kept] == [
            ("/voice/status", talked),
            ("/voice/incoming", late),
            ("/voice/status", late),
        ]

        os.kill(server.pid, signal.SIGKILL)  # and the process dies mid-call
        served.close()
        proxy.restore()
        api.statuses[talked] = api.statuses[lost] = "completed"  # `lost`'s callbacks never came
        served = serve(through(proxy, database), tmp_path / "second.log", spool, api)
        next(served)
        try:

            def recovered() -> str | None:
                calls, held = asyncio.run(snapshot(database))
                want = {
                    talked: ("completed", None),
                    lost: ("completed", None),  # ended by reconciliation with Twilio
                    late: ("abandoned", "menu"),  # the outage's caller, counted after all
                }
                got = {sid: calls.get(sid) for sid in want}
                if got != want:
                    return f"calls {got}"
                if any(held):
                    return f"lines still held by {held}"
                if not spool_empty(spool):
                    return "the spool is not empty"
                return None

            eventually(recovered, "after the outage and the kill", tmp_path / "second.log")
        finally:
            served.close()

    figures = report(database)
    assert (figures["calls"], figures["connected"]) == (3, 2), figures


def test_a_stalled_database_is_answered_with_our_fallback_within_the_deadline(
    database: str, tmp_path: Path
) -> None:
    """PostgreSQL stalled (packets held, not refused): the incoming call hears our fallback
    (the backup organisation) and a holding caller a hold segment, both within the webhook's
    deadline (set small here), never Twilio's static fallback; the fact is spooled and
    replayed once the packets flow again, and the holding caller is still holding."""
    pg = make_url(database)
    spool, log = tmp_path / "spool", tmp_path / "stall.log"
    deadlines = {
        "HOTLINE_WEBHOOK_DEADLINE_SECONDS": "2",
        "HOTLINE_DB_CONNECT_TIMEOUT_SECONDS": "1",
        "HOTLINE_DB_COMMAND_TIMEOUT_SECONDS": "1",
        "HOTLINE_DB_POOL_TIMEOUT_SECONDS": "1",
    }
    with twilio_api(ACCOUNT, TOKEN) as api, cuttable_proxy(pg.host or "", pg.port or 5432) as proxy:
        served = serve(through(proxy, database), log, spool, api, **deadlines)
        server = next(served)
        try:
            twilio = Twilio(server, api)
            twilio.http = httpx.Client(timeout=14)  # Twilio waits 15 s, then gives up
            holding = new_sid()
            menu = twilio.twiml("/voice/incoming", holding).find("Gather")
            assert menu is not None
            queued = twilio.twiml(menu.get("action", ""), holding, Digits="8").find("Enqueue")
            assert queued is not None

            proxy.stall()  # the database goes silent
            late = new_sid()
            fallback = twilio.twiml("/voice/incoming", late)
            targets = [el.text or "" for el in fallback.iter("Number")] + [
                el.text or "" for el in fallback.iter("Sip")
            ]
            assert fallback.find("Gather") is None and targets  # the backup, not our menu
            hold = twilio.twiml(queued.get("waitUrl", ""), holding)
            assert hold.find("Leave") is None  # still holding, in Twilio's queue and ours
            said = " ".join(el.text or "" for el in hold.iter("Say"))
            assert "このままお待ちください" in said
            redirect = hold.find("Redirect")
            assert redirect is not None and "f=1" in (redirect.text or "")
            kept = [
                json.loads(line) for line in next(spool.glob("*.jsonl")).read_text().splitlines()
            ]
            assert [(e["path"], e["params"]["CallSid"]) for e in kept] == [
                ("/voice/incoming", late)
            ]
            proxy.flow()

            def recovered() -> str | None:
                calls, _ = asyncio.run(snapshot(database))
                if late not in calls:
                    return "the stalled caller's arrival is not recorded"
                if calls.get(holding, ("",))[0] not in ("waiting", "reserved"):
                    return f"the holding caller is {calls.get(holding)}"
                if not spool_empty(spool):
                    return "the spool is not empty"
                return None

            eventually(recovered, "after the stall", log)
        finally:
            served.close()
