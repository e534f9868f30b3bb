"""The secrets of an embedded (development or test) service, generated on first start.

No secret has a public default. Outside production, a secret left unset is read from a file
(`var/secrets` by default, mode 0600) that the first start writes with fresh random values;
`hotline serve` and the terminal phone (`hotline call`) read the same file, so the phone's
signatures are accepted. Production never reads it: every secret comes from the environment.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

HEADER = (
    "# Secrets of this embedded (development) service, generated on its first start.\n"
    "# Keep this file private (mode 0600). Production sets these in its environment instead.\n"
)


class SecretsFileUnfit(ValueError):
    """The secrets file exists but may not be used; the message says why (never a value)."""


def fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


GENERATORS = {
    "TWILIO_AUTH_TOKEN": lambda: secrets.token_hex(16),
    "HOTLINE_CALLER_HASH_SECRET": lambda: secrets.token_urlsafe(32),
    "HOTLINE_SESSION_SECRET": lambda: secrets.token_urlsafe(32),
    "HOTLINE_RECORDS_KEYS": fernet_key,
}


def load_or_create(path: Path) -> dict[str, str]:
    """The secrets in `path`, creating it (or adding missing names) with mode 0600."""
    values = _read(path) if path.exists() else {}
    missing = [name for name in GENERATORS if not values.get(name)]
    if not missing:
        return values
    values.update({name: GENERATORS[name]() for name in missing})
    _write(path, values)
    # The same values are read back: when two processes start at once, one file wins.
    values = _read(path)
    log.warning(
        "generated %s into %s (mode 0600) for this development service; production must set "
        "them in its environment",
        ", ".join(missing),
        path,
    )
    return values


def _read(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretsFileUnfit(f"{path} is readable by others (mode {mode:o}): chmod 600 {path}")
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _write(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    body = HEADER + "".join(f"{name}={value}\n" for name, value in values.items())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(body)
        if path.exists():
            os.replace(tmp, path)  # adds names that an older file lacked
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # never replaces a file another process just wrote
    finally:
        tmp.unlink(missing_ok=True)
