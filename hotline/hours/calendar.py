"""The calendar of opening hours (pure: `now` is a parameter): which windows apply on a day,
whether hours are open at a moment, and when they next open.

A day has its weekday and, maybe, a day type: `year_end` (the days `calendar.year_end`
names; they are not public holidays) before `holiday` (Japan's public holidays, substitute
and citizens' holidays included, from the maintained `jpholiday` library, never a hand
list). A day of a type keeps only the windows that name the type, when the hours have any;
otherwise the weekday's windows apply. Times are Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import jpholiday

from hotline.config import DAYS, TOKYO, Calendar, Hours, HoursSpec

# How far ahead an opening is looked for: hours that open less often than this are said
# as "not known" rather than searched further.
HORIZON_DAYS = 14


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


def next_opening(hours: HoursSpec, now: dt.datetime, calendar: Calendar) -> dt.datetime | None:
    """When closed hours next open (Asia/Tokyo); None when open now or not within the
    horizon."""
    if hours == "24h" or is_open(hours, now, calendar):
        return None
    today = now.astimezone(TOKYO).date()
    for offset in range(HORIZON_DAYS + 1):
        starts = [
            start
            for start, _ in intervals(hours, today + dt.timedelta(days=offset), calendar)
            if start > now
        ]
        if starts:
            return min(starts)
    return None
