"""Development without a Twilio account: the REST stand-in is the service's own.

The auth token (sent by twilio's client as Basic auth) never leaves the process: the REST
client's base is the service's own origin and its requests are answered in-process, without a
socket. No push reaches it (no Twilio holds the callers), so the hold is the plain short
segment without music; the callbacks it places are what the terminal phone plays.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hotline.app import create_app
from hotline.calls import lifecycle
from hotline.calls.store import Pushed
from hotline.ivr.dev_account import DEV_PATH
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
    assert rest.client.api.base_url == PUBLIC + DEV_PATH  # its own origin, never a fixed port

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
