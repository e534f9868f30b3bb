"""Environment settings: production refuses public secrets; callers are kept as keyed hashes."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from hotline.calls.store import caller_hash
from hotline.settings import DEV_ACCOUNT_SID, Settings, SettingsError

REFUSED = (SettingsError, ValidationError)
TOKEN = "a-real-looking-twilio-auth-token"
SECRET = "a-real-looking-caller-hash-secret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in list(os.environ):
        if name.startswith("HOTLINE_") or name in {"TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "secrets"))  # not the checkout's


KEY = Fernet.generate_key().decode()
PRODUCTION = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "HOTLINE_CALLER_HASH_SECRET": SECRET,
    "HOTLINE_RECORDS_KEYS": KEY,
    "HOTLINE_SESSION_SECRET": "a-real-session-secret-of-forty-characters",
    "HOTLINE_METRICS_TOKEN": "a-real-metrics-scrape-token-of-40-characters",
    "HOTLINE_PUBLIC_URL": "https://hotline.example.jp",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "HOTLINE_DATABASE_URL": "postgresql+asyncpg://hotline@db.example.jp/hotline",
    "HOTLINE_FORWARDED_ALLOW_IPS": "10.0.0.5",
}


def production(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> Settings:
    for name, value in {**PRODUCTION, **changes}.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    return Settings(env="production")


def test_production_starts_with_every_secret_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "secrets"))
    settings = production(monkeypatch)
    assert settings.auth_token == TOKEN
    assert settings.caller_secret == SECRET.encode()
    assert not (tmp_path / "secrets").exists()  # production never writes or reads the file


@pytest.mark.parametrize("name", list(PRODUCTION))
def test_production_without_any_one_secret_refuses_to_start(monkeypatch, name: str) -> None:
    with pytest.raises(REFUSED, match=name):
        production(monkeypatch, **{name: None})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOTLINE_SESSION_SECRET", "short"),
        ("HOTLINE_METRICS_TOKEN", "short"),
        ("HOTLINE_PUBLIC_URL", "http://plain.example.jp"),
    ],
)
def test_production_refuses_a_weak_secret_or_a_plain_public_url(
    monkeypatch, name: str, value: str
) -> None:
    with pytest.raises(REFUSED, match=name):
        production(monkeypatch, **{name: value})


def test_production_names_everything_missing_at_once(monkeypatch) -> None:
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_SESSION_SECRET", "short")
    with pytest.raises(REFUSED) as refused:
        Settings(env="production", database_url="sqlite+aiosqlite:///x.db")
    message = str(refused.value)
    for name in [*PRODUCTION, "HOTLINE_SESSION_SECRET"]:
        assert name in message
    assert message.count("production refuses to start") == 1


def test_production_without_rest_or_on_sqlite_only_when_allowed(monkeypatch) -> None:
    sqlite = "sqlite+aiosqlite:///var/hotline.db"
    allowed = production(
        monkeypatch,
        TWILIO_ACCOUNT_SID=None,
        HOTLINE_DATABASE_URL=sqlite,
        HOTLINE_ALLOW_NO_REST="true",
        HOTLINE_ALLOW_SQLITE="true",
    )
    assert (allowed.twilio_account_sid, allowed.database_url) == ("", sqlite)


@pytest.mark.parametrize("value", ["10.0.0.5,nginx", "10.0.0.256"])
def test_a_forwarded_address_that_is_not_one_is_refused(monkeypatch, value: str) -> None:
    with pytest.raises(REFUSED, match="HOTLINE_FORWARDED_ALLOW_IPS"):
        production(monkeypatch, HOTLINE_FORWARDED_ALLOW_IPS=value)
    assert production(monkeypatch, HOTLINE_FORWARDED_ALLOW_IPS="10.0.0.0/8, ::1").env


def test_a_refused_setting_never_shows_a_secret(monkeypatch, capsys) -> None:
    from hotline.startup import settings_and_config

    secret = "tail-of-a-real-twilio-token-9f8e7d"
    monkeypatch.setenv("HOTLINE_ENV", "production")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", secret)
    for refused in ({"HOTLINE_SESSION_SECRET": "short"}, {"HOTLINE_HOLD_SEGMENT_SECONDS": "x"}):
        for name, value in {**PRODUCTION, "TWILIO_AUTH_TOKEN": secret, **refused}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as exited:
            settings_and_config()
        message = str(exited.value.code)
        assert "HOTLINE_" in message or "hold_segment_seconds" in message
        assert "input_value" not in message  # pydantic shows a cut of every input otherwise
        for part in (secret, secret[-8:], PRODUCTION["HOTLINE_CALLER_HASH_SECRET"][-8:], KEY[-8:]):
            assert part not in message


@pytest.mark.parametrize("keys", ["not-a-key", f"{Fernet.generate_key().decode()},short"])
def test_a_malformed_records_key_refuses_to_start_without_echoing_it(monkeypatch, keys) -> None:
    with pytest.raises(REFUSED, match="HOTLINE_RECORDS_KEYS") as refused:
        Settings(env="test", records_keys=keys)
    assert "short" not in str(refused.value) and "not-a-key" not in str(refused.value)


def test_development_generates_private_secrets_once_and_keeps_them(tmp_path, caplog) -> None:
    path = tmp_path / "var" / "secrets"
    first = Settings(secrets_file=path)
    assert first.env == "development"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated" in caplog.text and str(path) in caplog.text
    caplog.clear()
    again = Settings(secrets_file=path)  # the next start, and `hotline call`, read the same
    assert "generated" not in caplog.text
    assert (again.auth_token, again.caller_secret) == (first.auth_token, first.caller_secret)
    assert (again.session_secret, again.records_keys) == (first.session_secret, first.records_keys)
    assert len(first.auth_token) >= 32 and len(first.session_secret) >= 32
    Fernet(first.record_keys[0].encode())
    other = Settings(secrets_file=tmp_path / "elsewhere")
    assert other.auth_token != first.auth_token  # random, not a default of the source


def test_development_calls_back_through_its_own_stand_in_production_never(
    monkeypatch, tmp_path
) -> None:
    dev = Settings(secrets_file=tmp_path / "secrets")
    assert dev.twilio_account_sid == DEV_ACCOUNT_SID
    # No address anyone may take: the stand-in is the service's own (hotline.ivr.dev_account).
    assert dev.twilio_api_base is None and dev.dev_stand_in
    monkeypatch.setenv("HOTLINE_TWILIO_API_BASE", "http://127.0.0.1:9")  # one the tests run
    assert not Settings(secrets_file=tmp_path / "secrets").dev_stand_in
    monkeypatch.delenv("HOTLINE_TWILIO_API_BASE")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    own = Settings(secrets_file=tmp_path / "secrets")
    assert (own.twilio_account_sid, own.twilio_api_base) == ("AC" + "1" * 32, None)
    assert not own.dev_stand_in
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    assert Settings(env="test", secrets_file=tmp_path / "s").twilio_account_sid == ""
    prod = production(monkeypatch, TWILIO_ACCOUNT_SID=None, HOTLINE_ALLOW_NO_REST="true")
    assert (prod.twilio_account_sid, prod.twilio_api_base) == ("", None)  # no callback offered
    with pytest.raises(REFUSED, match="TWILIO_ACCOUNT_SID"):
        production(monkeypatch, TWILIO_ACCOUNT_SID=DEV_ACCOUNT_SID)


def test_a_secret_in_the_environment_wins_over_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    assert Settings(secrets_file=tmp_path / "secrets").auth_token == TOKEN


def test_a_secrets_file_readable_by_others_is_refused(tmp_path) -> None:
    path = tmp_path / "secrets"
    Settings(secrets_file=path)
    path.chmod(0o644)
    with pytest.raises(REFUSED, match="chmod 600"):
        Settings(secrets_file=path)


def test_the_same_number_always_gets_the_same_hash() -> None:
    assert caller_hash(b"s", "+819011112222") == caller_hash(b"s", " +819011112222 ")


def test_another_secret_gives_another_hash() -> None:
    assert caller_hash(b"one", "+819011112222") != caller_hash(b"two", "+819011112222")


@pytest.mark.parametrize("number", ["anonymous", "Anonymous", "", None])
def test_a_withheld_number_has_no_hash(number: str | None) -> None:
    assert caller_hash(b"s", number) is None


def test_the_hash_is_64_hex_characters_without_the_number() -> None:
    number = "+819011112222"
    hashed = caller_hash(b"s", number)
    assert hashed is not None and len(hashed) == 64
    assert set(hashed) <= set("0123456789abcdef")
    assert number[1:] not in hashed
