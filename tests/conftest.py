"""Shared fixtures: real databases (SQLite file and PostgreSQL), the app, a signing Twilio."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from hotline import config as config_mod
from hotline.app import create_app
from hotline.db import Base, make_engine, upgrade
from hotline.settings import DEV_AUTH_TOKEN, Settings

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("HOTLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PUBLIC = "https://hotline.example.jp"  # as behind a TLS proxy: not the URL the app sees
NUMBER_9999 = "+815055559999"
NUMBER_0120 = "+81120494949"
CALLER = "+819011112222"


@pytest.fixture(scope="session")
def cfg() -> config_mod.HotlineConfig:
    return config_mod.load(ROOT / "config" / "menus.yaml")


def _pg_reachable() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError):
        return False
    return True


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def pg_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database migrated to head; drop it afterwards."""
    if not _pg_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}; CI must run these tests")
        pytest.skip("PostgreSQL is not reachable (set HOTLINE_TEST_PG)")
    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(
            _admin(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                f'DROP DATABASE IF EXISTS "{name}"',
            )
        )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    yield from pg_database()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'hotline.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    yield url
    asyncio.run(_truncate(url))


async def _truncate(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(text(f"DELETE FROM {table.name}"))
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
    # Inside 第5期 (2023-12-22 to 2024-01-10, Asia/Tokyo).
    return Clock(dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC))


def make_settings(db_url: str, **kw: object) -> Settings:
    kw.setdefault("tick_seconds", 0)  # tests run passes through events, not a clock
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

    def __init__(self, client: httpx.AsyncClient, token: str = DEV_AUTH_TOKEN) -> None:
        self.client, self.validator = client, RequestValidator(token)

    async def post(self, path_or_url: str, **params: str) -> httpx.Response:
        url = path_or_url if path_or_url.startswith("http") else PUBLIC + path_or_url
        sig = self.validator.compute_signature(url, params)
        local = url.replace(PUBLIC, "")
        return await self.client.post(local, data=params, headers={"X-Twilio-Signature": sig})

    async def call(self, path: str, sid: str, **params: str) -> ET.Element:
        params = {"CallSid": sid, "From": CALLER, "To": NUMBER_9999, **params}
        resp = await self.post(path, **params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/xml")
        return ET.fromstring(resp.content)


@pytest.fixture
def twilio(client: httpx.AsyncClient) -> Twilio:
    return Twilio(client)


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def says(doc: ET.Element) -> list[str]:
    return [el.text or "" for el in doc.iter("Say")]


@pytest.fixture
def sid() -> Iterator[str]:
    yield new_sid()


async def talking_on(app, line_id: str | None = None, org: str = "inochi") -> str:  # type: ignore[no-untyped-def]
    """A caller in conversation on `line_id` (every line when None); returns their CallSid."""
    from sqlalchemy import update

    from hotline.calls.models import Call
    from hotline.routing.models import Line

    sid, now = new_sid(), app.state.clock()
    async with app.state.sessions.begin() as s:
        busy = Call(
            call_sid=sid,
            entry="9999",
            period_id="none",
            menu_id="period-5",
            option_id="loneliness",
            state="connected",
            priority=0,
            status_seq=-1,
            created_at=now,
            waiting_since=now,
            connected_at=now,
            line_id=line_id,
            org_id=org,
        )
        s.add(busy)
        await s.flush()
        lines = update(Line) if line_id is None else update(Line).where(Line.id == line_id)
        await s.execute(lines.values(call_id=busy.id))
    return sid


async def occupy_all_lines(app) -> None:  # type: ignore[no-untyped-def]
    """Every line staffed but talking to someone else: new callers must hold."""
    await talking_on(app)


@pytest.fixture
async def busy(app) -> None:  # type: ignore[no-untyped-def]
    await occupy_all_lines(app)
