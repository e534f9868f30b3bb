"""A local stand-in of the Twilio REST endpoints the service uses, on 127.0.0.1.

The service's own adapter (`hotline.ivr.rest.TwilioRest`, twilio's `Client` underneath) talks
to it through `HOTLINE_TWILIO_API_BASE`, so the production code path is the one tested; no
request ever leaves the machine. It answers what a test says each call's status is, checks
HTTP Basic auth as Twilio does, can play an outage (503), and keeps a log of requests.

Endpoints: `GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CALL = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/([A-Za-z0-9]{1,64})\.json$")


@dataclass
class TwilioApi:
    """What the stand-in knows: call statuses, and whether Twilio is reachable."""

    account_sid: str
    auth_token: str
    statuses: dict[str, str] = field(default_factory=dict)
    down: bool = False
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    def authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"


def _handler(api: TwilioApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            api.requests.append(self.path)
            if api.down:
                self._answer(503, {"code": 20503, "message": "Service Unavailable"})
                return
            if not api.authorised(self.headers.get("Authorization")):
                self._answer(401, {"code": 20003, "message": "Authenticate"})
                return
            match = CALL.match(self.path.split("?", 1)[0])
            if match is None or match.group(1) != api.account_sid:
                self._answer(404, {"code": 20404, "message": "Not found"})
                return
            sid = match.group(2)
            status = api.statuses.get(sid)
            if status is None:
                self._answer(404, {"code": 20404, "message": f"call {sid} not found"})
                return
            self._answer(200, {"sid": sid, "account_sid": api.account_sid, "status": status})

    return Handler


@contextmanager
def twilio_api(account_sid: str, auth_token: str) -> Iterator[TwilioApi]:
    """Serve the stand-in on a free loopback port for the block; `api.base_url` is its URL."""
    api = TwilioApi(account_sid, auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
