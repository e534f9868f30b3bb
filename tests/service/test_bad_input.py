"""Bad input never reaches the database raw (docs/faults.md, "Bad input"): a NUL or an
unpaired surrogate is a 422 on the API and the console and absent on the voice webhooks,
every number is bounded, and every error answer, a 500 too, carries the security headers.

Each case here is one the fuzzing found (tests/service/test_fuzz.py), on both databases:
PostgreSQL refuses a NUL in text, and neither driver encodes a lone surrogate.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from hotline.auth.models import Role
from hotline.security_headers import ALWAYS
from tests.conftest import Twilio, says
from tests.service.test_cases import open_case
from tests.service.test_console import csrf_of, login, make_user
from tests.service.test_records import FORM, make_key, taken_call

NUL = "a\x00b"
SURROGATE = "a\ud800b"


def raw_json(body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments posting `body` as JSON, escapes kept (`"\\ud800"` as a client may
    send it: httpx's own encoder refuses a lone surrogate)."""
    return {
        "content": json.dumps(body).encode("ascii"),
        "headers": {"content-type": "application/json"},
    }


def refused(resp: httpx.Response) -> None:
    assert resp.status_code == 422, (resp.status_code, resp.text[:300])
    assert "\x00" not in resp.text and "\\u0000" not in resp.text  # never echoed
    for name, value in ALWAYS.items():
        assert resp.headers[name] == value


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_unstorable_text_in_a_body_is_a_422(client, app, bad: str) -> None:
    counsellor = await make_key(app, "inochi")
    sid = await taken_call(app)
    for field, value in (("summary", bad), ("age_group", bad), ("categories", [bad])):
        body = {**FORM, "call_sid": sid, field: value}
        refused(await client.post("/api/records", **_with(raw_json(body), counsellor)))
    body = {**FORM, "call_sid": bad}
    refused(await client.post("/api/records", **_with(raw_json(body), counsellor)))

    admin = await make_key(app, "sisc", Role.ADMIN)
    refused(
        await client.post(
            "/api/lines/inochi-01/status", **_with(raw_json({"status": bad}), counsellor)
        )
    )
    refused(
        await client.post(
            "/api/options/loneliness/close", **_with(raw_json({"reason": bad}), admin)
        )
    )


async def test_unstorable_text_in_a_case_is_a_422(client, app) -> None:
    record = await open_case(client, app)
    coordinator = await make_key(app, "sisc", Role.COORDINATOR)
    url = f"/api/cases/{record['case_id']}"
    for bad in (NUL, SURROGATE):
        for field in ("notes", "destination_name", "status", "destination_type"):
            refused(await client.patch(url, **_with(raw_json({field: bad}), coordinator)))
        action = {"kind": "連絡", "on_date": "2023-12-25", "note": bad}
        refused(await client.post(f"{url}/actions", **_with(raw_json(action), coordinator)))


@pytest.mark.parametrize(
    ("role", "url"),
    [
        (Role.COUNSELLOR, "/api/calls/CA%00/history"),
        (Role.ADMIN, "/api/lines/inochi%00/status"),
        (Role.ADMIN, "/api/options/x%00/close"),
        (Role.ADMIN, "/api/options/x%00/reopen"),
        (Role.OPERATOR, "/api/reports/periods/p%00"),
        (Role.OPERATOR, "/api/reports/periods/p%00/chart.png"),
        (Role.OPERATOR, "/api/records/export?period=p%00"),
        (Role.ADMIN, "/api/audit?entity_id=x%00"),
        (Role.ADMIN, "/api/audit?entity=x%00"),
        (Role.COORDINATOR, "/api/cases?org=x%00"),
        (Role.COORDINATOR, "/api/cases?status=x%00"),
        (Role.COORDINATOR, "/api/cases?period=x%00"),
        (Role.COORDINATOR, "/api/cases?destination_type=x%00"),
    ],
)
async def test_a_nul_in_a_path_or_a_query_is_a_422(client, app, role: Role, url: str) -> None:
    headers = await make_key(app, "inochi" if role == Role.COUNSELLOR else "sisc", role)
    method = "POST" if url.endswith(("close", "reopen", "status")) else "GET"
    body = {"status": "ready"} if url.endswith("status") else None
    refused(await client.request(method, url, headers=headers, json=body))


@pytest.mark.parametrize("offset", [2**31, 2**63, 2**64, 10**30])
async def test_a_case_list_offset_past_the_bound_is_a_422(client, app, offset: int) -> None:
    coordinator = await make_key(app, "sisc", Role.COORDINATOR)
    refused(await client.get(f"/api/cases?offset={offset}", headers=coordinator))
    assert (await client.get("/api/cases?offset=2147483647", headers=coordinator)).json() == []


