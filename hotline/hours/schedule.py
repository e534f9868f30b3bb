"""Hours, pure (`now` is a parameter): whether a line is scheduled, whether an option (or a
language under it) is open by its hours, when it opens, and which other lines are open now.
The rules of days and windows are in hotline.hours.calendar."""

from __future__ import annotations

import datetime as dt

from hotline.config import (
    TOKYO,
    Calendar,
    HotlineConfig,
    HoursSpec,
    Line,
    Organisation,
    Referral,
)
from hotline.hours import calendar as cal


def scheduled(
    org: Organisation, line: Line, now: dt.datetime, calendar: Calendar | None = None
) -> bool:
    hours = line.hours if line.hours is not None else org.hours
    return cal.is_open(hours, now, calendar or Calendar())


def option_hours(
    cfg: HotlineConfig, option_id: str, language: str | None, now: dt.datetime
) -> HoursSpec:
    """The hours that hold now: the period's own for the option's language, then for the
    option, then the option's for the language, then the option's."""
    if not cfg.has_option(option_id):
        return "24h"
    option, period = cfg.option(option_id), cfg.period_at(now)
    own = period.hours if period is not None else {}
    for hours in (
        own.get(f"{option_id}/{language}") if language else None,
        own.get(option_id),
        option.language_hours.get(language) if language else None,
    ):
        if hours is not None:
            return hours
    return option.hours


def option_open(cfg: HotlineConfig, option_id: str, language: str | None, now: dt.datetime) -> bool:
    return cal.is_open(option_hours(cfg, option_id, language, now), now, cfg.calendar)


def option_opens_at(
    cfg: HotlineConfig, option_id: str, language: str | None, now: dt.datetime
) -> dt.datetime | None:
    """When an option closed by its hours opens (None: open now, or not within two weeks)."""
    return cal.next_opening(option_hours(cfg, option_id, language, now), now, cfg.calendar)


def option_closes_at(
    cfg: HotlineConfig, option_id: str, language: str | None, now: dt.datetime
) -> dt.datetime | None:
    """When the option's current block of hours ends (windows that touch or overlap, across
    midnight and days, make one block); None when it is open around the clock, or stays open
    past the two weeks looked at. `now` itself when it is closed now. The hours are those
    that hold now: a period's own hours beginning later are not foreseen."""
    hours = option_hours(cfg, option_id, language, now)
    if hours == "24h":
        return None
    today = now.astimezone(TOKYO).date()
    spans = sorted(
        span
        for offset in range(-1, cal.HORIZON_DAYS + 1)
        for span in cal.intervals(hours, today + dt.timedelta(days=offset), cfg.calendar)
    )
    end: dt.datetime | None = None
    for start, stop in spans:
        if end is None:
            if start <= now < stop:
                end = stop
        elif start <= end:
            end = max(end, stop)
        else:
            return end
    if end is None:
        return now
    return None  # open to the end of the horizon: as good as around the clock


def referrals_open(cfg: HotlineConfig, language: str | None, now: dt.datetime) -> list[Referral]:
    """The other lines open now that serve callers of this language, in the file's order."""
    lang = language or "ja"
    return [
        r for r in cfg.referrals if lang in r.languages and cal.is_open(r.hours, now, cfg.calendar)
    ]
