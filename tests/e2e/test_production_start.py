"""`hotline serve` in production: every unsafe default named in one message, a schema not at
head in one line, and X-Forwarded-For believed only from the proxies it is told of."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from hotline.db import downgrade
from hotline.testing.servers import hotline_env, hotline_serve
from tests.conftest import pg_database

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "menus.yaml"
TIMEOUT = 60  # seconds for a refusal: no server is started, nothing is measured


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    env = hotline_env(database_url, SHIPPED, HOTLINE_ENV="production")
    for name in ("TWILIO_AUTH_TOKEN", "HOTLINE_CALLER_HASH_SECRET", "HOTLINE_SESSION_SECRET"):
        env.pop(name, None)
    env.pop("HOTLINE_RECORDS_KEYS", None)
    env.update(extra)
    return env


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "serve", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def test_production_names_every_unsafe_default_in_one_message(tmp_path: Path) -> None:
    done = serve(production_env(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"))
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in out
    assert out.count("production refuses to start") == 1
    for name in (
        "TWILIO_AUTH_TOKEN",
        "HOTLINE_CALLER_HASH_SECRET",
        "HOTLINE_RECORDS_KEYS",
        "HOTLINE_SESSION_SECRET",
        "HOTLINE_METRICS_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "HOTLINE_PUBLIC_URL",
        "HOTLINE_DATABASE_URL",
        "HOTLINE_FORWARDED_ALLOW_IPS",
        "staffing.by_schedule",
    ):
        assert name in out, f"{name} not named in:\n{out}"
    assert not (tmp_path / "hotline.db").exists()  # refused before anything was made


def ready_production(database_url: str, config: Path) -> dict[str, str]:
    """Everything production asks for, with a config whose desks wait for sign-in."""
    return production_env(
        database_url,
        HOTLINE_CONFIG_PATH=str(config),
        TWILIO_AUTH_TOKEN="a-real-looking-twilio-auth-token",
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        HOTLINE_CALLER_HASH_SECRET="a-real-looking-caller-hash-secret",
        HOTLINE_RECORDS_KEYS=Fernet.generate_key().decode(),
        HOTLINE_SESSION_SECRET="a-real-session-secret-of-forty-characters",
        HOTLINE_METRICS_TOKEN="a-real-metrics-scrape-token-of-40-characters",
        HOTLINE_PUBLIC_URL="https://hotline.example.jp",
        HOTLINE_FORWARDED_ALLOW_IPS="10.0.0.5",
    )


def signed_in_config(tmp_path: Path) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    fixed = re.sub(r"^  by_schedule: true", "  by_schedule: false", text, count=1, flags=re.M)
    assert fixed != text
    path = tmp_path / "menus.yaml"
    path.write_text(fixed, encoding="utf-8")
    return path


def test_production_on_a_schema_not_at_head_says_so_in_one_line(tmp_path: Path) -> None:
    for url in pg_database():
        downgrade(url, "-1")
        done = serve(ready_production(url, signed_in_config(tmp_path)))
        out = (done.stdout + done.stderr).strip()
        assert done.returncode != 0
        assert "Traceback" not in out
        assert len(out.splitlines()) == 1, out
        assert "hotline migrate" in out and "HOTLINE_DATABASE_URL" in out


# --- the client address behind a proxy ------------------------------------------


def wrong_logins(url: str, forwarded_for: list[str]) -> list[int]:
    """A wrong password posted once per address named in X-Forwarded-For; the statuses."""
    statuses = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for address in forwarded_for:
            page = client.get("/console/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            resp = client.post(
                "/console/login",
                data={"csrf": csrf.group(1), "name": "nobody", "password": "wrong"},
                headers={"X-Forwarded-For": address},
            )
            statuses.append(resp.status_code)
    return statuses


LIMIT = 3
# The limiter counts in fixed one-minute windows of the real clock here: a burst of twice the
# limit plus one has the limit plus one inside one window even when a minute turns during it.
BURST = 2 * (LIMIT + 1)
ADDRESSES = [f"203.0.113.{n}" for n in range(1, BURST + 1)]


@pytest.mark.parametrize("trusted", [False, True], ids=["no-proxy-set", "proxy-127.0.0.1"])
def test_forwarded_for_is_believed_only_from_a_trusted_proxy(tmp_path: Path, trusted: bool) -> None:
    env = {"HOTLINE_LOGIN_RATE_PER_MINUTE": str(LIMIT), "HOTLINE_CONFIG_PATH": str(SHIPPED)}
    if trusted:
        env["HOTLINE_FORWARDED_ALLOW_IPS"] = "127.0.0.1"
    db = tmp_path / "hotline.db"
    url = f"sqlite+aiosqlite:///{db}"
    with hotline_serve(url, tmp_path / "serve.log", cwd=ROOT, **env) as live:
        varied = wrong_logins(live.url, ADDRESSES)
        if not trusted:
            # A header anyone can write changes nothing: the limit counts the connection.
            assert 429 in varied and 429 not in varied[:LIMIT]
        else:
            # Each client behind the proxy has a limit of its own; one client is still held.
            assert 429 not in varied
            same = wrong_logins(live.url, [ADDRESSES[0]] * BURST)
            assert 429 in same
        audited_export(live.url, url, env)
    with sqlite3.connect(db) as conn:
        (client,) = conn.execute("SELECT client FROM audit_log").fetchone()
    assert client == ("203.0.113.77" if trusted else "127.0.0.1")


def audited_export(url: str, database_url: str, env: dict[str, str]) -> None:
    """An operator's export (audited) from 203.0.113.77, as the proxy says."""
    made = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "keys", "create", "--org", "inochi",
         "--role", "operator"],
        cwd=ROOT, env=hotline_env(database_url, None, **env), capture_output=True, text=True,
        timeout=TIMEOUT, check=True,
    )  # fmt: skip
    key = made.stdout.strip().splitlines()[-1]
    resp = httpx.get(
        f"{url}/api/records/export",
        params={"period": "period_1"},
        headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.77"},
        timeout=10,
    )
    assert resp.status_code == 200
