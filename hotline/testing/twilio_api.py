"""The stand-in of Twilio's REST API (`hotline.ivr.stand_in`) served on a loopback port by a
thread, for the tests and the benchmarks: they point the service at it with
`HOTLINE_TWILIO_API_BASE`, so the production code path is the one tested and no request ever
leaves the machine. (A development service holds its own, in its process:
`hotline.ivr.dev_account`; the terminal phone runs none.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hotline.ivr.stand_in import Answer, Created, TwilioApi, answer

__all__ = ["Created", "TwilioApi", "twilio_api"]


def _handler(api: TwilioApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _answer(self, answered: Answer) -> None:
            status, body = answered
            data = b"" if status == 204 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _run(self, body: str = "") -> None:
            auth = self.headers.get("Authorization")
            # The host the client meant (its region and edge), sent in Host by the
            # service's transport (hotline.ivr.rest.StandInHttpClient).
            host = self.headers.get("Host") or ""
            self._answer(answer(api, self.command, self.path, body, auth, host))

        def do_GET(self) -> None:
            self._run()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._run(self.rfile.read(length).decode())

        def do_DELETE(self) -> None:
            self._run()

    return Handler


@contextmanager
def twilio_api(account_sid: str, auth_token: str, port: int = 0) -> Iterator[TwilioApi]:
    """Serve the stand-in on a loopback port (0: a free one) for the block; `api.base_url`
    is its URL."""
    api = TwilioApi(account_sid, auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(api))
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
