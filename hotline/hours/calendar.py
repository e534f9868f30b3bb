"""The calendar of opening hours (pure: `now` is a parameter): which windows apply on a day,
whether hours are open at a moment (both kept with the hours' schema in
hotline.config.hours, which the file's own lookups use, and named here too), and when they
next open.

A day has its weekday and, maybe, a day type: `year_end` (the days `calendar.year_end`
names; they are not public holidays) before `holiday` (Japan's public holidays, substitute
and citizens' holidays included, from the maintained `jpholiday` library, never a hand
list). A day of a type keeps only the windows that name the type, when the hours have any;
otherwise the weekday's windows apply. Times are Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt

from hotline.config import TOKYO, Calendar, HoursSpec
from hotline.config.hours import day_type, intervals, is_open, windows_on

__all__ = ["HORIZON_DAYS", "day_type", "intervals", "is_open", "next_opening", "windows_on"]

# How far ahead an opening is looked for: hours that open less often than this are said
# as "not known" rather than searched further.
HORIZON_DAYS = 14


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
