"""menus.yaml's hours: weekly windows that may name calendar day types, the calendar itself,
and the other lines to call when we are closed.

Kept apart from the rest of the schema (hotline.config imports these), so that the rules of
time live in one place: a window's `days` are weekdays (`mon` ... `sun`) or day types of the
calendar (`holiday`: a Japanese public holiday, as the `jpholiday` library knows them;
`year_end`: the days `calendar.year_end` names, 12/29-1/3 by default). A day of such a type
keeps only the windows that name its type, when there are any (holidays carry their own
hours); otherwise its weekday's windows apply.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAY = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[WEEKDAY, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_TYPES = ("holiday", "year_end")
MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday", "year_end"]


class Hours(_Model):
    """A window in Asia/Tokyo on the listed days; end may pass midnight (22:00-06:00), and
    start == end is the whole day. `monthdays` narrows it to days of the month (10: the
    10th)."""

    days: list[Day] = Field(default=list(DAYS), min_length=1)
    start: dt.time
    end: dt.time
    monthdays: list[Annotated[int, Field(ge=1, le=31)]] | None = None


HoursSpec = list[Hours] | Literal["24h"]


class Calendar(_Model):
    """Day types besides the weekdays. Public holidays come from `jpholiday` (maintained
    upstream from the Cabinet Office's list); the year-end days are not public holidays, so
    they are named here, as MM-DD."""

    year_end: list[str] = ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"]

    @field_validator("year_end")
    @classmethod
    def _month_days(cls, days: list[str]) -> list[str]:
        for day in days:
            if not MONTH_DAY.fullmatch(day):
                raise ValueError(f"{day!r} is not a month and day as MM-DD")
        return days


class Referral(_Model):
    """Another line a caller may try when we are closed: said only while it is open, and only
    to callers of the languages it serves."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=48)]
    name: str = Field(min_length=1)  # Japanese
    names: dict[str, str] = {}  # the name in other caller languages
    number: str = Field(min_length=1, max_length=64)  # as said: 0120-279-338
    languages: list[str] = ["ja"]
    hours: HoursSpec = "24h"