async def test_the_console_refuses_unstorable_form_fields_and_huge_numbers(client, app) -> None:
    await make_user(app, "coord", "sisc", Role.COORDINATOR)
    page = await client.get("/console/login")
    resp = await client.post(
        "/console/login", data={"csrf": csrf_of(page.text), "name": NUL, "password": "x"}
    )
    refused(resp)
    assert (await login(client, "coord")).status_code == 303
    refused(await client.get("/console/cases?older_than_days=99999999999"))
    assert (await client.get("/console/cases?older_than_days=3650")).status_code == 200
    await make_user(app, "ops", "sisc", Role.OPERATOR)
    assert (await login(client, "ops")).status_code == 303
    refused(await client.get("/console/reports/p%00"))
    page = await client.get("/console/dashboard")
    resp = await client.post(
        "/console/options/loneliness/close", data={"csrf": csrf_of(page.text), "reason": NUL}
    )
    refused(resp)


async def test_a_nul_on_a_voice_webhook_is_an_absent_value(client, sid: str) -> None:
    twilio = Twilio(client)
    first = await twilio.call("/voice/incoming", sid)
    menu = first.find(".//Gather").get("action").replace("https://hotline.example.jp", "")
    # A key with a NUL is no key: the menu is said again, as after silence.
    again = await twilio.call(menu, sid, Digits="8\x00")
    silent = await twilio.call(menu, sid)
    assert "Enqueue" not in [el.tag for el in again.iter()]
    assert [el.tag for el in again.iter()] == [el.tag for el in silent.iter()]
    # A query parameter with a NUL reads as its default.
    path, _, query = menu.partition("?")
    assert says(await twilio.call(f"{path}?{query.replace('t=', 't=%00')}", sid))
    # A CallSid with a NUL is no CallSid: a 400, as a malformed one.
    resp = await twilio.post("/voice/incoming", CallSid="CA\x00" + "0" * 30)
    assert resp.status_code == 400


@pytest.mark.parametrize("value", ["²", "١", "1\x00"])
async def test_a_voice_number_in_other_digits_reads_as_its_default(
    client, sid: str, value: str
) -> None:
    """ "²".isdigit() is true and int("²") fails: that was the fallback, not the menu."""
    twilio = Twilio(client)
    await twilio.call("/voice/incoming", sid)
    url = "/voice/menu?" + urlencode({"m": "period-5", "t": value})
    doc = await twilio.call(url, sid, SequenceNumber=value)
    assert doc.find(".//Gather") is not None


async def test_every_error_answer_carries_the_security_headers(app) -> None:
    """A 500 from an unhandled exception is answered by Starlette's outermost middleware:
    the headers must be added outside it."""

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("an unhandled bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        answers = [
            await c.get("/boom"),
            await c.get("/api/records/1"),  # 401
            await c.get("/no/such/page"),  # 404
            await c.get("/api/cases?offset=-1"),  # 401 before 422
            await c.post("/voice/incoming"),  # 403
        ]
    assert [r.status_code for r in answers] == [500, 401, 404, 401, 403]
    for resp in answers:
        for name, value in ALWAYS.items():
            assert resp.headers.get(name) == value, (resp.status_code, name)
        assert resp.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


def _with(kwargs: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return {**kwargs, "headers": {**kwargs["headers"], **headers}}


@pytest.mark.parametrize(
    "field", ["support", "gender", "summary", "age_group", "categories", "linkage_needed"]
)
async def test_a_null_where_the_schema_allows_it_is_never_a_500(client, app, field: str) -> None:
    counsellor = await make_key(app, "inochi")
    sid = await taken_call(app)
    created = await client.post("/api/records", json={**FORM, "call_sid": sid}, headers=counsellor)
    url = f"/api/records/{created.json()['id']}"
    resp = await client.patch(url, json={field: None}, headers=counsellor)
    assert resp.status_code in (200, 422), resp.text
    assert (await client.get(url, headers=counsellor)).status_code == 200


VOICE_NAMES = [
    "From", "To", "Caller", "Called", "Digits", "CallStatus", "QueueResult", "QueueTime",
    "DialCallStatus", "DialCallSid", "DialCallDuration", "SequenceNumber", "CallDuration",
    "ErrorCode", "Direction", "ParentCallSid",
]  # fmt: skip
VOICE_QUERY = ["m", "t", "o", "l", "n", "line", "call", "step", "i", "leg", "x", "push"]


@pytest.mark.parametrize(
    "path",
    [
        "/voice/incoming", "/voice/menu", "/voice/wait", "/voice/queue-result",
        "/voice/whisper", "/voice/whisper-accept", "/voice/dial-result", "/voice/status",
        "/voice/hold-key", "/voice/callback/caller", "/voice/callback/hold",
        "/voice/callback/held", "/voice/callback/joined", "/voice/callback/status",
    ],
)  # fmt: skip
async def test_a_nul_in_every_twilio_parameter_never_fails_into_the_fallback(
    client, app, sid: str, path: str
) -> None:
    """Every parameter and query parameter with a NUL, on a call that exists: read as absent,
    so no statement ever sees one (on PostgreSQL one did: the fallback answered)."""
    twilio = Twilio(client)
    await twilio.call("/voice/incoming", sid)
    params = {name: "1\x00" for name in VOICE_NAMES}
    query = urlencode({name: "1\x00" for name in VOICE_QUERY})
    failed = app.services.webhook_errors
    resp = await twilio.post(f"{path}?{query}", CallSid=sid, **params)
    assert resp.status_code in (200, 204), resp.text
    assert app.services.webhook_errors == failed
