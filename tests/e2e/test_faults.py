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
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from hotline.calls.models import Call
from hotline.db import make_engine
from hotline.lines.models import Line
from hotline.testing.proxy import CuttableProxy, cuttable_proxy
from hotline.testing.servers import LiveServer, ServerFailed, hotline_env, hotline_serve
from hotline.testing.twilio_api import TwilioApi, twilio_api
from hotline.testing.twilio_requests import CALLER, Signer, inbound_params
from tests.conftest import new_sid, pg_database
from tests.e2e.conftest import CONFIG, ROOT

pytestmark = pytest.mark.e2e
ACCOUNT, TOKEN = "AC" + "2" * 32, "fault-test-auth-token"
DEADLINE = 45.0  # seconds for the service to recover; a bound, not a measurement


@pytest.fixture
def database() -> Iterator[str]:
    gen = pg_database()  # skips without PostgreSQL, fails under CI
    url = next(gen)
    try:
        yield url
    finally:
        gen.close()


class Twilio:
    """Plays Twilio against the live server: signed webhooks, TwiML parsed."""

    def __init__(self, server: LiveServer) -> None:
        self.server, self.signer = server, Signer(TOKEN)
        self.http = httpx.Client(timeout=20)

    def post(self, url: str, sid: str, **params: str) -> httpx.Response:
        url = url if url.startswith("http") else self.server.url + url
        data = {**inbound_params(sid), **params}
        return self.http.post(url, data=data, headers=self.signer.headers(url, data))

    def twiml(self, url: str, sid: str, **params: str) -> ET.Element:
        resp = self.post(url, sid, **params)
        assert resp.status_code == 200, resp.text
        return ET.fromstring(resp.content)

    def connect(self, sid: str) -> str:
        """A caller choosing 8, put through, accepted: the line they talk on."""
        menu = self.twiml("/voice/incoming", sid).find("Gather")
        assert menu is not None
        queued = self.twiml(menu.get("action", ""), sid, Digits="8").find("Enqueue")
        assert queued is not None
        self.held_until_offered(queued.get("waitUrl", ""), sid)
        dial = self.twiml(queued.get("action", ""), sid, QueueResult="leave").find("Dial")
        assert dial is not None and len(dial)
        whisper_url = dial[0].get("url", "")
        line = parse_qs(urlsplit(whisper_url).query)["line"][0]
        gather = self.twiml(whisper_url, new_sid()).find("Gather")
        assert gather is not None
        self.twiml(gather.get("action", ""), new_sid(), Digits="1")  # the counsellor accepts
        return line

    def held_until_offered(self, wait_url: str, sid: str) -> None:
        """Poll the hold until it says <Leave/> (a line is held for the caller), as Twilio
        polls it. Usually the menu choice's own pass reserves the line; when the ticker's pass
        held the free lines at that moment (FOR UPDATE SKIP LOCKED), the next tick does."""
        deadline, tags = time.monotonic() + DEADLINE, []
        while time.monotonic() < deadline:
            tags = [el.tag for el in self.twiml(wait_url, sid)]
            if tags == ["Leave"]:
                return
            time.sleep(0.2)
        pytest.fail(f"no line offered to the caller: the hold answered {tags}")


def _serve(url: str, log: Path, spool: Path, api: TwilioApi, **env: str) -> Iterator[LiveServer]:
    try:
        with hotline_serve(
            url,
            log,
            cwd=ROOT,
            HOTLINE_CONFIG_PATH=str(CONFIG),
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_ACCOUNT_SID=ACCOUNT,
            HOTLINE_TWILIO_API_BASE=api.base_url,
            HOTLINE_SPOOL_DIR=str(spool),
            HOTLINE_TICK_SECONDS="0.5",
            HOTLINE_RECONCILE_EVERY_SECONDS="1",
            HOTLINE_RECONCILE_AFTER_SECONDS="1",
            **env,
        ) as live:
            yield live
    except ServerFailed as e:
        pytest.fail(str(e))


def _through(proxy: CuttableProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def _snapshot(url: str) -> tuple[dict[str, tuple[str, str | None]], list[int | None]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            calls = (await conn.execute(select(Call.call_sid, Call.state, Call.end_stage))).all()
            held = (await conn.execute(select(Line.call_id))).scalars().all()
    finally:
        await engine.dispose()
    return {sid: (state, stage) for sid, state, stage in calls}, list(held)


def _eventually(check: Callable[[], str | None], what: str, log: Path) -> None:
    deadline, problem = time.monotonic() + DEADLINE, "not checked"
    while time.monotonic() < deadline:
        problem = check()
        if problem is None:
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: {problem}\n--- server log ---\n{log.read_text(errors='replace')[-3000:]}")


def test_an_outage_and_a_killed_process_lose_no_line_and_no_call(
    database: str, tmp_path: Path
) -> None:
    pg = make_url(database)
    spool = tmp_path / "spool"
    with twilio_api(ACCOUNT, TOKEN) as api, cuttable_proxy(pg.host or "", pg.port or 5432) as proxy:
        served = _serve(_through(proxy, database), tmp_path / "first.log", spool, api)
        server = next(served)
        twilio = Twilio(server)
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
        served = _serve(_through(proxy, database), tmp_path / "second.log", spool, api)
        next(served)
        try:

            def recovered() -> str | None:
                calls, held = asyncio.run(_snapshot(database))
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
                # The journals (beside them: their lock, holding the count, and the replay's)
                if spool.exists() and any(p.read_text().strip() for p in spool.glob("*.jsonl")):
                    return "the spool is not empty"
                return None

            _eventually(recovered, "after the outage and the kill", tmp_path / "second.log")
        finally:
            served.close()

    report = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "report", "--period", "none", "--format", "json"],
        cwd=ROOT,
        env=hotline_env(database, HOTLINE_CONFIG_PATH=str(CONFIG)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    figures = json.loads(report.stdout)
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
        served = _serve(_through(proxy, database), log, spool, api, **deadlines)
        server = next(served)
        try:
            twilio = Twilio(server)
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
                calls, _ = asyncio.run(_snapshot(database))
                if late not in calls:
                    return "the stalled caller's arrival is not recorded"
                if calls.get(holding, ("",))[0] not in ("waiting", "reserved"):
                    return f"the holding caller is {calls.get(holding)}"
                if any(p.read_text().strip() for p in spool.glob("*.jsonl")):
                    return "the spool is not empty"
                return None

            _eventually(recovered, "after the stall", log)
        finally:
            served.close()
