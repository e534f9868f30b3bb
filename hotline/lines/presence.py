"""A line's presence: how it moves, stamped and kept (`line_presence_log`).

offline -> ready (the counsellor signs in, or a desk staffed by schedule) -> reserved (a pass
gives it a caller) -> ringing (the caller is put through) -> talking (the counsellor pressed
1) -> wrap_up (writing the record; ends by time, by the saved record, or by "ready") -> ready,
or away for a break it owes (a hard call, the talk limit: `breaks`) until the break is over.
An offer not accepted returns the line to ready, after a short rest; `missed_limit` of them in
a row make it away (reason: missed calls) until its counsellor comes back. A counsellor who
signs out or steps away during a call leaves when the call (and its wrap-up) ends.
Only flushes; the caller's transaction commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import Care, Staffing
from hotline.lines import breaks
from hotline.lines.models import (
    CARE_BREAKS,
    ON_A_CALL,
    AwayReason,
    Line,
    LinePresenceLog,
    Presence,
)
from hotline.uow import outbox


@dataclass(frozen=True, slots=True)
class LineFact:
    """A fact for the live metrics, published after commit (see hotline.metrics.observe)."""

    # "wrap_up" (seconds it lasted), "missed_away" (a line paused by missed offers),
    # "hard_call" (reason: who marked it), "care_break" (reason: hard_call or talk_limit)
    kind: str
    org: str
    seconds: float | None = None
    reason: str | None = None


def log_row(line_id: str, org_id: str, presence: str, reason: str | None, at: dt.datetime) -> dict:
    return dict(line_id=line_id, org_id=org_id, presence=presence, reason=reason, at=at)


def set_presence(
    session: AsyncSession,
    line: Line,
    presence: Presence,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """Move the line to `presence` (no-op if it is there already), and keep the change."""
    if line.status == presence and line.away_reason == reason:
        return
    line.status, line.away_reason, line.status_changed_at = presence, reason, now
    if presence != Presence.WRAP_UP:
        line.wrap_up_until = None
    if presence != Presence.AWAY or reason not in CARE_BREAKS:
        line.break_until = None
    if presence == Presence.OFFLINE:
        breaks.forget(line)
    if presence == Presence.READY and line.call_id is None:
        line.idle_since = now  # idle from now: the line idle longest is offered first
    session.add(LinePresenceLog(**log_row(line.id, line.org_id, presence, reason, now)))


def settle(session: AsyncSession, line: Line, now: dt.datetime) -> None:
    """An idle line goes where its counsellor asked (offline, away), or back to ready."""
    target = Presence(line.after_call) if line.after_call else Presence.READY
    reason = line.after_reason
    line.after_call = line.after_reason = None
    if target == Presence.READY and start_break(session, line, now):
        return
    set_presence(session, line, target, now, reason)


def start_break(session: AsyncSession, line: Line, now: dt.datetime) -> bool:
    """An idle line takes the break it owes (away, reason hard_call or talk_limit, until
    `break_until`); False when it owes none."""
    if line.call_id is not None:
        return False
    taken = breaks.take(line, now)
    if taken is None:
        return False
    reason, until = taken
    set_presence(session, line, Presence.AWAY, now, reason)
    line.break_until = until
    outbox(session).append(LineFact("care_break", line.org_id, reason=reason))
    return True


def break_over(session: AsyncSession, line: Line, now: dt.datetime) -> None:
    """The break is over: the line is ready again."""
    if line.status == Presence.AWAY and line.away_reason in CARE_BREAKS:
        set_presence(session, line, Presence.READY, now)


def released(
    session: AsyncSession,
    line: Line,
    staffing: Staffing,
    now: dt.datetime,
    *,
    call_id: int,
    missed: bool,
    cooldown: dt.timedelta,
    rest: dt.timedelta | None = None,
    care: Care | None = None,
) -> None:
    """The call let go of the line: wrap-up after a conversation, a count after a miss, a
    short rest (`rest`, no miss) when its counsellor is still on the phone hearing why; the
    talk counted towards the organisation's limit (`care`)."""
    was = line.status
    line.call_id = None
    if was == Presence.TALKING:
        line.last_call_id = call_id  # the call its counsellor may mark hard, or write up
        breaks.after_talk(line, care or Care(), now)
    if was == Presence.TALKING and staffing.wrap_up_seconds > 0:
        set_presence(session, line, Presence.WRAP_UP, now)
        line.wrap_up_until = now + dt.timedelta(seconds=staffing.wrap_up_seconds)
        return
    if missed:
        line.missed_in_row += 1
        line.cooldown_until = now + cooldown
        if line.missed_in_row >= staffing.missed_limit:
            line.after_call = line.after_reason = None
            set_presence(session, line, Presence.AWAY, now, AwayReason.MISSED)
            outbox(session).append(LineFact("missed_away", line.org_id))
            return
    elif rest is not None:
        line.cooldown_until = now + rest
    if was in ON_A_CALL or was == Presence.WRAP_UP:
        settle(session, line, now)


def end_wrap_up(session: AsyncSession, line: Line, now: dt.datetime) -> None:
    """The record is written (saved, "ready", or the time is up): back to ready."""
    if line.status != Presence.WRAP_UP:
        return
    seconds = max((now - line.status_changed_at).total_seconds(), 0.0)
    outbox(session).append(LineFact("wrap_up", line.org_id, seconds))
    settle(session, line, now)


def extend_wrap_up(line: Line, staffing: Staffing, seconds: int, now: dt.datetime) -> None:
    """More time to write, up to the organisation's maximum from the start of the wrap-up."""
    if line.status != Presence.WRAP_UP or line.wrap_up_until is None:
        return
    limit = line.status_changed_at + dt.timedelta(seconds=staffing.wrap_up_max_seconds)
    line.wrap_up_until = min(max(line.wrap_up_until, now) + dt.timedelta(seconds=seconds), limit)


def counsellor_sets(
    session: AsyncSession,
    line: Line,
    target: Presence,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """The counsellor signs in (ready), steps away (away, with a reason) or signs out."""
    if target == Presence.READY:
        line.missed_in_row = 0  # back at the desk: the misses are behind them
        if line.status == Presence.AWAY and start_break(session, line, now):
            return  # back from a meeting: the break owed comes first
    if line.status in ON_A_CALL or line.status == Presence.WRAP_UP:
        # During a call this takes effect when it ends; during wrap-up, at once.
        line.after_call = None if target == Presence.READY else target
        line.after_reason = reason if target == Presence.AWAY else None
        end_wrap_up(session, line, now)
        return
    set_presence(session, line, target, now, reason if target == Presence.AWAY else None)
