"""scripts/twilio_smoke.py against a stand-in of Twilio's REST API on 127.0.0.1 (no network)."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("twilio_smoke", ROOT / "scripts" / "twilio_smoke.py")
assert SPEC and SPEC.loader
smoke = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(smoke)

ACCOUNT = "AC" + "0" * 32
CALLER, HOTLINE, LINE = "+819011112222", "+815055559999", "sip:line01@inochi.example.invalid"


def _call(sid: str, to: str, from_: str, status: str = "completed") -> dict:
    return {"sid": sid, "to": to, "from": from_, "status": status, "duration": "42"}


class StandIn(BaseHTTPRequestHandler):
    """Just enough of /2010-04-01 for the script: create, fetch and list calls, recordings."""

    created: list[dict] = []
    shown = HOTLINE  # the caller ID the forwarded leg carries

    def _send(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        StandIn.created.append(form)
        self._send(_call("CAtest", form["To"], form["From"], "queued"), 201)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.endswith("/Calls/CAtest.json"):
            return self._send(_call("CAtest", HOTLINE, CALLER))
        if url.path.endswith("/Recordings.json"):
            return self._send({"recordings": [], "next_page_uri": None})
        if "ParentCallSid" in query:
            legs = [_call("CAleg", LINE, StandIn.shown)]
            return self._send({"calls": legs, "next_page_uri": None})
        return self._send({"calls": [_call("CAin", HOTLINE, CALLER)], "next_page_uri": None})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandIn.created, StandIn.shown = [], HOTLINE
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def env(base: str) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": "stand-in-token",
        "HOTLINE_SMOKE_FROM": CALLER,
        "HOTLINE_SMOKE_TO": HOTLINE,
        "TWILIO_API_BASE_URL": base,
    }


def test_the_smoke_script_refuses_to_run_without_credentials() -> None:
    lines: list[str] = []
    assert smoke.run({"HOTLINE_SMOKE_TO": HOTLINE}, lines.append) == 2
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, HOTLINE_SMOKE_FROM" in lines[0]


def test_the_smoke_script_places_a_call_and_reports_each_forwarded_leg(stand_in) -> None:
    lines: list[str] = []
    assert smoke.run(env(stand_in), lines.append, poll_seconds=0) == 0
    (created,) = StandIn.created
    assert (created["To"], created["From"], created["Record"]) == (HOTLINE, CALLER, "true")
    assert '<Play digits="8"' in created["Twiml"]
    assert f"[forwarded] to {LINE}: completed, 42 s, caller ID {HOTLINE}" in lines
    assert lines[-1].startswith("[summary] ok")


def test_the_smoke_script_flags_a_leg_showing_the_callers_number(stand_in) -> None:
    StandIn.shown = CALLER
    lines: list[str] = []
    assert smoke.run(env(stand_in), lines.append, poll_seconds=0) == 1
    assert any(
        x.startswith("[problem] a forwarded leg showed the caller's own number") for x in lines
    )
