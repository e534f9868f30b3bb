"""Secrets of a test run: random, made once per process, passed explicitly to the settings,
to `hotline serve` and `hotline call` (hotline_env) and to the Twilio signer."""

from __future__ import annotations

import functools

from hotline.local_secrets import GENERATORS

# Settings field names, as make_settings passes them.
FIELDS = {
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "HOTLINE_CALLER_HASH_SECRET": "caller_hash_secret",
    "HOTLINE_SESSION_SECRET": "session_secret",
    "HOTLINE_RECORDS_KEYS": "records_keys",
}


@functools.cache
def secrets_env() -> dict[str, str]:
    """The secrets as environment variables (for a server or phone run as a subprocess)."""
    return {name: make() for name, make in GENERATORS.items()}


def settings_secrets() -> dict[str, str]:
    """The same secrets as Settings keyword arguments."""
    return {FIELDS[name]: value for name, value in secrets_env().items()}


TEST_TOKEN = secrets_env()["TWILIO_AUTH_TOKEN"]
