"""menus.yaml's hours: weekly windows that may name calendar day types, the calendar itself,
and the other lines to call when we are closed.

Kept apart from the rest of the schema (hotline.config imports these), so that the rules of
time live in one place: a window's `days` are weekdays (`mon` ... `sun`) or day types of the
calendar (`holiday`: a Japanese public holiday, as the `jpholiday` library knows them;
`year_end`: the days `calendar.year_end` names, 12/29-1/3 by default). A day of such a type
keeps only the windows that name its type, when there are any (holidays carry their own
hours); otherwise its weekday's windows apply.

The rules themselves are pure (`now` is a parameter): which windows apply on a day and
whether hours are open at a moment (`is_open`), here so that the file's own lookups
(`HotlineConfig.open_targets`) use them; hotline.hours.calendar adds when hours next open.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

import jpholiday
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline.config.base import TOKYO

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


def day_type(day: dt.date, calendar: Calendar) -> str | None:
    if day.strftime("%m-%d") in calendar.year_end:
        return "year_end"
    if jpholiday.is_holiday(day):
        return "holiday"
    return None


def windows_on(hours: Sequence[Hours], day: dt.date, calendar: Calendar) -> list[Hours]:
    """The windows that start on this day."""
    kind = day_type(day, calendar)
    typed = [w for w in hours if kind is not None and kind in w.days]
    if not typed:
        typed = [w for w in hours if DAYS[day.weekday()] in w.days]
    return [w for w in typed if w.monthdays is None or day.day in w.monthdays]


def intervals(
    hours: Sequence[Hours], day: dt.date, calendar: Calendar
) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    """[start, end) of the windows starting on `day`; one past midnight ends the next day."""
    for w in windows_on(hours, day, calendar):
        start = dt.datetime.combine(day, w.start, TOKYO)
        end_day = day if w.start < w.end else day + dt.timedelta(days=1)
        end = dt.datetime.combine(end_day, w.end, TOKYO)
        if w.start == w.end:  # the whole day
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TOKYO)
            start = dt.datetime.combine(day, dt.time(), TOKYO)
        yield start, end


def is_open(hours: HoursSpec, now: dt.datetime, calendar: Calendar) -> bool:
    if hours == "24h":
        return True
    today = now.astimezone(TOKYO).date()
    return any(
        start <= now < end
        for day in (today - dt.timedelta(days=1), today)
        for start, end in intervals(hours, day, calendar)
    )
