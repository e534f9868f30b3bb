"""Console sessions live on the server: logout and an admin end them; logins are limited per
client and never hold the database while a password is checked."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys

import asyncpg
import httpx
import pytest

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.testing.databases import plain_url
from hotline.testing.twilio_requests import Signer
from tests.conftest import CALLER, NUMBER_9999, PUBLIC, ROOT, Clock, Twilio, new_sid
from tests.service.test_console import PASSWORD, csrf_of, login, make_user

COOKIE = "hotline_console"


@pytest.fixture
async def tanaka(app) -> None:  # type: ignore[no-untyped-def]
    await make_user(app, "tanaka", "inochi", Role.COUNSELLOR)


async def with_cookie(client: httpx.AsyncClient, cookie: str, path: str) -> httpx.Response:
    """A request carrying only this cookie, as a copy of it elsewhere would."""
    client.cookies.clear()
    return await client.get(path, headers={"cookie": f"{COOKIE}={cookie}"})


def users_command(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "users", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


@pytest.mark.usefixtures("tanaka")
async def test_after_logout_a_copied_cookie_is_worth_nothing(client) -> None:
    assert (await login(client, "tanaka")).status_code == 303
    copied = client.cookies[COOKIE]
    page = await client.get("/console/lines")
    assert page.status_code == 200
    out = await client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    resp = await with_cookie(client, copied, "/console/lines")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/console/login")


@pytest.mark.usefixtures("tanaka")
async def test_an_admin_disables_an_account_ends_its_sessions_and_enables_it(
    client, db_url
) -> None:
    assert (await login(client, "tanaka")).status_code == 303
    cookie = client.cookies[COOKIE]
    done = users_command(db_url, "disable", "tanaka")
    assert done.returncode == 0 and "disabled" in done.stdout, done.stderr
    assert (await with_cookie(client, cookie, "/console/lines")).status_code == 303
    assert (await login(client, "tanaka")).status_code == 200  # refused: the form again
    done = users_command(db_url, "enable", "tanaka")
    assert done.returncode == 0 and "enabled" in done.stdout, done.stderr
    assert (await login(client, "tanaka")).status_code == 303
    assert users_command(db_url, "disable", "nobody").returncode == 2


@pytest.mark.usefixtures("tanaka")
async def test_an_admin_signs_an_account_out_everywhere(client, app, db_url) -> None:
    browsers = []
    for _ in range(2):  # two browsers, say the office and a lost laptop
        assert (await login(client, "tanaka")).status_code == 303
        browsers.append(client.cookies[COOKIE])
        client.cookies.clear()
    done = users_command(db_url, "sign-out", "tanaka")
    assert done.returncode == 0 and "signed out" in done.stdout, done.stderr
    for cookie in browsers:
        assert (await with_cookie(client, cookie, "/console/lines")).status_code == 303
    assert (await login(client, "tanaka")).status_code == 303  # not disabled


@pytest.mark.usefixtures("tanaka")
async def test_an_admin_unlocks_a_locked_account(client, app, db_url) -> None:
    for _ in range(app.state.settings.login_attempts):
        await login(client, "tanaka", "not the password")
    assert (await login(client, "tanaka")).status_code == 200  # locked
    done = users_command(db_url, "unlock", "tanaka")
    assert done.returncode == 0 and "unlocked" in done.stdout, done.stderr
    assert (await login(client, "tanaka")).status_code == 303


@pytest.mark.usefixtures("tanaka")
async def test_logins_are_limited_per_client(client, app, clock: Clock) -> None:
    for n in range(app.state.settings.login_rate_per_minute):
        assert (await login(client, f"guess{n}", "wrong")).status_code == 200
    refused = await login(client, "tanaka")  # even the right password, from this client
    assert refused.status_code == 429 and "多すぎます" in refused.text
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.7", 40000)),
        base_url="http://testserver",
    )
    async with other:
        assert (await login(other, "tanaka")).status_code == 303  # another client is not
    clock.advance(60)
    assert (await login(client, "tanaka")).status_code == 303


async def _pg_open_transactions(url: str) -> int:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


def _database_free(url: str) -> bool:
    """No transaction is open on the database (SQLite: its write lock can be taken now)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1], timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            conn.close()
    return asyncio.run(_pg_open_transactions(url)) == 0


@pytest.mark.usefixtures("tanaka")
async def test_the_password_is_checked_with_no_transaction_open(
    client, db_url, monkeypatch
) -> None:
    seen: list[bool] = []
    check = accounts._verify_now

    def watched(hashed: str, password: str) -> bool:
        seen.append(_database_free(db_url))  # runs while argon2 would
        return check(hashed, password)

    monkeypatch.setattr(accounts, "_verify_now", watched)
    assert (await login(client, "tanaka", "not the password")).status_code == 200
    assert (await login(client, "nobody", PASSWORD)).status_code == 200
    assert (await login(client, "tanaka")).status_code == 303
    assert seen == [True, True, True]


async def test_voice_webhooks_answer_while_the_console_pool_is_exhausted(app, client) -> None:
    engine = app.state.console_engine
    held = [await engine.connect() for _ in range(app.state.settings.console_pool_size)]
    try:
        doc = await Twilio(client).call("/voice/incoming", new_sid())
        assert doc.find("Gather") is not None  # the menu, not the fallback apology
    finally:
        for conn in held:
            await conn.close()


@pytest.mark.usefixtures("tanaka")
async def test_a_webhook_carrying_the_console_cookie_gets_no_cookie_back(client) -> None:
    """The console's sessions are not run on the voice webhooks (`ConsoleSessions`): one
    sent there changes nothing, no cookie comes back, and the counsellor's session goes on."""
    assert (await login(client, "tanaka")).status_code == 303
    cookie = client.cookies[COOKIE]
    client.cookies.clear()
    url, params = "/voice/incoming", {"CallSid": new_sid(), "From": CALLER, "To": NUMBER_9999}
    headers = {**Signer().headers(PUBLIC + url, params), "cookie": f"{COOKIE}={cookie}"}
    resp = await client.post(url, data=params, headers=headers)
    assert resp.status_code == 200 and "set-cookie" not in resp.headers
    assert (await with_cookie(client, cookie, "/console/lines")).status_code == 200
