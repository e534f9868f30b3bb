"""Environment settings: one pydantic-settings object, read once at start-up."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotline import local_secrets

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
# Development only: with no TWILIO_ACCOUNT_SID, the service holds a stand-in of Twilio's REST
# API in its own process, under this made-up account (`hotline.ivr.dev_account`): it places the
# callbacks `hotline call --callback` plays, and nothing else. Production refuses this SID.
DEV_ACCOUNT_SID = "AC" + "0" * 32


class SettingsError(ValueError):
    """The environment is not fit to run the service; the message says what to set."""


# `hotline.startup` checks production's settings together with menus.yaml, to name every
# problem in one message; anything else that builds Settings is refused at once.
_DEFERRED: ContextVar[bool] = ContextVar("production_check_deferred", default=False)


@contextmanager
def production_check_deferred() -> Iterator[None]:
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting's message never shows its value (a secret).
    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_", extra="ignore", hide_input_in_errors=True
    )

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
    # Where a freed line pushes the caller out of the hold (a REST account: Twilio dequeues
    # them at once), the poll is only the safety net: segments this long, 6x fewer polls.
    hold_pushed_segment_seconds: int = 30
    reservation_timeout_seconds: int = 30
    line_cooldown_seconds: int = 60
    # The periodic pass: lines freed by time (a wrap-up or a rest that runs out) are offered
    # within this; with pushes the caller is dialled then (issue 13: p99 < 1 s). A steady pass
    # costs ~10 ms on PostgreSQL at 10k callers x 1k lines, so twice a second is ~2% of a core.
    tick_seconds: float = 0.5
    # Twilio answers a full or failing queue at once: after this many failures within the
    # window the caller goes to the backup organisation instead of looping in silence.
    queue_error_limit: int = 2
    # A failed hold poll or hold key is answered with a hold segment made without the
    # database (the caller keeps their place); after this many in a row (about this many
    # short segments, ~5 s each) the caller leaves the hold for the backup organisation.
    hold_failures: int = 3
    queue_error_window_seconds: int = 60
    # Reconciliation: calls still open after this long are checked with Twilio's REST API
    # (when TWILIO_ACCOUNT_SID is set), every `reconcile_every_seconds`; a conversation longer
    # than `max_talk_seconds` with no answer from Twilio is ended and its line freed.
    twilio_account_sid: str = Field(default="", validation_alias="TWILIO_ACCOUNT_SID")
    # A stand-in of api.twilio.com that the developer runs (the tests): never in production.
    twilio_api_base: str | None = None
    # Twilio's processing region and edge for every REST request (and so for the calls we
    # place): Japan's by default. Twilio's guidelines for Japan: domestic calls from Japanese
    # numbers must go through the Tokyo edge or the caller ID may be removed. Both, or
    # neither (empty: Twilio's US default). A region other than us1 needs credentials made in
    # that region: an API key (TWILIO_API_KEY, TWILIO_API_SECRET) or that region's auth token.
    twilio_region: str = Field(default="jp1", pattern=r"^([a-z]{2}[0-9])?$")
    twilio_edge: str = Field(default="tokyo", pattern=r"^([a-z]+(-[a-z]+)*)?$")
    # An API key of the account (regional credentials), used instead of the auth token when
    # set; its secret has no default. Twilio's own tools use these names.
    twilio_api_key: str = Field(default="", validation_alias="TWILIO_API_KEY")
    twilio_api_secret: str = Field(default="", validation_alias="TWILIO_API_SECRET")
    # A few minutes, not half an hour: each round asks Twilio about each open call older than
    # this (one GET per call, at most `BATCH` = 200 per round, conversations first), so the
    # cost is about one request per conversation and minute once it is 3 minutes old (21 lines:
    # ~21 requests a minute, far under Twilio's limits); a lost end then holds a line for at
    # most ~4 minutes (this plus one round) instead of ~31.
    reconcile_after_seconds: int = 180
    reconcile_every_seconds: float = 60.0
    # Without an answer from Twilio (no REST account, or Twilio away): a conversation's legs
    # send nothing between its start and its end, so a lost end is only seen by time. Twilio's
    # own <Dial> ends a conversation at its `timeLimit`, 4 hours by default: past that the
    # call is over for certain, and the line is freed (docs/faults.md, "Silent legs").
    max_talk_seconds: int = 4 * 3600
    # Production refuses to start without a REST account (TWILIO_ACCOUNT_SID) unless this is
    # set: a lost end then holds its line until `max_talk_seconds` (docs/faults.md).
    allow_no_rest: bool = False
    # Production refuses the embedded SQLite database unless this is set (one process, one
    # host: docs/configuration.md).
    allow_sqlite: bool = False
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # forwarded_allow_ips): comma-separated addresses or networks, or "*". Unset: no forwarded
    # header is believed, every client is the address that connected. Production (https only,
    # which `hotline serve` does not terminate: always behind a proxy) requires it.
    forwarded_allow_ips: str | None = None
    # The durable spool of webhook facts kept while the database is away (one file per host).
    spool_dir: Path = ROOT / "var" / "spool"
    spool_max_bytes: int = 50 * 1024 * 1024
    log_level: str = "INFO"
    # `text` (LEVEL logger: message) or `json` (one object per line, for a log collector).
    log_format: Literal["text", "json"] = "text"
    # Fernet keys for consultation free text, comma-separated, newest first (rotation: put a
    # new key first, run `hotline records rotate-key`, then drop the old one).
    records_keys: str = ""
    # Signs the web console's session cookies.
    session_secret: str = ""
    session_hours: float = 8.0
    # Outside production, secrets left unset come from this file, generated on first start.
    secrets_file: Path = ROOT / "var" / "secrets"
    # Production: Prometheus sends it as `Authorization: Bearer ...` to scrape /metrics.
    metrics_token: str = ""
    # Deadlines (docs/faults.md): Twilio waits 15 s for a webhook's answer, then plays the
    # number's static fallback. Every voice webhook answers within `webhook_deadline_seconds`
    # (our own fallback past it: `hotline.ivr.guard`), and no wait for the database is longer
    # than one step can afford: opening a connection, one statement (and SQLite's busy
    # timeout), a free connection of the pool.
    webhook_deadline_seconds: float = Field(default=8.0, gt=0, le=12)
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    db_command_timeout_seconds: float = Field(default=5.0, gt=0)
    db_pool_timeout_seconds: float = Field(default=3.0, gt=0)
    # Console and API requests use their own, smaller pool: they never take the voice pool's.
    console_pool_size: int = 5
    login_rate_per_minute: int = 10  # login attempts per client address and minute
    # Past this many hold polls in flight in one process, the hold plays longer segments.
    hold_busy_polls: int = 200
    hold_max_segment_seconds: int = 60
    login_attempts: int = 5  # wrong passwords in a row before the account is locked
    lockout_minutes: int = 15

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env == "production":
            problems = production_problems(self)
            if problems and not _DEFERRED.get():
                raise SettingsError(refusal(problems))
        else:
            self._fill_from_file()
        if self.env == "development" and not self.twilio_account_sid:
            # The callback needs an account to place calls: without a stand-in of its own
            # (HOTLINE_TWILIO_API_BASE), the service's own, in its process (`dev_stand_in`).
            self.twilio_account_sid = DEV_ACCOUNT_SID
        if self.env != "production":  # production lists it with the rest
            _check_records_keys(self.records_keys)
        _check_forwarded(self.forwarded_allow_ips)
        _check_twilio_region(self)
        return self

    def _fill_from_file(self) -> None:
        fields = {
            "TWILIO_AUTH_TOKEN": "twilio_auth_token",
            "HOTLINE_CALLER_HASH_SECRET": "caller_hash_secret",
            "HOTLINE_SESSION_SECRET": "session_secret",
            "HOTLINE_RECORDS_KEYS": "records_keys",
        }
        if all(getattr(self, f) for f in fields.values()):
            return
        try:
            stored = local_secrets.load_or_create(self.secrets_file)
        except (OSError, local_secrets.SecretsFileUnfit) as e:
            raise SettingsError(f"HOTLINE_SECRETS_FILE: {e}") from None
        for name, field in fields.items():
            if not getattr(self, field):
                setattr(self, field, stored[name])

    @property
    def db_timeouts(self) -> tuple[float, float, float]:
        """Connect, command and pool timeouts of the voice pool (`hotline.db.Timeouts`)."""
        return (
            self.db_connect_timeout_seconds,
            self.db_command_timeout_seconds,
            self.db_pool_timeout_seconds,
        )

    @property
    def dev_stand_in(self) -> bool:
        """Development without an account or a stand-in of its own: the REST stand-in lives in
        this process and its token goes nowhere else (`hotline.ivr.dev_account`)."""
        return (
            self.env == "development"
            and self.twilio_account_sid == DEV_ACCOUNT_SID
            and not self.twilio_api_base
        )

    @property
    def auth_token(self) -> str:
        return self.twilio_auth_token

    @property
    def caller_secret(self) -> bytes:
        return self.caller_hash_secret.encode()

    @property
    def console_secret(self) -> str:
        return self.session_secret

    @property
    def record_keys(self) -> list[str]:
        return _split_keys(self.records_keys)

    @property
    def public_base(self) -> str:
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")


def _split_keys(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


def refusal(problems: list[str]) -> str:
    """Every reason production will not start, in one message."""
    listed = "".join(f"\n  - {p}" for p in problems)
    return f"production refuses to start until all of these are fixed:{listed}"


def production_problems(s: Settings) -> list[str]:
    """Everything production lacks, all at once (not one per start): its secrets come from
    its environment, never from a file or a default, and no demo default is left on."""
    problems = []
    if not s.twilio_auth_token:
        problems.append("TWILIO_AUTH_TOKEN must be set to the account's auth token")
    if len(s.caller_hash_secret) < 16:
        problems.append("HOTLINE_CALLER_HASH_SECRET must be set (16 characters or more)")
    if not s.records_keys:
        problems.append("HOTLINE_RECORDS_KEYS must be set")
    else:
        problems.extend(_records_keys_problems(s.records_keys))
    if len(s.session_secret) < 32:
        problems.append("HOTLINE_SESSION_SECRET must be set (32 characters or more)")
    if len(s.metrics_token) < 32:
        problems.append(
            "HOTLINE_METRICS_TOKEN must be set (32 characters or more): Prometheus scrapes "
            "/metrics with it"
        )
    if s.twilio_account_sid == DEV_ACCOUNT_SID:
        problems.append("TWILIO_ACCOUNT_SID is the development stand-in's, not an account")
    elif not s.twilio_account_sid and not s.allow_no_rest:
        problems.append(
            "TWILIO_ACCOUNT_SID must be set (Twilio's REST API ends calls whose end was lost "
            "within minutes, and places callbacks), or HOTLINE_ALLOW_NO_REST=true to run "
            "without it (a lost end then holds its line for HOTLINE_MAX_TALK_SECONDS)"
        )
    if not s.public_url or not s.public_url.startswith("https://"):
        # Without it every signature is checked against the wrong URL: all 403.
        problems.append("HOTLINE_PUBLIC_URL must be set to the https:// URL Twilio uses")
    if s.database_url.startswith("sqlite") and not s.allow_sqlite:
        problems.append(
            "HOTLINE_DATABASE_URL is the embedded SQLite file: set it to PostgreSQL "
            "(postgresql+asyncpg://...), or HOTLINE_ALLOW_SQLITE=true for one process on one host"
        )
    if s.forwarded_allow_ips is None:
        problems.append(
            "HOTLINE_FORWARDED_ALLOW_IPS must be set to the TLS proxy's addresses (the "
            "https:// public URL is served through one): without them every user is the "
            "proxy, and ten wrong logins lock the console for all"
        )
    return problems


def _check_forwarded(value: str | None) -> None:
    """Each item an address or a network (uvicorn takes anything else for a socket's name,
    which never matches: a typo would silently trust nobody)."""
    for item in (value or "").split(","):
        item = item.strip()
        if not item or item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"HOTLINE_FORWARDED_ALLOW_IPS: {item!r} is not an address or a network"
            ) from None


def _check_records_keys(keys: str) -> None:
    """Every listed key is a Fernet key; the message says which one, never its value."""
    problems = _records_keys_problems(keys)
    if problems:
        raise SettingsError(problems[0])


def _records_keys_problems(keys: str) -> list[str]:
    listed = _split_keys(keys)
    problems = []
    for n, key in enumerate(listed, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            problems.append(
                f"HOTLINE_RECORDS_KEYS: key {n} of {len(listed)} is not a Fernet key "
                "(32 random bytes in url-safe base64, as Fernet.generate_key() makes)"
            )
    return problems


def _check_twilio_region(s: Settings) -> None:
    """Twilio takes a region and an edge together (an edge alone is deprecated, a region
    alone goes through the US), and an API key with its secret."""
    if bool(s.twilio_region) != bool(s.twilio_edge):
        raise SettingsError(
            "HOTLINE_TWILIO_REGION and HOTLINE_TWILIO_EDGE are set together (jp1 and tokyo for "
            "Japan), or both left empty for Twilio's US default"
        )
    if bool(s.twilio_api_key) != bool(s.twilio_api_secret):
        raise SettingsError("TWILIO_API_KEY and TWILIO_API_SECRET are set together")
