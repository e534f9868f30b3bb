"""Opening hours over the calendar: weekdays, Japan's public holidays, the year-end days."""

from __future__ import annotations

import datetime as dt

from hotline.config import TOKYO, Calendar, Hours
from hotline.hours.calendar import day_type, is_open, next_opening

CAL = Calendar()
WEEKDAYS = Hours(days=["mon", "tue", "wed", "thu", "fri"], start=dt.time(10), end=dt.time(18))
HOLIDAYS = Hours(days=["holiday"], start=dt.time(13), end=dt.time(17))
YEAR_END = Hours(days=["year_end"], start=dt.time(0), end=dt.time(0))  # the whole day
NIGHTS = Hours(days=["fri"], start=dt.time(22), end=dt.time(6))


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=TOKYO)


def test_public_holidays_come_from_jpholiday_and_the_year_end_from_config() -> None:
    assert day_type(dt.date(2024, 1, 8), CAL) == "holiday"  # 成人の日, a Monday
    assert day_type(dt.date(2023, 12, 29), CAL) == "year_end"  # not a public holiday
    assert day_type(dt.date(2024, 1, 1), CAL) == "year_end"  # 元日: the year end wins
    assert day_type(dt.date(2024, 1, 9), CAL) is None
    assert day_type(dt.date(2023, 12, 29), Calendar(year_end=["12-31"])) is None


# The public holidays of the years the service runs in, as the Cabinet Office publishes them
# (the equinoxes as announced in the official gazette), besides those of the year end; a
# holiday on a Sunday is one too.
HOLIDAYS_2026_2027 = [
    "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29", "2026-05-03",
    "2026-05-04", "2026-05-05", "2026-05-06", "2026-07-20", "2026-08-11", "2026-09-21",
    "2026-09-22", "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23",
    "2027-01-11", "2027-02-11", "2027-02-23", "2027-03-21", "2027-03-22", "2027-04-29",
    "2027-05-03", "2027-05-04", "2027-05-05", "2027-07-19", "2027-08-11", "2027-09-20",
    "2027-09-23", "2027-10-11", "2027-11-03", "2027-11-23",
]  # fmt: skip


def test_the_2026_and_2027_holidays_are_known() -> None:
    """jpholiday's floor in pyproject.toml knows them: substitute holidays (2026-05-06, for
    Constitution Day on a Sunday; 2027-03-22, for the equinox on a Sunday) and the citizens'
    holiday between two holidays (2026-09-22)."""
    for day in HOLIDAYS_2026_2027:
        assert day_type(dt.date.fromisoformat(day), CAL) == "holiday", day
    everyday = [dt.date(2026, 1, 4) + dt.timedelta(days=n) for n in range(2 * 365 - 4)]
    found = [d.isoformat() for d in everyday if day_type(d, CAL) == "holiday"]
    assert found == HOLIDAYS_2026_2027  # and no other day


def test_a_holiday_keeps_its_own_hours_instead_of_its_weekdays() -> None:
    hours = [WEEKDAYS, HOLIDAYS]
    assert is_open(hours, at(2024, 1, 9, 11), CAL)  # an ordinary Tuesday
    assert not is_open(hours, at(2024, 1, 8, 11), CAL)  # 成人の日: not its Monday hours
    assert is_open(hours, at(2024, 1, 8, 14), CAL)
    # Without holiday windows a holiday keeps its weekday's hours.
    assert is_open([WEEKDAYS], at(2024, 1, 8, 11), CAL)


def test_year_end_days_carry_their_own_hours() -> None:
    hours = [WEEKDAYS, YEAR_END]
    assert is_open(hours, at(2023, 12, 30, 3), CAL)  # a Saturday, all day long
    assert not is_open(hours, at(2023, 12, 28, 3), CAL)


def test_a_window_past_midnight_belongs_to_the_evening_it_starts() -> None:
    assert is_open([NIGHTS], at(2024, 1, 12, 23), CAL)  # Friday night
    assert is_open([NIGHTS], at(2024, 1, 13, 5, 59), CAL)  # Saturday morning, same window
    assert not is_open([NIGHTS], at(2024, 1, 13, 6), CAL)


def test_the_next_opening_is_to_the_minute_and_skips_closed_days() -> None:
    hours = [WEEKDAYS, HOLIDAYS]
    assert next_opening(hours, at(2024, 1, 9, 9, 59), CAL) == at(2024, 1, 9, 10)
    assert next_opening(hours, at(2024, 1, 9, 10), CAL) is None  # open now
    # Friday evening: Saturday and Sunday closed, Monday is 成人の日 (13:00).
    assert next_opening(hours, at(2024, 1, 5, 19), CAL) == at(2024, 1, 8, 13)
    assert next_opening("24h", at(2024, 1, 5, 19), CAL) is None


def test_monthdays_narrow_a_window_to_days_of_the_month() -> None:
    tenth = Hours(start=dt.time(8), end=dt.time(0), monthdays=[10])
    assert is_open([tenth], at(2024, 1, 10, 23, 59), CAL)
    assert not is_open([tenth], at(2024, 1, 9, 23, 59), CAL)
    assert next_opening([tenth], at(2024, 1, 9, 23), CAL) == at(2024, 1, 10, 8)
