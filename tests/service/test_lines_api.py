"""Line status API and API keys: counsellors staff their own organisation's lines."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from hotline.auth import store as keys
from hotline.auth.models import ApiKey, Role
from hotline.calls.models import Call
from hotline.lines.models import Line
from tests.conftest import ROOT, Twilio, new_sid, talking_on


async def make_key(app, org: str, role: Role = Role.COUNSELLOR) -> str:  # type: ignore[no-untyped-def]
    async with app.state.sessions.begin() as s:
        _, key = await keys.create(s, org_id=org, role=role, name="test", now=app.state.clock())
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_counsellor_marks_their_line_on_break_and_back(client, app) -> None:
    key = await make_key(app, "inochi")
    resp = await client.post(
        "/api/lines/inochi-01/status", json={"status": "break"}, headers=bearer(key)
    )
    assert resp.status_code == 200
    line = resp.json()
    assert {k: line[k] for k in ("id", "org_id", "presence", "reason", "busy", "scheduled")} == {
        "id": "inochi-01",
        "org_id": "inochi",
        "presence": "away",
        "reason": "break",
        "busy": False,
        "scheduled": True,
    }
    back = await client.post(
        "/api/lines/inochi-01/status", json={"status": "ready"}, headers=bearer(key)
    )
    assert (back.json()["presence"], back.json()["reason"]) == ("ready", None)
    mine = await client.get("/api/lines", headers=bearer(key))
    assert {line["id"] for line in mine.json()} == {"inochi-01", "inochi-02"}


async def test_a_line_made_available_is_offered_to_a_waiting_caller_at_once(
    client, app, twilio: Twilio
) -> None:
    key = await make_key(app, "inochi")
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline"))
        await s.execute(update(Line).where(Line.id == "inochi-01").values(status="ready"))
    await talking_on(app, "inochi-01")
    sid = new_sid()
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    resp = await client.post(
        "/api/lines/inochi-02/status", json={"status": "available"}, headers=bearer(key)
    )
    assert resp.json()["busy"] is True
    async with app.state.sessions() as s:
        call = (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()
    assert (call.state, call.line_id) == ("reserved", "inochi-02")


async def test_bad_requests_get_clear_errors(client, app) -> None:
    key = await make_key(app, "inochi")
    url = "/api/lines/inochi-01/status"
    assert (await client.post(url, json={"status": "off"})).status_code == 401
    assert (
        await client.post(url, json={"status": "off"}, headers=bearer("hk_nonsense"))
    ).status_code == 401
    other = await make_key(app, "jaico")
    resp = await client.post(url, json={"status": "off"}, headers=bearer(other))
    assert resp.status_code == 403 and "another organisation" in resp.text
    resp = await client.post(
        "/api/lines/nope-01/status", json={"status": "off"}, headers=bearer(key)
    )
    assert resp.status_code == 404
    resp = await client.post(url, json={"status": "asleep"}, headers=bearer(key))
    assert resp.status_code == 422 and "available" in resp.text
    operator = await make_key(app, "inochi", Role.OPERATOR)
    assert (
        await client.post(url, json={"status": "off"}, headers=bearer(operator))
    ).status_code == 403


async def test_a_revoked_key_is_refused(client, app) -> None:
    key = await make_key(app, "inochi")
    async with app.state.sessions.begin() as s:
        row = (await s.execute(select(ApiKey))).scalars().first()
        await keys.revoke(s, row.id, dt.datetime.now(dt.UTC))
    resp = await client.get("/api/lines", headers=bearer(key))
    assert resp.status_code == 401


async def test_keys_are_stored_hashed(app) -> None:  # type: ignore[no-untyped-def]
    key = await make_key(app, "inochi")
    async with app.state.sessions() as s:
        rows = (await s.execute(select(ApiKey))).scalars().all()
    assert key not in repr([(r.key_hash, r.prefix, r.name) for r in rows])
    assert rows[0].key_hash == keys.digest(key)


def test_keys_cli_prints_the_key_alone_on_its_last_line(tmp_path) -> None:
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"}
    run = [sys.executable, "-m", "hotline.cli", "keys"]
    out = subprocess.run(
        [*run, "create", "--org", "inochi", "--role", "counsellor"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("hk_") and len(key) > 40
    listed = subprocess.run(
        [*run, "list"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "inochi" in listed and key not in listed
    subprocess.run([*run, "revoke", "1"], env=env, cwd=ROOT, check=True, capture_output=True)
    assert (
        "revoked"
        in subprocess.run(
            [*run, "list"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    bad = subprocess.run(
        [*run, "create", "--org", "nobody", "--role", "counsellor"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown organisation" in bad.stderr


@pytest.fixture(autouse=True)
def _no_pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_PUBLIC_URL", raising=False)
