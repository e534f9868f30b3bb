"""Hardening: the audit log cannot be emptied, database errors carry no parameters, every
answer has its protective headers, production hides the docs and guards /metrics."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError

from hotline.app import create_app
from hotline.common.audit import AuditEntry
from hotline.db import make_engine
from hotline.settings import Settings
from hotline.testing.secrets import settings_secrets
from tests.service.test_records import make_key, taken_call, write

METRICS_TOKEN = "a-metrics-scrape-token-of-forty-characters"


async def test_the_audit_log_refuses_delete_and_truncate(client, app, db_url) -> None:
    await write(client, await make_key(app, "inochi"), await taken_call(app))
    with pytest.raises(DBAPIError, match="append-only"):
        async with app.state.sessions.begin() as s:
            await s.execute(delete(AuditEntry))
    if db_url.startswith("postgresql"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.sessions.begin() as s:
                await s.execute(text("TRUNCATE audit_log"))
    async with app.state.sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM audit_log"))).scalar_one() > 0


async def test_a_database_error_does_not_carry_its_parameters(db_url) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.execute(
                    text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "XJ-secret-9090"}
                )
        assert "XJ-secret-9090" not in str(failed.value)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("path", ["/console/login", "/api/audit", "/healthz", "/metrics"])
async def test_answers_are_not_cached_framed_or_sniffed(client, path: str) -> None:
    resp = await client.get(path)
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def production_settings(db_url: str) -> Settings:
    secrets = settings_secrets()
    return Settings(
        env="production",
        database_url=db_url,
        public_url="https://hotline.example.jp",
        metrics_token=METRICS_TOKEN,
        twilio_account_sid="",
        allow_no_rest=True,  # no Twilio here
        allow_sqlite=True,  # run on both databases
        forwarded_allow_ips="127.0.0.1",
        tick_seconds=0,
        **secrets,
    )


async def test_production_hides_the_docs_and_guards_metrics(db_url, cfg, clock) -> None:
    app = create_app(production_settings(db_url), cfg, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await c.get(path)).status_code == 404, path
            assert (await c.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert (await c.get("/metrics", headers=wrong)).status_code == 401
            right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            resp = await c.get("/metrics", headers=right)
            assert resp.status_code == 200 and "hotline_" in resp.text
