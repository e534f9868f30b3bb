"""The breaks a line takes by itself (docs/counsellor-care.md): owed after a call marked hard,
or after talk past the organisation's limit without a pause; taken on the way back to ready
(after the wrap-up), as away with reason `hard_call` or `talk_limit`, until `break_until`.
Rules on the line's row only; `presence` moves the line.
"""

from __future__ import annotations

import datetime as dt

from hotline.config import Care
from hotline.lines.models import AwayReason, Line


def talk_run(
    run_seconds: int,
    last_ended: dt.datetime | None,
    started: dt.datetime,
    ended: dt.datetime,
    pause: dt.timedelta,
) -> int:
    """Seconds of talk without a pause: a gap of at least `pause` between the last talk's end
    and this one's start (a break, a meeting, a quiet hour, signing out) starts it again."""
    if last_ended is None or started - last_ended >= pause:
        run_seconds = 0
    return run_seconds + max(int((ended - started).total_seconds()), 0)


def owe(line: Line, seconds: int, reason: AwayReason) -> None:
    """The line owes a break of `seconds` (the longest owed counts; a hard call's reason wins)."""
    if seconds <= 0:
        return
    line.break_owed_seconds = max(line.break_owed_seconds or 0, seconds)
    if line.break_reason != AwayReason.HARD_CALL:
        line.break_reason = reason


def after_talk(line: Line, care: Care, now: dt.datetime) -> None:
    """A conversation ended (the line was talking since `status_changed_at`): count it, and
    owe the break when the run of talk reaches the organisation's limit."""
    pause = dt.timedelta(minutes=care.consecutive_break_minutes)
    line.talk_run_seconds = talk_run(
        line.talk_run_seconds or 0, line.talk_ended_at, line.status_changed_at, now, pause
    )
    line.talk_ended_at = now
    limit = care.max_consecutive_talk_minutes
    if limit is not None and line.talk_run_seconds >= limit * 60:
        owe(line, care.consecutive_break_minutes * 60, AwayReason.TALK_LIMIT)
        line.talk_run_seconds = 0  # the break is the pause


def take(line: Line, now: dt.datetime) -> tuple[AwayReason, dt.datetime] | None:
    """The owed break, to start now: its reason and end (None: nothing owed)."""
    seconds = line.break_owed_seconds or 0
    if seconds <= 0:
        return None
    reason = AwayReason(line.break_reason or AwayReason.HARD_CALL)
    line.break_owed_seconds, line.break_reason = 0, None
    return reason, now + dt.timedelta(seconds=seconds)


def forget(line: Line) -> None:
    """Signing out: nothing is owed to a line nobody staffs (the pause counts as one)."""
    line.break_owed_seconds, line.break_reason = 0, None
