"""Environment settings: one pydantic-settings object, read once at start-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

# Development-only values. They are public (they are in this file), so production refuses them.
DEV_AUTH_TOKEN = "dev-twilio-auth-token-not-secret"
DEV_CALLER_SECRET = "dev-caller-hash-secret-not-secret"
DEV_SESSION_SECRET = "dev-console-session-secret-not-secret-at-all"
DEV_RECORDS_KEY = "ZGV2LXJlY29yZHMta2V5LW5vdC1zZWNyZXQtMDAwMDA="  # Fernet key, public, dev only


class SettingsError(ValueError):
    """The environment is not fit to run the service; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'var' / 'hotline.db'}"
    # The URL Twilio uses to reach us (signatures are over it). Unset: where we listen.
    public_url: str | None = None
    config_path: Path = ROOT / "config" / "menus.yaml"
    # Twilio's auth token has no HOTLINE_ prefix: it is the name Twilio's own tools use.
    twilio_auth_token: str = Field(default="", validation_alias="TWILIO_AUTH_TOKEN")
    caller_hash_secret: str = ""
    max_body_bytes: int = 64 * 1024
    hold_segment_seconds: int = 5
    announce_every: int = 3
    reservation_timeout_seconds: int = 30
    line_cooldown_seconds: int = 60
    tick_seconds: float = 2.0
    # Twilio answers a full or failing queue at once: after this many failures within the
    # window the caller goes to the backup organisation instead of looping in silence.
    queue_error_limit: int = 2
    queue_error_window_seconds: int = 60
    # Reconciliation: calls still open after this long are checked with Twilio's REST API
    # (when TWILIO_ACCOUNT_SID is set), every `reconcile_every_seconds`; a conversation longer
    # than `max_talk_seconds` with no answer from Twilio is ended and its line freed.
    twilio_account_sid: str = Field(default="", validation_alias="TWILIO_ACCOUNT_SID")
    twilio_api_base: str | None = None  # a stand-in of api.twilio.com (tests, the phone)
    reconcile_after_seconds: int = 1800
    reconcile_every_seconds: float = 60.0
    max_talk_seconds: int = 4 * 3600
    # The durable spool of webhook facts kept while the database is away (one file per host).
    spool_dir: Path = ROOT / "var" / "spool"
    spool_max_bytes: int = 50 * 1024 * 1024
    log_level: str = "INFO"
    # Fernet keys for consultation free text, comma-separated, newest first (rotation: put a
    # new key first, run `hotline records rotate-key`, then drop the old one).
    records_keys: str = ""
    # Signs the web console's session cookies.
    session_secret: str = ""
    session_hours: float = 8.0
    login_attempts: int = 5  # wrong passwords in a row before the account is locked
    lockout_minutes: int = 15

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env == "production":
            if not self.twilio_auth_token or self.twilio_auth_token == DEV_AUTH_TOKEN:
                raise SettingsError(
                    "TWILIO_AUTH_TOKEN must be set to the account's auth token in production"
                )
            if not self.caller_hash_secret or self.caller_hash_secret == DEV_CALLER_SECRET:
                raise SettingsError("HOTLINE_CALLER_HASH_SECRET must be set in production")
            if not self.records_keys or DEV_RECORDS_KEY in self.records_keys:
                raise SettingsError("HOTLINE_RECORDS_KEYS must be set in production")
            if len(self.session_secret) < 32 or self.session_secret == DEV_SESSION_SECRET:
                raise SettingsError(
                    "HOTLINE_SESSION_SECRET must be set (32 characters or more) in production"
                )
            if not self.public_url or not self.public_url.startswith("https://"):
                # Without it every signature is checked against the wrong URL: all 403.
                raise SettingsError(
                    "HOTLINE_PUBLIC_URL must be set to the https:// URL Twilio uses in production"
                )
        return self

    @property
    def auth_token(self) -> str:
        return self.twilio_auth_token or DEV_AUTH_TOKEN

    @property
    def caller_secret(self) -> bytes:
        return (self.caller_hash_secret or DEV_CALLER_SECRET).encode()

    @property
    def console_secret(self) -> str:
        return self.session_secret or DEV_SESSION_SECRET

    @property
    def record_keys(self) -> list[str]:
        keys = [k.strip() for k in self.records_keys.split(",") if k.strip()]
        return keys or [DEV_RECORDS_KEY]

    @property
    def public_base(self) -> str:
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")

    def warn_if_development(self) -> None:
        if not self.twilio_auth_token:
            log.warning(
                "TWILIO_AUTH_TOKEN is not set: using the public development token; "
                "never expose this service to Twilio like this"
            )
        if not self.caller_hash_secret:
            log.warning("HOTLINE_CALLER_HASH_SECRET is not set: callers hashed with a dev secret")
