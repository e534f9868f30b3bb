"""Bounded fuzzing, run by the test command: schemathesis over the whole API as /openapi.json
describes it, and random Twilio parameters, signed, posted to every voice webhook.

Each runs a fixed number of examples (no deadline, no example database) in this process
against the ASGI app on a SQLite database of its own, in an event loop of its own (Hypothesis
drives synchronous tests).
"""

from __future__ import annotations

import asyncio
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hotline.app import create_app
from hotline.auth import store
from hotline.auth.models import Role
from hotline.testing.databases import fresh_sqlite
from hotline.testing.twilio_requests import CALLER, NUMBER_9999, Signer
from tests.conftest import PUBLIC, Clock, make_settings, pg_database

# HOTLINE_FUZZ_EXAMPLES raises the bound for a long run by hand (the test command keeps it).
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "60"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Running:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    spec: dict
    keys: dict[str, str]

    def send(self, sent: dict[str, Any]) -> httpx.Response:
        """Send schemathesis' request arguments (requests' names) through httpx."""
        sent = dict(sent)
        cookies = sent.pop("cookies", None) or {}
        if cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            sent["headers"] = {**(sent.get("headers") or {}), "cookie": cookie}
        if "data" in sent and isinstance(sent["data"], (bytes, str)):
            sent["content"] = sent.pop("data")
        sent.pop("allow_redirects", None)
        sent.pop("files", None) if not sent.get("files") else None
        return self.loop.run_until_complete(self.client.request(**sent))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def running(request, tmp_path_factory, cfg) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    if request.param == "postgresql":
        for url in pg_database():
            yield from _running(url, cfg)
    else:
        yield from _running(fresh_sqlite(tmp_path_factory.mktemp("fuzz") / "hotline.db"), cfg)


def _running(url: str, cfg) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    import datetime as dt

    app = create_app(
        make_settings(url), cfg, clock=Clock(dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC))
    )
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    keys = loop.run_until_complete(_keys(app))
    try:
        yield Running(loop, client, app.openapi(), keys)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


async def _keys(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    keys = {}
    async with app.state.sessions.begin() as s:
        for org, role in (
            ("sisc", Role.ADMIN),
            ("inochi", Role.COUNSELLOR),
            ("sisc", Role.COORDINATOR),
            ("sisc", Role.OPERATOR),
        ):
            _, keys[role.value] = await store.create(
                s, org_id=org, role=role, name="fuzz", now=app.state.clock()
            )
    return keys


def _operations() -> list:  # type: ignore[type-arg]
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"))  # only for its schema
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()
WHO = st.sampled_from(["nobody", *(role.value for role in Role)])


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_api_answer_matches_the_schema_and_none_is_a_5xx(running, operation) -> None:
    @BOUNDED
    @given(case=operation.as_strategy(), who=WHO)
    def one(case, who: str) -> None:  # type: ignore[no-untyped-def]
        headers = {} if who == "nobody" else {"Authorization": f"Bearer {running.keys[who]}"}
        sent = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        resp = running.send(sent)
        case.validate_response(resp, checks=CHECKS)

    one()


# --- voice webhooks: random parameters, signed as Twilio signs --------------------------

VOICE = sorted(
    p for p, ops in OPERATIONS[0].schema.raw_schema["paths"].items() if p.startswith("/voice/")
)
TWILIO_NAMES = [
    "CallSid", "From", "To", "Caller", "Called", "Digits", "CallStatus", "QueueResult",
    "QueueTime", "DialCallStatus", "DialCallDuration", "SequenceNumber", "CallDuration",
    "ErrorCode", "Direction", "AccountSid", "ParentCallSid", "SpeechResult",
]  # fmt: skip
QUERY_NAMES = ["m", "t", "o", "l", "n", "line", "call", "step", "i"]
TEXT = st.text(max_size=40)
SIDS = st.one_of(st.just("CA" + "0" * 32), st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True), TEXT)
VALUES = st.one_of(TEXT, st.sampled_from(["1", "8", "*", "#", "leave", "hangup", "completed",
    "busy", "no-answer", "failed", "in-progress", "-1", "99999999999999999999", CALLER,
    NUMBER_9999, "anonymous"]))  # fmt: skip
PARAMS = st.fixed_dictionaries(
    {"CallSid": SIDS},
    optional={name: VALUES for name in TWILIO_NAMES if name != "CallSid"},
).flatmap(
    lambda fixed: st.dictionaries(TEXT, TEXT, max_size=3).map(lambda extra: {**extra, **fixed})
)
QUERY = st.dictionaries(st.sampled_from(QUERY_NAMES), VALUES, max_size=4)
DOCUMENTED = {400, 413}  # malformed body or CallSid, too large; 403 needs a bad signature


@pytest.mark.parametrize("path", VOICE)
def test_every_voice_webhook_answers_twiml_to_any_signed_parameters(running, path) -> None:
    signer = Signer()

    @BOUNDED
    @given(params=PARAMS, query=QUERY)
    def one(params: dict[str, str], query: dict[str, str]) -> None:
        url = f"{path}?{urlencode(query)}" if query else path
        headers = signer.headers(PUBLIC + url, params)
        resp = running.send({"method": "POST", "url": url, "data": params, "headers": headers})
        if resp.status_code in DOCUMENTED:
            return
        if path in ("/voice/status", "/voice/callback/status") and resp.status_code == 204:
            return  # a status callback: Twilio reads no answer, so none is sent
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        assert resp.headers["content-type"].startswith("application/xml")
        assert ET.fromstring(resp.content).tag == "Response"

    one()
