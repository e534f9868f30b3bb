"""The service's log through a whole call, as an operator reads it: one access line per
request, and never the caller's number, a token or a secret (text and JSON formats)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotline.testing.secrets import secrets_env
from tests.conftest import pg_database
from tests.e2e.conftest import Caller, LiveServer, serve

pytestmark = pytest.mark.e2e

CALLER = "+819087654321"
# The number in every shape it could be printed: E.164, without +, national, subscriber part.
SHAPES = (CALLER, CALLER[1:], "0" + CALLER[3:], CALLER[3:], "90-8765-4321", "8765-4321")
METRICS_TOKEN = secrets.token_urlsafe(32)
ACCESS = re.compile(r"^INFO hotline\.access: (GET|POST|HEAD) (/\S*|\(no route\)) \d{3} \d+ ms$")


@pytest.fixture(params=["sqlite", "postgresql"])
def logged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own, so its log holds only this test's requests."""
    env = {"HOTLINE_METRICS_TOKEN": METRICS_TOKEN, "HOTLINE_LOG_FORMAT": "text"}
    if request.param == "sqlite":
        yield from serve(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", tmp_path / "log", **env)
        return
    database = pg_database()
    try:
        yield from serve(next(database), tmp_path / "log", **env)
    finally:
        database.close()


def whole_call(server: LiveServer, hotline_call: Caller) -> str:
    """A caller from CALLER presses 8, holds, is put through, talks and hangs up; an
    operator's Prometheus reads /metrics; a stranger tries paths with the number in them."""
    t = hotline_call(server, "8", extra=["--from", CALLER, "--talk", "1"])
    assert t.returncode == 0, str(t)
    assert "[summary] 1 call(s), 1 connected to a counsellor" in t.lines, str(t)
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(f"{server.url}/metrics", headers=headers).status_code == 200
    assert httpx.get(f"{server.url}/calls/{CALLER}?token={METRICS_TOKEN}").status_code == 404
    assert httpx.get(f"{server.url}/console/static/console.css").status_code == 200
    # A route with the number where an identifier goes (refused: no credentials).
    assert httpx.get(f"{server.url}/api/calls/{CALLER}/history").status_code == 401
    # A request's line is written once it is answered: the log, when the last one's is in.
    assert httpx.get(f"{server.url}/healthz?last=1").status_code == 200
    deadline = time.monotonic() + 10
    while "GET /healthz 200" not in (log := server.log.read_text()):
        assert time.monotonic() < deadline, f"no access line for the last request:\n{log}"
        time.sleep(0.05)
    return log


def assert_nothing_sensitive(log: str) -> None:
    for shape in SHAPES:
        assert shape not in log, f"the caller's number ({shape}) is in the log:\n{log}"
    for name, value in {**secrets_env(), "HOTLINE_METRICS_TOKEN": METRICS_TOKEN}.items():
        for part in value.split(","):  # the records keys are a list
            assert part not in log, f"{name} is in the log:\n{log}"


def test_a_whole_call_logs_requests_but_no_number_or_secret(
    logged: LiveServer, hotline_call: Caller
) -> None:
    log = whole_call(logged, hotline_call)
    assert_nothing_sensitive(log)
    access = [x for x in log.splitlines() if "hotline.access" in x]
    # Every line of the access log has its shape: method, route template, status, time.
    assert access and all(ACCESS.match(x) for x in access), "\n".join(access)
    assert any(x.startswith("INFO hotline.access: POST /voice/incoming 200 ") for x in access)
    # The menu's query (?m=&t=) is not in it, nor the wait's; the unknown path is not quoted.
    assert any(" POST /voice/menu 200 " in x for x in access), log
    assert any(" GET (no route) 404 " in x for x in access), log
    assert any(" GET /api/calls/{call_sid}/history 401 " in x for x in access), log
    assert any(" GET /console/static/… 200 " in x for x in access), log
    # The twilio library's request dumps are off.
    assert "BEGIN Twilio API Request" not in log


def test_json_log_is_one_object_per_line(tmp_path: Path, hotline_call: Caller) -> None:
    env = {"HOTLINE_METRICS_TOKEN": METRICS_TOKEN, "HOTLINE_LOG_FORMAT": "json"}
    server = serve(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", tmp_path / "log", **env)
    try:
        log = whole_call(next(server), hotline_call)
    finally:
        server.close()
    assert_nothing_sensitive(log)
    lines = [json.loads(x) for x in log.splitlines() if x.strip()]  # every line parses
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    access = [x for x in lines if x["logger"] == "hotline.access"]
    incoming = [x for x in access if x["path"] == "/voice/incoming"]
    assert incoming and incoming[0]["method"] == "POST" and incoming[0]["status"] == 200
    assert isinstance(incoming[0]["ms"], int)
    # uvicorn's own lines come in the same format.
    assert any(x["logger"].startswith("uvicorn") for x in lines)
