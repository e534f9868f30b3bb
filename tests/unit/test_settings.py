"""Environment settings: production refuses public secrets; callers are kept as keyed hashes."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from hotline.calls.store import caller_hash
from hotline.settings import (
    DEV_AUTH_TOKEN,
    DEV_CALLER_SECRET,
    DEV_RECORDS_KEY,
    Settings,
    SettingsError,
)

REFUSED = (SettingsError, ValidationError)
TOKEN = "a-real-looking-twilio-auth-token"
SECRET = "a-real-looking-caller-hash-secret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HOTLINE_") or name == "TWILIO_AUTH_TOKEN":
            monkeypatch.delenv(name)


def test_production_without_the_twilio_token_refuses_to_start() -> None:
    with pytest.raises(REFUSED, match="TWILIO_AUTH_TOKEN"):
        Settings(env="production")


def test_production_refuses_the_public_development_token(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", DEV_AUTH_TOKEN)
    monkeypatch.setenv("HOTLINE_CALLER_HASH_SECRET", SECRET)
    with pytest.raises(REFUSED, match="TWILIO_AUTH_TOKEN"):
        Settings(env="production")


@pytest.mark.parametrize("secret", [None, DEV_CALLER_SECRET])
def test_production_without_a_private_caller_secret_refuses_to_start(monkeypatch, secret) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    if secret is not None:
        monkeypatch.setenv("HOTLINE_CALLER_HASH_SECRET", secret)
    with pytest.raises(REFUSED, match="HOTLINE_CALLER_HASH_SECRET"):
        Settings(env="production")


@pytest.mark.parametrize("keys", [None, DEV_RECORDS_KEY])
def test_production_without_private_records_keys_refuses_to_start(monkeypatch, keys) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("HOTLINE_CALLER_HASH_SECRET", SECRET)
    if keys is not None:
        monkeypatch.setenv("HOTLINE_RECORDS_KEYS", keys)
    with pytest.raises(REFUSED, match="HOTLINE_RECORDS_KEYS"):
        Settings(env="production")


def test_production_starts_with_both_secrets_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("HOTLINE_CALLER_HASH_SECRET", SECRET)
    monkeypatch.setenv("HOTLINE_RECORDS_KEYS", "bm90LWEtcmVhbC1rZXktYnV0LTMyLWJ5dGVzLWxvbmc=")
    monkeypatch.setenv("HOTLINE_SESSION_SECRET", "a-real-session-secret-of-forty-characters")
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", "https://hotline.example.jp")
    settings = Settings(env="production")
    assert settings.auth_token == TOKEN
    assert settings.caller_secret == SECRET.encode()


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOTLINE_SESSION_SECRET", "short"), ("HOTLINE_PUBLIC_URL", "http://plain.example.jp")],
)
def test_production_refuses_a_weak_session_secret_or_a_plain_public_url(
    monkeypatch, name: str, value: str
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("HOTLINE_CALLER_HASH_SECRET", SECRET)
    monkeypatch.setenv("HOTLINE_RECORDS_KEYS", "bm90LWEtcmVhbC1rZXktYnV0LTMyLWJ5dGVzLWxvbmc=")
    monkeypatch.setenv("HOTLINE_SESSION_SECRET", "a-real-session-secret-of-forty-characters")
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", "https://hotline.example.jp")
    monkeypatch.setenv(name, value)
    with pytest.raises(REFUSED, match=name):
        Settings(env="production")


def test_development_falls_back_to_the_development_secrets() -> None:
    settings = Settings()
    assert settings.env == "development"
    assert settings.auth_token == DEV_AUTH_TOKEN
    assert settings.caller_secret == DEV_CALLER_SECRET.encode()


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
