"""The box that seals summaries and notes: Fernet under a MultiFernet, newest key first."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from hotline.common.crypto import Box, KeysUnfit, box_for
from hotline.settings import Settings

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TEXT = "死にたいと話した。家族には内緒"


def test_sealed_text_is_not_readable_and_opens_again() -> None:
    box = Box((NEW,))
    token = box.seal(TEXT)
    assert token is not None and TEXT not in token and "内緒" not in token
    assert box.open(token) == TEXT
    assert box.seal(TEXT) != token  # a fresh IV each time: equal texts do not look equal
    assert (box.seal(None), box.open(None)) == (None, None)


def test_text_sealed_with_an_older_listed_key_opens_and_rotates_to_the_first() -> None:
    token = Box((OLD,)).seal(TEXT)
    both = Box((NEW, OLD))
    assert both.open(token) == TEXT
    rotated = both.rotate(token)
    assert Box((NEW,)).open(rotated) == TEXT
    with pytest.raises(KeysUnfit):
        Box((OLD,)).open(rotated)


def test_an_unknown_key_fails_with_a_message_naming_the_setting_not_the_text() -> None:
    token = Box((OLD,)).seal(TEXT)
    with pytest.raises(KeysUnfit) as caught:
        Box((NEW,)).open(token)
    assert "HOTLINE_RECORDS_KEYS" in caught.value.message
    assert token not in str(caught.value.message) and caught.value.__cause__ is None


def test_the_settings_keys_are_used_newest_first_and_development_has_a_key() -> None:
    dev = Settings(env="test", records_keys="")  # generated into HOTLINE_SECRETS_FILE
    assert Box((dev.records_keys,)).open(box_for(dev).seal(TEXT)) == TEXT
    box = box_for(Settings(env="test", records_keys=f" {NEW} , {OLD} "))
    assert Box((NEW,)).open(box.seal(TEXT)) == TEXT


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Box(("not-a-fernet-key",))
