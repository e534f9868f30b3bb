"""Development without a Twilio account: the REST stand-in is the service's own.

The auth token (sent by twilio's client as Basic auth) never leaves the process: the REST
client's base is the service's own origin and its requests are answered in-process, without a
socket. No push reaches it (no Twilio holds the callers), so the hold is the plain short
segment without music; the callbacks it places are what the terminal phone plays.
"""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from hotline.app import create_app
from hotline.calls import lifecycle
from hotline.calls.store import Pushed
from hotline.ivr.dev_account import DEV_PATH
from hotline.phone import client as client_module
from hotline.phone.client import Phone, Script
from hotline.settings import DEV_ACCOUNT_SID, Settings

PUBLIC = "http://127.0.0.1:8123"


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every socket connection attempted (none is made: each raises)."""
    tried: list[object] = []

    def connect(self: socket.socket, address: object) -> None:
        tried.append(address)
        raise ConnectionRefusedError("no connection in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return tried


def dev_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("TWILIO_ACCOUNT_SID", "HOTLINE_TWILIO_API_BASE", "HOTLINE_ENV"):
        monkeypatch.delenv(name, raising=False)
    return Settings(env="development", public_url=PUBLIC, secrets_file=tmp_path / "secrets")


def test_the_rest_client_is_the_services_own_and_sends_nothing_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    app = create_app(dev_settings(tmp_path, monkeypatch))
    rest = app.services.rest
    assert rest is not None and rest.stand_in is not None and not rest.pushes
    assert rest.base_url == PUBLIC + DEV_PATH  # its own origin, never a fixed port

    async def place() -> str:
        created = await rest.create_call(
            to="+81312345678", from_="+815055559999", url=PUBLIC + "/x", status_callback=PUBLIC
        )
        await rest.aclose()
        return created.sid

    sid = asyncio.run(place())
    assert [c.sid for c in rest.stand_in.created] == [sid]  # answered in this process
    assert connects == []  # not a single connection: the token went nowhere


def test_without_a_rest_account_the_hold_is_the_plain_segment_and_nothing_is_pushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    settings = dev_settings(tmp_path, monkeypatch)
    services = create_app(settings).services
    assert services.renderer.hold_seconds == settings.hold_segment_seconds  # 5 s, not 30
    rest, pushes = services.rest, services.pushes
    assert rest is not None and rest.stand_in is not None and pushes is not None

    async def reserve() -> None:
        pushes([Pushed(1, "CA" + "1" * 32, lifecycle.Dequeue())])
        pushes([Pushed(1, "CA" + "1" * 32, lifecycle.DropQueue())])
        await pushes.drain()

    asyncio.run(reserve())
    assert rest.stand_in.requests == [] and connects == []  # no dequeue, no queue dropped
    assert rest.stand_in.account_sid == DEV_ACCOUNT_SID


def test_the_stand_in_is_served_to_the_phone_behind_the_development_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dev_settings(tmp_path, monkeypatch)
    app = create_app(settings)
    calls = f"{DEV_PATH}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Calls.json"

    async def ask() -> tuple[int, int, list[object]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            stranger = await client.get(calls)
            wrong = await client.get(calls, auth=(DEV_ACCOUNT_SID, "not-the-token"))
            listed = await client.get(calls, auth=(DEV_ACCOUNT_SID, settings.auth_token))
        return stranger.status_code, wrong.status_code, listed.json()["calls"]

    assert asyncio.run(ask()) == (401, 401, [])
    # Not in a service with an account of its own, nor in tests or production.
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    own = create_app(Settings(env="development", secrets_file=tmp_path / "secrets"))
    assert not [r for r in own.routes if getattr(r, "path", "").startswith(DEV_PATH)]


def test_the_terminal_phone_plays_hold_music_for_its_length_at_its_speed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hold segment with music: the phone waits the music's length times --speed before
    its next poll, as a caller would hear the track (not zero seconds)."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(client_module.asyncio, "sleep", sleep)
    segment = ET.fromstring(
        "<Response><Say>お待ちください</Say><Play>https://example.invalid/m.mp3</Play>"
        "<Pause length='5'/></Response>"
    )

    async def hold() -> None:
        async with httpx.AsyncClient() as http:
            script = Script(speed=0.5, music_seconds=120)
            phone = Phone(
                http,
                base_url=PUBLIC,
                public_url=PUBLIC,
                token="t" * 32,
                caller="+819012345678",
                to="9999",
                script=script,
                out=lambda line: None,
            )
            await phone._hold(segment)

    asyncio.run(hold())
    assert waited == [60.0, 2.5]  # the track (120 s) and the pause (5 s), at half speed
