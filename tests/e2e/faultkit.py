"""What the fault tests share: Twilio played against a live server (signed webhooks, TwiML
parsed), the server run with Twilio's REST stand-in and a spool, snapshots of the calls and
lines, the report's figures, and polls with a deadline."""

from __future__ import annotations

import asyncio
import json
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
from hotline.testing.proxy import CuttableProxy
from hotline.testing.servers import LiveServer, ServerFailed, hotline_env, hotline_serve
from hotline.testing.twilio_api import Created, TwilioApi
from hotline.testing.twilio_requests import Signer, inbound_params
from tests.conftest import new_sid
from tests.e2e.conftest import CONFIG, ROOT

ACCOUNT, TOKEN = "AC" + "2" * 32, "fault-test-auth-token"
DEADLINE = 45.0  # seconds for the service to recover; a bound, not a measurement


class Twilio:
    """Plays Twilio against the live server: signed webhooks, TwiML parsed.

    A URL the server gave (absolute or not) is posted to the server in `self.server`, which a
    test may replace by a new process on another port, as a load balancer would send it."""

    def __init__(self, server: LiveServer, api: TwilioApi, timeout: float = 20) -> None:
        self.server, self.signer, self.api = server, Signer(TOKEN), api
        self.http = httpx.Client(timeout=timeout)
        self.dial_actions: dict[str, str] = {}  # by caller: where their <Dial> reports its end

    def post(self, url: str, sid: str, **params: str) -> httpx.Response:
        parts = urlsplit(url)
        url = self.server.url + parts.path + (f"?{parts.query}" if parts.query else "")
        data = {**inbound_params(sid), **params}
        return self.http.post(url, data=data, headers=self.signer.headers(url, data))

    def twiml(self, url: str, sid: str, **params: str) -> ET.Element:
        resp = self.post(url, sid, **params)
        assert resp.status_code == 200, resp.text
        return ET.fromstring(resp.content)

    def enqueue(self, sid: str) -> ET.Element:
        """A caller choosing 8: the <Enqueue> that puts them on hold."""
        menu = self.twiml("/voice/incoming", sid).find("Gather")
        assert menu is not None
        queued = self.twiml(menu.get("action", ""), sid, Digits="8").find("Enqueue")
        assert queued is not None
        return queued

    def connect(self, sid: str) -> str:
        """A caller choosing 8, put through, accepted: the line they talk on."""
        queued = self.enqueue(sid)
        self.held_until_offered(queued.get("waitUrl", ""), sid)
        dial = self.twiml(queued.get("action", ""), sid, QueueResult="leave").find("Dial")
        assert dial is not None and len(dial)
        self.dial_actions[sid] = dial.get("action", "")
        if dial[0].tag != "Conference":  # the two-leg bridge: the whisper is on the Dial
            whisper_url, leg = dial[0].get("url", ""), new_sid()
        else:  # the call's conference: the counsellor's leg placed through the stand-in
            room = self.api.rooms.conference(dial[0].text or "")
            self.api.rooms.join(room, sid, "caller")
            placed = self.placed_leg(sid)
            whisper_url, leg = placed.url, placed.sid
            self.api.rooms.join(room, leg, "counsellor", starts=True)
        line = parse_qs(urlsplit(whisper_url).query)["line"][0]
        gather = self.twiml(whisper_url, leg).find("Gather")
        assert gather is not None
        self.twiml(gather.get("action", ""), leg, Digits="1")  # the counsellor accepts
        return line

    def placed_leg(self, sid: str) -> Created:
        """The counsellor's leg the service placed for this caller (after its commit)."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            legs = [c for c in self.api.created if f"call={sid}" in c.url]
            if legs:
                return legs[-1]
            time.sleep(0.1)  # a poll interval, not a wait for anything timed
        pytest.fail("the service placed no counsellor's leg")

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


def serve(
    url: str, log: Path, spool: Path, api: TwilioApi, config: Path = CONFIG, **env: str
) -> Iterator[LiveServer]:
    """`hotline serve` with the REST stand-in, a spool, a fast ticker and reconciliation."""
    try:
        with hotline_serve(
            url,
            log,
            cwd=ROOT,
            HOTLINE_CONFIG_PATH=str(config),
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


def through(proxy: CuttableProxy, url: str) -> str:
    """`url` reached through the proxy."""
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


Calls = dict[str, tuple[str, str | None]]  # by CallSid: (state, end stage)


async def snapshot_lines(url: str) -> tuple[Calls, dict[str, str | None]]:
    """Every call's state and end stage; every held line and the CallSid it is held for."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            calls = (await conn.execute(select(Call.call_sid, Call.state, Call.end_stage))).all()
            held = await conn.execute(
                select(Line.id, Call.call_sid)
                .outerjoin(Call, Call.id == Line.call_id)
                .where(Line.call_id.is_not(None))
            )
            lines = {line: sid for line, sid in held.all()}
    finally:
        await engine.dispose()
    return {sid: (state, stage) for sid, state, stage in calls}, lines


async def snapshot(url: str) -> tuple[Calls, list[str | None]]:
    calls, lines = await snapshot_lines(url)
    return calls, list(lines.values())


def take(url: str) -> tuple[Calls, dict[str, str | None]]:
    return asyncio.run(snapshot_lines(url))


def spool_empty(spool: Path) -> bool:
    """No fact waits in the journals (beside them: their lock, holding the count, and the
    replay's)."""
    return not spool.exists() or not any(p.read_text().strip() for p in spool.glob("*.jsonl"))


def eventually(check: Callable[[], str | None], what: str, log: Path) -> None:
    deadline, problem = time.monotonic() + DEADLINE, "not checked"
    while time.monotonic() < deadline:
        problem = check()
        if problem is None:
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: {problem}\n--- server log ---\n{log.read_text(errors='replace')[-3000:]}")


def report(database: str) -> dict[str, object]:
    """`hotline report --period none --format json`: the figures an operator reads."""
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "report", "--period", "none", "--format", "json"],
        cwd=ROOT,
        env=hotline_env(database, HOTLINE_CONFIG_PATH=str(CONFIG)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    figures: dict[str, object] = json.loads(done.stdout)
    return figures
