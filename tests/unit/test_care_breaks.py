"""The break rules on a line's row, pure: talk counted without a pause, the talk limit's break,
the break owed after a hard call taken when the line is idle (hotline.lines.breaks)."""

from __future__ import annotations

import datetime as dt

from hotline.config import Care
from hotline.lines import breaks
from hotline.lines.models import AwayReason, Line

T0 = dt.datetime(2023, 12, 25, 1, 0, tzinfo=dt.UTC)
PAUSE = dt.timedelta(minutes=10)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def test_talk_adds_up_until_a_pause_of_the_configured_length() -> None:
    run = breaks.talk_run(0, None, minutes(0), minutes(30), PAUSE)
    assert run == 30 * 60
    run = breaks.talk_run(run, minutes(30), minutes(35), minutes(65), PAUSE)  # 5 min apart
    assert run == 60 * 60
    run = breaks.talk_run(run, minutes(65), minutes(75), minutes(80), PAUSE)  # 10 min apart
    assert run == 5 * 60


def line_talking_since(start: dt.datetime, **fields: object) -> Line:
    return Line(
        id="inochi-01",
        org_id="inochi",
        status="talking",
        status_changed_at=start,
        talk_run_seconds=fields.get("run", 0),
        talk_ended_at=fields.get("ended"),
        break_owed_seconds=0,
    )


def test_the_talk_limit_owes_its_break_and_starts_the_count_again() -> None:
    care = Care(max_consecutive_talk_minutes=60, consecutive_break_minutes=10)
    line = line_talking_since(minutes(55), run=50 * 60, ended=minutes(50))
    breaks.after_talk(line, care, minutes(65))
    assert line.break_owed_seconds == 10 * 60 and line.break_reason == AwayReason.TALK_LIMIT
    assert line.talk_run_seconds == 0
    assert breaks.take(line, minutes(66)) == (AwayReason.TALK_LIMIT, minutes(76))
    assert line.break_owed_seconds == 0 and breaks.take(line, minutes(66)) is None


def test_no_limit_counts_but_owes_nothing() -> None:
    care = Care(max_consecutive_talk_minutes=None)
    line = line_talking_since(minutes(0))
    breaks.after_talk(line, care, minutes(600))
    assert line.talk_run_seconds == 600 * 60 and line.break_owed_seconds == 0


def test_a_hard_call_owes_the_longer_break_and_its_reason_wins() -> None:
    line = line_talking_since(minutes(0))
    breaks.owe(line, 10 * 60, AwayReason.TALK_LIMIT)
    breaks.owe(line, 15 * 60, AwayReason.HARD_CALL)
    breaks.owe(line, 5 * 60, AwayReason.TALK_LIMIT)
    assert (line.break_owed_seconds, line.break_reason) == (15 * 60, AwayReason.HARD_CALL)
    breaks.forget(line)  # signing out
    assert line.break_owed_seconds == 0 and breaks.take(line, minutes(1)) is None
