"""A real PostgreSQL outage, as a restart or a failover brings it: the database refuses new
connections (`ALLOW_CONNECTIONS false`, SQLSTATE 55000) and the service's backends are
terminated (57P01). A conversation's end reported meanwhile is kept in the spool and, once the
database is back, replayed: the call ends and its line is free."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url, select

from hotline.app import create_app
from hotline.calls.models import Call
from hotline.ivr.upkeep import replay_spool
from hotline.lines.models import Line
from hotline.services import services_of
from hotline.testing.databases import PG_ADMIN
from tests.conftest import Clock, Twilio, _truncate, make_settings, talking_on


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    yield pg_url
    asyncio.run(_truncate(pg_url))  # the session's database, emptied for the next test


@pytest.fixture
async def app(database: str, cfg, clock: Clock, tmp_path: Path) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    application = create_app(make_settings(database, spool_dir=tmp_path), cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def refusing_connections(url: str) -> AsyncIterator[list[int]]:
    """The database refuses new connections and its backends are terminated, as when the
    server shuts down or fails over; allowed again on leaving. Yields the backends ended."""
    name = make_url(url).database
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            rows = await admin.fetch(
                "SELECT pid, pg_terminate_backend(pid, 10000) AS gone FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            yield [row["pid"] for row in rows if row["gone"]]
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def _line(app) -> str:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(Line.id).order_by(Line.id).limit(1))).scalar_one()


async def _ended(app, sid: str, line_id: str) -> tuple[str, int | None]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        call = (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()
        line = await s.get(Line, line_id)
        assert line is not None
        return call.state, line.call_id


async def test_an_end_reported_while_the_database_refuses_connections_is_kept_and_replayed(
    app, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    line_id = await _line(app)
    talking = await talking_on(app, line_id)  # a conversation holds the line
    services = services_of(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        twilio = Twilio(client)
        async with refusing_connections(app.state.settings.database_url) as ended:
            assert ended, "no backend was terminated: the test proved nothing"
            clock.advance(600)
            answer = await twilio.post(
                "/voice/status", CallSid=talking, CallStatus="completed", SequenceNumber="4"
            )
            assert answer.status_code == 204  # a status callback controls nothing
            assert services.spool.backlog() == 1  # kept, not lost
            assert app.state.webhook_errors == 1
        state, held = await _ended(app, talking, line_id)
        assert state == "connected" and held is not None  # nothing applied meanwhile

        assert await replay_spool(services) == 1
    state, held = await _ended(app, talking, line_id)
    assert (state, held) == ("completed", None)  # the call ended, its line free
    assert services.spool.backlog() == 0
