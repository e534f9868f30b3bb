"""What the conference e2e tests share: Twilio's side of a call's conference played against a
live `hotline serve` (the REST stand-in's conferences, signed conference callbacks), the
counsellor's and the supervisor's hands on the JSON API (keys made with `hotline keys
create`), the config with fictional emergency lines and supervisors, and snapshots of the
parties."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from sqlalchemy import select, text

from hotline.conference.models import CallParty
from hotline.db import make_engine
from hotline.ivr.stand_in import Created
from hotline.testing.servers import hotline_env
from hotline.testing.twilio_api import TwilioApi
from tests.e2e.conftest import CONFIG, ROOT
from tests.e2e.faultkit import DEADLINE, Twilio

LINE, ORG = "inochi-01", "inochi"
# Fictional numbers, like the rest of the tests' files (050-5555-xxxx).
FIRE, POLICE, SUPERVISOR = "+815055550119", "+815055550110", "+815055550201"
HOTLINE_ID = "+815055559999"  # the shipped file's caller_id: every leg we place shows it


def room_config(tmp: Path) -> Path:
    """The shipped menus.yaml with Nagano's command centres' direct lines (fictional), and
    inochi in Nagano with a supervisor: what the conference tests dial."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    checked = dt.date.today() - dt.timedelta(days=15)
    data["directory"]["emergency"] = [
        {
            "prefecture": "長野県",
            "fire": {"number": FIRE, "checked_by": "山田", "checked_on": checked},
            "police": {"number": POLICE, "checked_by": "山田", "checked_on": checked},
        }
    ]
    inochi = next(o for o in data["organisations"] if o["id"] == ORG)
    inochi["prefecture"] = "長野県"
    inochi["supervisors"] = [{"id": "inochi-sv-01", "name": "当番SV 佐藤", "target": SUPERVISOR}]
    path = tmp / "menus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def make_key(database: str, config: Path, role: str, org: str = ORG) -> dict[str, str]:
    """An API key of that role (`hotline keys create`), as Authorization headers."""
    made = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "keys", "create", "--org", org, "--role", role],
        cwd=ROOT,
        env=hotline_env(database, config),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}


async def _run(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def on_database(url: str, *statements: str) -> None:
    asyncio.run(_run(url, *statements))


def only_line_ready(url: str, line: str = LINE) -> None:
    """Every other line signs out; `line` is ready and holds no call (a test's own start)."""
    on_database(
        url,
        f"UPDATE lines SET status = 'offline' WHERE id <> '{line}' AND call_id IS NULL",
        f"UPDATE lines SET status = 'ready', call_id = NULL WHERE id = '{line}'",
    )


async def _parties(url: str, call_id: int) -> list[CallParty]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(CallParty).where(CallParty.call_id == call_id).order_by(CallParty.id)
            return list((await conn.execute(stmt)).all())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def parties(url: str, call_id: int) -> list[Any]:
    """The call's parties' rows (label, kind, status, ...), in the order they were asked."""
    return asyncio.run(_parties(url, call_id))


def row(url: str, query: str) -> Any:
    async def one() -> Any:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(query))).first()
        finally:
            await engine.dispose()

    return asyncio.run(one())


