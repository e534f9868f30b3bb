"""The box that seals what callers confide (summaries, case notes) before it reaches the database.

Fernet (AES-128-CBC with HMAC-SHA256, authenticated) under a MultiFernet over
`Settings.record_keys`, newest first: new text is sealed with the first key, and text sealed
with any listed key still opens. Rotation: put a new key first in HOTLINE_RECORDS_KEYS
(`new,old`), run `hotline records rotate-key` (re-seals everything with the first key), then
drop the old key. A database dump without the keys reveals no free text.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hotline.errors import Misconfigured
from hotline.settings import Settings


class KeysUnfit(Misconfigured):
    """Text cannot be opened with the configured keys (a key dropped too early, or wrong).

    The message names the setting, never the text or the token.
    """

    def __init__(self) -> None:
        super().__init__("stored text cannot be decrypted: check HOTLINE_RECORDS_KEYS")


class Box:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one records key is needed")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def seal(self, text: str | None) -> str | None:
        return None if text is None else self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise KeysUnfit() from None  # no chained exception: it would carry the token

    def rotate(self, token: str) -> str:
        """The same text sealed with the first key (MultiFernet.rotate keeps its timestamp)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeysUnfit() from None


@functools.lru_cache(maxsize=4)
def _box(keys: tuple[str, ...]) -> Box:
    return Box(keys)


def box_for(settings: Settings) -> Box:
    """The box of these settings, built once per key list (building parses every key)."""
    return _box(tuple(settings.record_keys))
