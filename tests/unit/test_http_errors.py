"""The domain's refusals, as a client of the API sees them: status, headers and JSON body."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from hotline import http_errors
from hotline.common.crypto import KeysUnfit
from hotline.errors import (
    Conflict,
    Forbidden,
    HotlineError,
    Misconfigured,
    NotFound,
    Unauthorized,
    not_allowed,
)
from hotline.lines.lines import NotYourLine, UnknownLine

REFUSALS: dict[str, HotlineError] = {
    "unauthorized": Unauthorized("unknown or revoked API key"),
    "forbidden": Forbidden("this needs the role admin"),
    "not-your-line": NotYourLine(),
    "not-found": NotFound("unknown record"),
    "unknown-line": UnknownLine("inochi-99"),
    "unknown-period": NotFound("unknown period 'p9'", known_periods=["period_5"]),
    "conflict": Conflict("this call already has a record", record_id=7),
    "invalid": not_allowed("gender", ["男性", "女性"]),
    "keys": KeysUnfit(),
    "misconfigured": Misconfigured("check HOTLINE_SOMETHING"),
}


@pytest.fixture
async def client() -> httpx.AsyncClient:
    app = FastAPI()
    http_errors.install(app)

    @app.get("/{name}")
    async def refuse(name: str) -> None:
        raise REFUSALS[name]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("unauthorized", 401, "unknown or revoked API key"),
        ("forbidden", 403, "this needs the role admin"),
        ("not-your-line", 403, "this line belongs to another organisation"),
        ("not-found", 404, "unknown record"),
        ("unknown-line", 404, "unknown line 'inochi-99'"),
        (
            "unknown-period",
            404,
            {"error": "unknown period 'p9'", "known_periods": ["period_5"]},
        ),
        ("conflict", 409, {"message": "this call already has a record", "record_id": 7}),
        ("keys", 500, "stored text cannot be decrypted: check HOTLINE_RECORDS_KEYS"),
        ("misconfigured", 500, "check HOTLINE_SOMETHING"),
    ],
)
async def test_each_refusal_has_its_status_and_body(
    client: httpx.AsyncClient, name: str, status: int, detail: object
) -> None:
    resp = await client.get(f"/{name}")
    assert (resp.status_code, resp.json()) == (status, {"detail": detail})


async def test_an_invalid_value_names_the_field_and_the_allowed_values_as_fastapi_does(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/invalid")
    assert resp.status_code == 422
    [error] = resp.json()["detail"]
    assert error["loc"] == ["body", "gender"] and error["type"] == "value_error"
    assert error["ctx"] == {"allowed": ["男性", "女性"]} and error["msg"].startswith("gender: ")


async def test_only_a_missing_or_unknown_key_asks_for_bearer_credentials(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/unauthorized")).headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in (await client.get("/forbidden")).headers