def until(check: Any, what: str, log: Path | None = None) -> Any:
    """Poll `check` (a value when done, None while not) until its deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        got = check()
        if got is not None:
            return got
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    pytest.fail(f"{what}: not within {DEADLINE:.0f}s\n--- server log ---\n{tail}")


@dataclass
class Conf:
    """One caller's call through its conference, as Twilio plays it against a live server."""

    twilio: Twilio
    api: TwilioApi
    caller_sid: str
    call_id: int = 0
    name: str = ""
    sid: str = ""  # the conference's, at the stand-in
    callback: str = ""
    dial_action: str = ""
    leg: Created | None = None
    seq: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def signed(self, url: str, params: dict[str, str]) -> httpx.Response:
        """A request signed as Twilio signs it, with only the parameters given."""
        twilio = self.twilio
        parts = urlsplit(url)
        url = twilio.server.url + parts.path + (f"?{parts.query}" if parts.query else "")
        headers = twilio.signer.headers(url, params)
        return twilio.http.post(url, data=params, headers=headers)

    def event(self, event: str, leg: str = "", label: str = "") -> None:
        """A conference status callback (answered 204 even while the database is away)."""
        self.seq += 1
        params = {
            "AccountSid": self.api.account_sid,
            "ConferenceSid": self.sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(self.seq),
            **({"CallSid": leg} if leg else {}),
            **({"ParticipantLabel": label} if label else {}),
        }
        resp = self.signed(self.callback, params)
        assert resp.status_code == 204, resp.text

    def dial(self) -> None:
        """Menu, 8, held until offered, the queue result: the caller into the conference."""
        twilio, sid = self.twilio, self.caller_sid
        queued = twilio.enqueue(sid)
        twilio.held_until_offered(queued.get("waitUrl", ""), sid)
        self.into_conference(twilio.twiml(queued.get("action", ""), sid, QueueResult="leave"))

    def into_conference(self, doc: ET.Element) -> None:
        conference = doc.find("Dial/Conference")
        assert conference is not None, ET.tostring(doc)
        assert "+819011112222" not in ET.tostring(doc).decode()  # never the caller's number
        self.name = conference.text or ""
        self.call_id = int(self.name.rsplit("-", 1)[1])
        self.callback = conference.get("statusCallback") or ""
        self.dial_action = doc.find("Dial").get("action") or ""  # type: ignore[union-attr]
        with self.api.lock:
            self.api.statuses[self.caller_sid] = "in-progress"
        self.sid = self.api.rooms.conference(self.name)
        self.api.rooms.join(self.sid, self.caller_sid, "caller")
        self.event("participant-join", self.caller_sid, "caller")

    def ringing(self, after: int = 0) -> Created:
        """The counsellor's leg the service placed for this call (after its commit)."""

        def placed() -> Created | None:
            legs = [c for c in self.api.created[after:] if f"call={self.caller_sid}" in c.url]
            return legs[-1] if legs else None

        self.leg = until(placed, "the counsellor's leg placed", self.twilio.server.log)
        return self.leg

    def accept(self) -> None:
        """The counsellor's leg answered, the whisper heard, 1: they join and start it."""
        leg = self.leg or self.ringing()
        assert leg.from_ != "+819011112222" and leg.to != "+819011112222"
        them = {"CallSid": leg.sid, "From": leg.from_, "To": leg.to, "Direction": "outbound-api"}
        gather = ET.fromstring(self.signed(leg.url, them).content).find("Gather")
        assert gather is not None
        resp = self.signed(gather.get("action") or "", {**them, "Digits": "1"})
        assert resp.status_code == 200, resp.text
        assert ET.fromstring(resp.content).find("Dial/Conference") is not None, resp.text
        with self.api.lock:
            self.api.statuses[leg.sid] = "in-progress"
        self.api.rooms.join(self.sid, leg.sid, "counsellor", starts=True)
        self.event("conference-start")
        self.event("participant-join", leg.sid, "counsellor")

    def connect(self) -> Conf:
        self.dial()
        self.ringing()
        self.accept()
        return self

    def participant(self, who: str) -> dict[str, Any] | None:
        """The stand-in's participant (by CallSid or label), None once it left."""
        with self.api.rooms.lock:
            room = self.api.rooms.rooms.get(self.sid)
            if room is None:
                return None
            found = room.legs.get(who) or next(
                (v for v in room.legs.values() if v["label"] == who), None
            )
            return dict(found) if found else None

    def created_party(self, label: str) -> dict[str, str]:
        """The participant the service created (its REST parameters and CallSid)."""
        made = [p for p in self.api.rooms.created if p.get("Label") == label]
        assert made, f"no participant {label} created: {self.api.rooms.created}"
        return made[-1]

    def party_answers(self, label: str) -> str:
        """A created participant's phone answers: it joins (the callback says so)."""
        sid = self.created_party(label)["CallSid"]
        with self.api.lock:
            self.api.statuses[sid] = "in-progress"
        self.api.rooms.join(self.sid, sid, label)
        self.event("participant-join", sid, label)
        return sid

    def party_gone(self, label: str) -> None:
        """A created participant's leg ended: it left, its final status reported."""
        made = self.created_party(label)
        self.leaves(made["CallSid"], label)
        resp = self.signed(
            made["StatusCallback"], {"CallSid": made["CallSid"], "CallStatus": "completed"}
        )
        assert resp.status_code == 204, resp.text

    def leaves(self, leg: str, label: str) -> None:
        with self.api.lock:
            self.api.statuses[leg] = "completed"
        self.api.rooms.leave(self.sid, leg)
        self.event("participant-leave", leg, label)

    def caller_hangs_up(self, *others: tuple[str, str]) -> None:
        """The caller hangs up: they leave, their exit ends the conference (everyone in it
        leaves), the conference ends, the caller's call completes."""
        self.leaves(self.caller_sid, "caller")
        for leg, label in others:
            self.leaves(leg, label)
        with self.api.rooms.lock:
            room = self.api.rooms.rooms[self.sid]
            room.legs.clear()
            room.status = "completed"
        self.event("conference-end")
        self.seq += 1
        done = self.signed(
            "/voice/status",
            {"CallSid": self.caller_sid, "CallStatus": "completed", "SequenceNumber": "99"},
        )
        assert done.status_code == 204, done.text
        if self.leg is not None:
            resp = self.signed(
                self.leg.status_callback or "", {"CallSid": self.leg.sid, "CallStatus": "completed"}
            )
            assert resp.status_code == 204, resp.text


def leg_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
