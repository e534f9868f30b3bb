"""Times and numbers as a caller hears them (Asia/Tokyo; numbers as dialled in Japan)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import phonenumbers

from hotline.config import TOKYO


class _WhenWords(Protocol):
    @property
    def when(self) -> str: ...
    @property
    def when_on_the_hour(self) -> str | None: ...


def when(words: _WhenWords, at: dt.datetime) -> str:
    """A time said to a caller, in Asia/Tokyo, by the words' `when` patterns."""
    local = at.astimezone(TOKYO)
    pattern = words.when_on_the_hour if local.minute == 0 and words.when_on_the_hour else words.when
    return pattern.format(
        month=local.month,
        day=local.day,
        hour=local.hour,
        minute=f"{local.minute:02d}",
        ampm="午前" if local.hour < 12 else "午後",
        hour12=local.hour % 12,
    )


def spoken_number(number: str) -> str:
    """An E.164 number as a caller in Japan dials it (+815055559999: 050-5555-9999)."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
