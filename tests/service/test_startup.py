"""Start-up and readiness: no serving on an unmigrated schema; callers served in an outage."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from hotline.app import create_app, create_served_app
from hotline.config import HotlineConfig
from hotline.db import SchemaNotAtHead
from tests.conftest import (
    PG_ADMIN,
    PUBLIC,
    Clock,
    Twilio,
    make_settings,
    new_sid,
    pg_database,
    says,
)


async def test_the_service_refuses_to_start_on_an_empty_database(tmp_path: Path, cfg) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"), cfg)
    with pytest.raises(SchemaNotAtHead, match="hotline migrate"):
        async with app.router.lifespan_context(app):
            pytest.fail("the service started on a database that was never migrated")


async def test_a_migrated_database_is_ready(client: httpx.AsyncClient) -> None:
    resp = await client.get("/readyz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ready"})


# --- PostgreSQL stops accepting connections ------------------------------------


@asynccontextmanager
async def connections_refused(url: str) -> AsyncIterator[None]:
    """The database refuses new connections and its open ones are cut, as in an outage."""
    name = url.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        # With a timeout, pg_terminate_backend returns once the sessions are gone: no race.
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            f"WHERE datname = '{name}'"
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


@pytest.fixture
def own_pg_url() -> Iterator[str]:
    yield from pg_database()


@pytest.fixture
async def outage_client(own_pg_url: str, cfg: HotlineConfig) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service that started on PostgreSQL, which then went away."""
    clock = Clock(dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC))
    app = create_app(make_settings(own_pg_url), cfg, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/readyz")).status_code == 200
            async with connections_refused(own_pg_url):
                yield c


def sisc_lines(cfg: HotlineConfig) -> list[str]:
    return [line.target for line in cfg.org(cfg.backup_org).lines]


async def test_readiness_fails_when_the_database_refuses_connections(outage_client) -> None:
    resp = await outage_client.get("/readyz")
    assert resp.status_code == 503 and resp.json()["status"] == "not ready"


async def test_a_caller_in_an_outage_hears_an_apology_and_reaches_the_backup(
    outage_client, cfg
) -> None:
    doc = await Twilio(outage_client).call("/voice/incoming", new_sid())
    assert "申し訳ありません" in says(doc)[0]
    dial = doc.find("Dial")
    assert dial is not None and [el.text for el in dial] == sisc_lines(cfg)[:1]


async def test_twilios_fallback_url_works_without_the_database(outage_client, cfg) -> None:
    twilio, sid = Twilio(outage_client), new_sid()
    menu = await twilio.call("/voice/fallback", sid, ErrorCode="11200")
    gather = menu.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{PUBLIC}/voice/fallback?step=chosen"
    doc = await twilio.call(gather.get("action", ""), sid, Digits="8")
    dial = doc.find("Dial")
    assert dial is not None and [el.text for el in dial] == sisc_lines(cfg)[:1]


# --- the served process's garbage collector ------------------------------------


async def test_the_served_app_freezes_what_start_up_made_and_a_test_app_does_not(
    sqlite_url: str, cfg: HotlineConfig
) -> None:
    """`hotline serve` settles the collector once started (full collections then walk only
    what requests made); an app built by tests keeps everything collectable."""
    assert gc.get_freeze_count() == 0
    plain = create_app(make_settings(sqlite_url), cfg)
    async with plain.router.lifespan_context(plain):
        assert gc.get_freeze_count() == 0
    served = create_served_app(make_settings(sqlite_url), cfg)
    try:
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
