"""Staffed hours: whether a line is scheduled at a moment (pure; Asia/Tokyo weekly windows)."""

from __future__ import annotations

import datetime as dt

from hotline.config import DAYS, TOKYO, Hours, Line, Organisation


def _in_window(window: Hours, local: dt.datetime) -> bool:
    day, t = DAYS[local.weekday()], local.time()
    if window.start < window.end:
        return day in window.days and window.start <= t < window.end
    if window.start == window.end:  # a whole day
        return day in window.days
    # Past midnight (22:00-06:00): the evening belongs to the listed day, the morning to the
    # day after it.
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return (day in window.days and t >= window.start) or (
        yesterday in window.days and t < window.end
    )


def scheduled(org: Organisation, line: Line, now: dt.datetime) -> bool:
    hours = line.hours if line.hours is not None else org.hours
    if hours == "24h":
        return True
    local = now.astimezone(TOKYO)
    return any(_in_window(w, local) for w in hours)
