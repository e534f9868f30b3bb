"""Shared fixtures: real databases (SQLite file and PostgreSQL), the app, a signing Twilio.

The databases, signing and call rows come from `hotline.testing`, which the benchmarks use too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hotline import config as config_mod
from hotline.app import create_app
from hotline.db import Base, make_engine
from hotline.settings import Settings
from hotline.testing.databases import (
    PG_ADMIN,
    PostgresUnavailable,
    fresh_postgres,
    fresh_sqlite,
    postgres_reachable,
)
from hotline.testing.rows import connected_row, new_sid
from hotline.testing.secrets import TEST_TOKEN, settings_secrets
from hotline.testing.twilio_requests import CALLER, NUMBER_0120, NUMBER_9999, Signer

__all__ = ["CALLER", "NUMBER_0120", "NUMBER_9999", "PG_ADMIN", "new_sid"]

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://hotline.example.jp"  # as behind a TLS proxy: not the URL the app sees


@pytest.fixture(scope="session", autouse=True)
def _secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Settings built without secrets generate them here, never in the checkout's var/."""
    before = os.environ.get("HOTLINE_SECRETS_FILE")
    os.environ["HOTLINE_SECRETS_FILE"] = str(tmp_path_factory.mktemp("var") / "secrets")
    yield
    if before is None:
        os.environ.pop("HOTLINE_SECRETS_FILE", None)
    else:
        os.environ["HOTLINE_SECRETS_FILE"] = before


@pytest.fixture(scope="session")
def cfg() -> config_mod.HotlineConfig:
    return config_mod.load(ROOT / "config" / "menus.yaml")


def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head; dropped afterwards. Skips without
    PostgreSQL on a developer's machine, fails under CI."""
    if not postgres_reachable():
        _no_postgres(f"PostgreSQL is not reachable at {PG_ADMIN}")
    try:
        with fresh_postgres() as url:
            yield url
    except PostgresUnavailable as e:
        _no_postgres(str(e))


def _no_postgres(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run these tests")
    pytest.skip(f"{reason} (set HOTLINE_TEST_PG)")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    yield from pg_database()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_sqlite(tmp_path_factory.mktemp("db") / "hotline.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    yield url
    asyncio.run(_truncate(url))


async def _truncate(url: str) -> None:
    """Empty every table, the append-only audit log too (as its owner may, triggers aside)."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            triggers = []
        else:  # SQLite cannot disable a trigger: drop, then create it again
            found = await conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            )
            triggers = list(found)
            for name, _ in triggers:
                await conn.execute(text(f'DROP TRIGGER "{name}"'))
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(text(f"DELETE FROM {table.name}"))
        for _, sql in triggers:
            await conn.exec_driver_sql(sql)
    await engine.dispose()


class Clock:
    """The app's clock, moved by tests instead of sleeping."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    # Inside 第5期 (2023-12-15 09:00 to 2024-01-04 09:00, Asia/Tokyo).
    return Clock(dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC))


def make_settings(db_url: str, **kw: object) -> Settings:
    kw.setdefault("tick_seconds", 0)  # tests run passes through events, not a clock
    for name, value in settings_secrets().items():
        kw.setdefault(name, value)
    return Settings(env="test", database_url=db_url, public_url=PUBLIC, **kw)


@pytest.fixture
async def app(db_url: str, cfg: config_mod.HotlineConfig, clock: Clock):  # type: ignore[no-untyped-def]
    application = create_app(make_settings(db_url), cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Twilio:
    """Posts webhooks signed as Twilio signs them, over the public URL."""

    def __init__(self, client: httpx.AsyncClient, token: str = TEST_TOKEN) -> None:
        self.client, self.signer = client, Signer(token)

    async def post(self, path_or_url: str, **params: str) -> httpx.Response:
        url = path_or_url if path_or_url.startswith("http") else PUBLIC + path_or_url
        local = url.replace(PUBLIC, "")
        return await self.client.post(local, data=params, headers=self.signer.headers(url, params))

    async def call(self, path: str, sid: str, **params: str) -> ET.Element:
        params = {"CallSid": sid, "From": CALLER, "To": NUMBER_9999, **params}
        resp = await self.post(path, **params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/xml")
        return ET.fromstring(resp.content)


@pytest.fixture
def twilio(client: httpx.AsyncClient) -> Twilio:
    return Twilio(client)


def says(doc: ET.Element) -> list[str]:
    return [el.text or "" for el in doc.iter("Say")]


@pytest.fixture
def sid() -> Iterator[str]:
    yield new_sid()


async def talking_on(app, line_id: str | None = None, org: str = "inochi") -> str:  # type: ignore[no-untyped-def]
    """A caller in conversation on `line_id` (every line when None); returns their CallSid."""
    from sqlalchemy import update

    from hotline.calls.models import Call
    from hotline.lines.models import Line

    now = app.state.clock()
    async with app.state.sessions.begin() as s:
        busy = Call(**connected_row(now, line_id=line_id, org_id=org))
        s.add(busy)
        await s.flush()
        lines = update(Line) if line_id is None else update(Line).where(Line.id == line_id)
        await s.execute(lines.values(call_id=busy.id))
    return busy.call_sid


async def occupy_all_lines(app) -> None:  # type: ignore[no-untyped-def]
    """Every line staffed but talking to someone else: new callers must hold."""
    await talking_on(app)


@pytest.fixture
async def busy(app) -> None:  # type: ignore[no-untyped-def]
    await occupy_all_lines(app)
