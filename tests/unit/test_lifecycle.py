"""The call lifecycle: every state x every event, the invariants, and a random walk."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hotline.calls import lifecycle as lc
from hotline.calls import table
from hotline.calls.lifecycle import CallState as S

NOW = table.NOW
LINE = table.LINE
ALL_EVENTS = list(table.EVENTS.items()) + [
    ("accepted on another line", lc.Accepted("line-2", "org")),
    ("dial result of another line", lc.DialEnded("line-2", lc.DialOutcome.BUSY)),
    ("status: not final", lc.StatusReported("in-progress", 0, final=False)),
    ("arrived", lc.Arrived()),
]
CASES = [(s, name, e) for s in S for name, e in ALL_EVENTS]
# The counts of how a call ended (a call turned away in the menu is counted as such).
ENDS = ("completed", "abandoned", "closed", "turned_away")


def step(call: lc.CallView, event: lc.Event, now: dt.datetime = NOW) -> lc.Transition:
    return lc.transition(call, event, now)


@pytest.mark.parametrize(("state", "name", "event"), CASES, ids=[f"{s}-{n}" for s, n, _ in CASES])
def test_every_state_and_event_keeps_the_invariants(state: S, name: str, event: lc.Event) -> None:
    call = table.typical_call(state)
    t = step(call, event)
    after = call.with_changes(t.changes)
    if state in lc.TERMINAL:
        assert t.changes == {} and t.effects == ()  # a terminal call never changes
    released = [e.line_id for e in t.effects if isinstance(e, lc.ReleaseLine)]
    assert released == ([call.line_id] if call.line_id and after.line_id is None else [])
    if after.state in lc.TERMINAL:
        assert after.line_id is None  # no line is held by a call that has ended
    if after.state == S.CONNECTED and state != S.CONNECTED:
        # connected only when the counsellor accepts, or (a callback) the caller presses 1
        accepted = state == S.RINGING and isinstance(event, lc.Accepted)
        called = state == S.CALLING and isinstance(event, lc.CallerAnswered)
        assert (accepted or called) and after.line_id == LINE
    counts = [(e.kind, e.stage) for e in t.effects if isinstance(e, lc.Count)]
    assert counts.count(("connected", None)) + counts.count(("callback", "connected")) <= 1
    if after.state in lc.TERMINAL or after.state == S.CONNECTED:
        assert "callback_number" not in t.changes or t.changes["callback_number"] is None
    # The figures: a call is counted once as it ends (completed, abandoned, closed); a
    # callback once as its first call ends when it is booked, its own end counted apart.
    ends = [e.kind for e in t.effects if isinstance(e, lc.Count) and e.kind in ENDS]
    if state not in lc.TERMINAL and after.state in lc.TERMINAL and call.callback_at is None:
        turned = t.changes.get("end_stage") in lc.TURNED_AWAY
        assert ends == ["turned_away" if turned else str(after.state)]
    elif state == S.WAITING and after.state == S.CALLBACK:
        assert ends == ["abandoned"]
    else:
        assert ends == []
    # storable for a retry, which hears the same answer
    assert lc.load_decision(json.loads(json.dumps(lc.dump_decision(t.decision)))) == t.decision


def noticed(t: lc.Transition) -> list[str]:
    """The effects of a transition as someone would notice them: a line let go (and whether
    it rests first), a line's presence, a routing pass, a count in the figures, a phone rung."""
    out = []
    for e in t.effects:
        match e:
            case lc.ReleaseLine():
                out.append(
                    "release" + ("+cool" if e.cooldown else "") + ("+rest" if e.rest else "")
                )
            case lc.MarkLine():
                out.append(f"line {e.presence}")
            case lc.RunPass():
                out.append("pass")
            case lc.Count():
                out.append(f"count {e.kind}" + (f"/{e.stage}" if e.stage else ""))
            case lc.RingCounsellor():
                out.append("ring counsellor")
            case lc.RingCaller():
                out.append("ring caller")
            case lc.Dequeue():
                out.append("dequeue")
    return sorted(out)


# A hold poll, state by state (the staffed flag: the option's lines as the poll saw them):
# (next state or None for "stays", what the caller hears, whether the call is marked seen).
POLLED: dict[tuple[S, bool | None], tuple[S | None, type, bool]] = {}
for _staffed in (None, True, False):
    POLLED |= {
        (S.MENU, _staffed): (S.CLOSED, lc.Closed, False)
        if _staffed is False
        else (S.WAITING, lc.Hold, True),  # lost state: the caller is on hold, so they chose
        (S.WAITING, _staffed): (S.CLOSED, lc.Closed, True)
        if _staffed is False
        else (None, lc.Hold, True),
        (S.RESERVED, _staffed): (None, lc.LeaveQueue, True),  # a line is held: take it
        # Late polls of a call a line has: it holds on, and is not swept as silent.
        (S.RINGING, _staffed): (None, lc.Hold, True),
        (S.CONNECTED, _staffed): (None, lc.Hold, True),
        # A callback's first call hung up as booked: a late poll hears goodbye.
        (S.CALLBACK, _staffed): (None, lc.Goodbye, False),
        (S.CALLING, _staffed): (None, lc.Goodbye, False),
        # Ended while on hold: leave the hold for the backup, never hold for ever.
        (S.COMPLETED, _staffed): (None, lc.LeaveQueue, False),
        (S.ABANDONED, _staffed): (None, lc.LeaveQueue, False),
        (S.CLOSED, _staffed): (None, lc.Closed, False),
    }


@pytest.mark.parametrize("staffed", [None, True, False])
@pytest.mark.parametrize("state", list(S))
def test_every_hold_poll_answers_the_caller_and_marks_a_holding_call_seen(
    state: S, staffed: bool | None
) -> None:
    """The store marks a holding call seen as it reads it for a poll (`store.polled`): right
    only if every poll's transition of such a call would have written the same, whatever it
    decides. Every other state is answered as written in POLLED."""
    t = step(table.typical_call(state), lc.HoldPolled("loneliness", None, 0, staffed))
    want_state, want_decision, seen = POLLED[state, staffed]
    moved = t.state if t.state != state else None
    assert (moved, type(t.decision)) == (want_state, want_decision)
    assert (t.changes.get("last_seen_at") == NOW) == seen
    if state in lc.SEEN_BY_POLL:
        assert seen, "a holding call must be marked seen by every poll"


# (state, event) -> (next state or None for "stays", decision, effects as `noticed` names
# them). Counts: the figures published per period (selected, closed, connected, completed,
# abandoned with the stage the caller was in, forced, callback by stage).
EXPECTED: dict[tuple[S, str], tuple[S | None, type, str]] = {
    (S.MENU, "arrived"): (None, lc.Greet, ""),
    (S.MENU, "key pressed (menu again)"): (None, lc.AskAgain, ""),
    (S.MENU, "option chosen, staffed"): (S.WAITING, lc.Enqueue, "count selected, pass"),
    (S.MENU, "option chosen, nobody on duty"): (
        S.CLOSED,
        lc.Closed,
        "count closed, count selected",
    ),
    # lost state: the caller is on hold, so they chose; they join the hold's queue
    (S.MENU, "hold poll"): (S.WAITING, lc.Hold, "count selected, pass"),
    (S.MENU, "status: final"): (S.ABANDONED, lc.Nothing, "count abandoned/menu"),
    (S.MENU, "status: not final"): (None, lc.Nothing, ""),
    (S.MENU, "silent too long (sweep)"): (S.ABANDONED, lc.Nothing, "count abandoned/menu"),
    (S.MENU, "ended by force (Twilio, max talk, operator)"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/menu, count forced/operator",
    ),
    (S.MENU, "queue: leave"): (None, lc.Backup, ""),  # lost state: no queue known
    (S.MENU, "queue: failed"): (None, lc.Backup, ""),
    (S.MENU, "line reserved (pass)"): (None, lc.Nothing, ""),  # only waiting calls get lines
    (S.MENU, "dial: completed"): (None, lc.Goodbye, ""),  # lost state, after a conversation
    (S.MENU, "dial: busy, no-answer, failed"): (None, lc.Backup, ""),
    (S.WAITING, "option chosen, staffed"): (None, lc.Enqueue, ""),  # a retried choice
    (S.WAITING, "hold poll"): (None, lc.Hold, ""),
    (S.WAITING, "hold poll, nobody on duty"): (S.CLOSED, lc.Closed, "count closed"),
    (S.WAITING, "line reserved (pass)"): (S.RESERVED, lc.LeaveQueue, "dequeue"),
    (S.WAITING, "reservation expired"): (None, lc.Nothing, ""),
    (S.WAITING, "queue: hangup"): (S.ABANDONED, lc.Nothing, "count abandoned/waiting"),
    # the hold failed: the backup, and our queue is left for good
    (S.WAITING, "queue: leave"): (S.ABANDONED, lc.Backup, "count abandoned/waiting"),
    (S.WAITING, "queue: failed"): (None, lc.Enqueue, "pass"),
    # not our doing (Twilio's console): back in the queue, nothing counted or let go
    (S.WAITING, "queue: redirected (not by us)"): (None, lc.Enqueue, ""),
    (S.RESERVED, "queue: redirected (not by us)"): (S.RINGING, lc.Dial, "line ringing"),
    (S.WAITING, "status: final"): (S.ABANDONED, lc.Nothing, "count abandoned/waiting"),
    (S.WAITING, "silent too long (sweep)"): (S.ABANDONED, lc.Nothing, "count abandoned/waiting"),
    (S.WAITING, "ended by force (Twilio, max talk, operator)"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/waiting, count forced/operator",
    ),
    (S.WAITING, "dial result of another line"): (None, lc.Enqueue, ""),  # a late result
    (S.RESERVED, "hold poll"): (None, lc.LeaveQueue, ""),
    (S.RESERVED, "hold poll, nobody on duty"): (None, lc.LeaveQueue, ""),  # a line is held
    (S.RESERVED, "line reserved (pass)"): (None, lc.Nothing, ""),  # never two lines
    (S.RESERVED, "reservation expired"): (S.WAITING, lc.Nothing, "release"),
    (S.RESERVED, "queue: leave"): (S.RINGING, lc.Dial, "line ringing"),
    (S.RESERVED, "queue: failed"): (S.WAITING, lc.Enqueue, "pass, release"),
    (S.RESERVED, "queue: hangup"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/waiting, pass, release",
    ),
    (S.RESERVED, "status: final"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/waiting, pass, release",
    ),
    (S.RINGING, "whisper answered"): (None, lc.Whisper, ""),
    (S.RINGING, "accepted (1)"): (S.CONNECTED, lc.Bridge, "count connected, line talking"),
    (S.RINGING, "accepted on another line"): (None, lc.Decline, ""),
    (S.RINGING, "refused (other key, none)"): (None, lc.Decline, ""),
    # not accepted (voicemail too): the line rests, the caller is back at the head
    (S.RINGING, "dial: completed"): (S.WAITING, lc.Enqueue, "pass, release+cool"),
    (S.RINGING, "dial: busy, no-answer, failed"): (S.WAITING, lc.Enqueue, "pass, release+cool"),
    (S.RINGING, "dial: canceled"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/ringing, pass, release",
    ),
    (S.RINGING, "dial result of another line"): (None, lc.Enqueue, ""),  # a late result
    (S.RINGING, "status: final"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/ringing, pass, release",
    ),
    (S.RINGING, "silent too long (sweep)"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/ringing, pass, release",
    ),
    (S.RINGING, "ended by force (Twilio, max talk, operator)"): (
        S.ABANDONED,
        lc.Nothing,
        "count abandoned/ringing, count forced/operator, pass, release",
    ),
    (S.RINGING, "queue: leave"): (None, lc.Backup, ""),
    (S.CONNECTED, "accepted (1)"): (None, lc.Bridge, ""),  # a retried accept
    (S.CONNECTED, "accepted on another line"): (None, lc.Decline, ""),
    (S.CONNECTED, "dial: completed"): (S.COMPLETED, lc.Goodbye, "count completed, pass, release"),
    (S.CONNECTED, "dial: busy, no-answer, failed"): (
        S.COMPLETED,
        lc.Goodbye,
        "count completed, pass, release",
    ),
    (S.CONNECTED, "status: final"): (S.COMPLETED, lc.Nothing, "count completed, pass, release"),
    (S.CONNECTED, "queue: hangup"): (S.COMPLETED, lc.Nothing, "count completed, pass, release"),
    (S.CONNECTED, "silent too long (sweep)"): (None, lc.Nothing, ""),  # talks may be long
    (S.CONNECTED, "ended by force (Twilio, max talk, operator)"): (
        S.COMPLETED,
        lc.Nothing,
        "count completed, count forced/operator, pass, release",
    ),
    (S.ABANDONED, "hold poll"): (None, lc.LeaveQueue, ""),  # swept, still holding: the backup
    (S.ABANDONED, "accepted (1)"): (None, lc.Decline, ""),
    (S.ABANDONED, "ended by force (Twilio, max talk, operator)"): (None, lc.Nothing, ""),
    (S.COMPLETED, "status: final"): (None, lc.Nothing, ""),
    # Ended by the conference's end first: the caller's dial result still hears goodbye.
    (S.COMPLETED, "dial: completed"): (None, lc.Goodbye, ""),
    (S.CLOSED, "hold poll"): (None, lc.Closed, ""),
    (S.CLOSED, "option chosen, staffed"): (None, lc.Closed, ""),
    # callback: the request keeps its place; the counsellor first, then the caller
    (S.WAITING, "callback confirmed (hold key)"): (
        S.CALLBACK,
        lc.CallbackBooked,
        "count abandoned/callback, count callback/requested",
    ),
    (S.RESERVED, "callback confirmed (hold key)"): (None, lc.LeaveQueue, ""),  # take the line
    (S.WAITING, "callback: caller pressed 1"): (None, lc.Decline, ""),  # not a callback
    (S.CALLBACK, "hold poll"): (None, lc.Goodbye, ""),
    (S.CALLBACK, "status: final"): (None, lc.Nothing, ""),  # the first call ended, as booked
    (S.CALLBACK, "queue: hangup"): (None, lc.Nothing, ""),
    (S.CALLBACK, "line reserved (pass)"): (S.RINGING, lc.Nothing, "ring counsellor"),
    (S.CALLBACK, "silent too long (sweep)"): (None, lc.Nothing, ""),  # it does not poll
    (S.CALLBACK, "callback: caller pressed 1"): (None, lc.Decline, ""),
    (S.CALLBACK, "callback: past its time (sweep)"): (
        S.ABANDONED,
        lc.Nothing,
        "count callback/expired",
    ),
    (S.CALLBACK, "ended by force (Twilio, max talk, operator)"): (
        S.ABANDONED,
        lc.Nothing,
        "count callback/failed, count forced/operator",
    ),
    (S.CALLING, "accepted (1)"): (None, lc.CallCaller, ""),  # a retried accept
    (S.CALLING, "callback: Twilio refused to ring the line"): (None, lc.Nothing, ""),
    (S.CALLING, "status: final"): (None, lc.Nothing, ""),
    (S.CALLING, "callback: caller pressed 1"): (
        S.CONNECTED,
        lc.JoinCounsellor,
        "count callback/connected, line talking",
    ),
    # the caller not reached: tried again later; the counsellor hears why, the line rests
    (S.CALLING, "callback: call to the caller ended"): (
        S.CALLBACK,
        lc.Nothing,
        "pass, release+rest",
    ),
    (S.CALLING, "dial: completed"): (S.CALLBACK, lc.Nothing, "pass, release"),  # hung up
    (S.CALLING, "silent too long (sweep)"): (S.CALLBACK, lc.Nothing, "pass, release+rest"),
    (S.CALLING, "ended by force (Twilio, max talk, operator)"): (
        S.ABANDONED,
        lc.Nothing,
        "count callback/failed, count forced/operator, pass, release",
    ),
    # Turned away in the menu (a flagged caller, a withheld number): counted as such, and
    # nowhere once past the menu.
    (S.MENU, "turned away (flagged, withheld number)"): (
        S.ABANDONED,
        lc.Nothing,
        "count turned_away/blocked",
    ),
    (S.WAITING, "turned away (flagged, withheld number)"): (None, lc.Nothing, ""),
}


@pytest.mark.parametrize(("state", "name"), list(EXPECTED), ids=[f"{s}-{n}" for s, n in EXPECTED])
def test_the_lifecycle_table(state: S, name: str) -> None:
    event = dict(ALL_EVENTS)[name]
    t = step(table.typical_call(state), event)
    want_state, want_decision, want_effects = EXPECTED[state, name]
    moved = t.state if t.state != state else None
    assert (moved, type(t.decision)) == (want_state, want_decision)
    assert noticed(t) == sorted(e for e in want_effects.split(", ") if e)


def callback_ringing() -> lc.CallView:
    return dataclasses.replace(table.typical_call(S.RINGING), callback_at=NOW)


def test_a_callback_rings_the_counsellor_first_then_the_caller() -> None:
    waiting = table.typical_call(S.WAITING)
    until = NOW + dt.timedelta(hours=3)
    booked = step(waiting, lc.CallbackAsked("sealed-number", until))
    call = waiting.with_changes(booked.changes)
    assert call.state == S.CALLBACK and call.waiting_since == waiting.waiting_since
    assert booked.decision == lc.CallbackBooked(None, until)
    kinds = {(e.kind, e.stage) for e in booked.effects if isinstance(e, lc.Count)}
    assert kinds == {("abandoned", "callback"), ("callback", "requested")}
    reserved = step(call, lc.LineReserved(LINE))
    assert reserved.effects == (lc.RingCounsellor(LINE),)  # nobody calls the caller yet
    call = call.with_changes(reserved.changes)
    accepted = step(call, lc.Accepted(LINE, "org"))
    assert accepted.decision == lc.CallCaller(LINE) and lc.RingCaller(1) in accepted.effects
    call = call.with_changes(accepted.changes)
    assert call.state == S.CALLING and call.line_id == LINE
    joined = step(call, lc.CallerAnswered(1))
    assert joined.decision == lc.JoinCounsellor(LINE, None)
    assert joined.changes["callback_number"] is None  # the number is not needed any more
    call = call.with_changes(joined.changes)
    done = step(call, lc.CallerLegEnded(1, lc.DialOutcome.COMPLETED))
    assert done.state == S.COMPLETED and lc.ReleaseLine(LINE) in done.effects


def test_a_caller_not_reached_is_tried_again_then_the_request_is_dropped() -> None:
    limits = lc.Limits(callback_retries=2, callback_retry_after=dt.timedelta(minutes=5))
    call = dataclasses.replace(table.typical_call(S.CALLING), callback_at=NOW)
    for attempt in (1, 2):
        t = lc.transition(call, lc.CallerLegEnded(attempt, lc.DialOutcome.NO_ANSWER), NOW, limits)
        assert t.state == S.CALLBACK and t.changes["callback_tries"] == attempt
        assert t.changes["callback_after"] == NOW + dt.timedelta(minutes=5)
        # The counsellor did no wrong (no miss), but hears it still: the line rests a moment.
        assert t.effects[0] == lc.ReleaseLine(LINE, cooldown=False, rest=True)
        call = dataclasses.replace(call.with_changes(t.changes), state=S.CALLING, line_id=LINE)
    last = lc.transition(call, lc.CallerLegEnded(3, lc.DialOutcome.BUSY), NOW, limits)
    assert last.state == S.ABANDONED and last.changes["end_stage"] == lc.CALLBACK_FAILED
    assert last.changes["callback_number"] is None
    assert lc.Count("callback", "none", option="loneliness", stage="failed") in last.effects
    stale = lc.transition(call, lc.CallerLegEnded(1, lc.DialOutcome.NO_ANSWER), NOW, limits)
    assert stale.changes == {}  # a late status of an earlier try changes nothing


def test_a_counsellor_waiting_for_a_caller_not_reached_is_taken_out_of_the_conference() -> None:
    ringing = callback_ringing()
    accepted = step(ringing, lc.Accepted(LINE, "org", "CA7"))
    call = ringing.with_changes(accepted.changes)
    assert (call.state, call.leg_sid) == (S.CALLING, "CA7")  # the leg that waits
    for event in (lc.CallerLegEnded(1, lc.DialOutcome.NO_ANSWER), lc.WentSilent()):
        t = step(call, event)
        assert lc.FreeCounsellor("CA7", LINE) in t.effects and t.changes["leg_sid"] is None
    # The counsellor hung up themselves: nobody to take out.
    hung_up = step(call, lc.DialEnded(LINE, lc.DialOutcome.COMPLETED))
    assert not [e for e in hung_up.effects if isinstance(e, lc.FreeCounsellor)]


def test_a_counsellor_who_misses_a_callback_rests_and_the_request_keeps_its_place() -> None:
    t = step(callback_ringing(), lc.DialEnded(LINE, lc.DialOutcome.NO_ANSWER))
    assert t.state == S.CALLBACK and lc.ReleaseLine(LINE, cooldown=True) in t.effects
    assert "waiting_since" not in t.changes and "callback_tries" not in t.changes
    unreached = step(callback_ringing(), lc.CounsellorUnreached(LINE))
    assert unreached.state == S.CALLBACK and unreached.changes["callback_after"] > NOW


def test_a_requeued_call_keeps_its_place_and_its_line_rests() -> None:
    call = table.typical_call(S.RINGING)
    t = step(call, lc.DialEnded(LINE, lc.DialOutcome.NO_ANSWER))
    assert t.changes["state"] == S.WAITING and "waiting_since" not in t.changes
    assert lc.ReleaseLine(LINE, cooldown=True) in t.effects and lc.RunPass() in t.effects


def test_joining_again_keeps_the_first_waiting_time() -> None:
    earlier = NOW - dt.timedelta(minutes=5)
    call = lc.CallView(state=S.MENU, waiting_since=earlier)
    t = step(call, lc.OptionChosen("loneliness", None, 0, staffed=True))
    assert t.changes["waiting_since"] == earlier


def test_queue_failures_are_capped_then_the_backup_serves() -> None:
    limits = lc.Limits(queue_errors=2, queue_error_window=dt.timedelta(seconds=60))
    call = table.typical_call(S.WAITING)
    failed = lc.QueueLeft(lc.QueueOutcome.FAILED, "queue-full")
    decisions = []
    for i in range(3):
        t = lc.transition(call, failed, NOW + dt.timedelta(seconds=i), limits)
        call = call.with_changes(t.changes)
        decisions.append(type(t.decision))
    assert decisions == [lc.Enqueue, lc.Enqueue, lc.Backup]
    assert call.state == S.ABANDONED and call.line_id is None  # left our queue for the backup
    # Failures far apart are not a loop: the count starts again after the window.
    call = table.typical_call(S.WAITING)
    for i in range(3):
        t = lc.transition(call, failed, NOW + dt.timedelta(minutes=2 * i), limits)
        call = call.with_changes(t.changes)
        assert isinstance(t.decision, lc.Enqueue)


def test_a_capped_queue_failure_with_a_line_held_dials_it_directly() -> None:
    limits = lc.Limits(queue_errors=0)
    t = lc.transition(
        table.typical_call(S.RESERVED), lc.QueueLeft(lc.QueueOutcome.FAILED), NOW, limits
    )
    assert t.state == S.RINGING and t.decision == lc.Dial(LINE, None)


def test_step_keys_tell_a_retry_from_a_new_offer() -> None:
    call = table.typical_call(S.RESERVED)
    leave = lc.QueueLeft(lc.QueueOutcome.LEAVE, "leave")
    first = lc.step_key(call, leave, "line-1:100")
    assert first == lc.step_key(call, leave, "line-1:100")  # a retry
    assert first != lc.step_key(call, leave, "line-1:200")  # the same line, offered again
    assert lc.step_key(call, lc.HoldPolled("o", None, 0, None)) is None  # polls repeat
    menu = lc.MenuAnswered("m", 1, "9")
    assert lc.step_key(call, menu) != lc.step_key(call, lc.MenuAnswered("m", 1, "8"))


def test_decisions_survive_the_event_log() -> None:
    for d in (lc.Dial(LINE, "en"), lc.Enqueue("o", None), lc.Closed("ko"), lc.Goodbye(None)):
        assert lc.load_decision(json.loads(json.dumps(lc.dump_decision(d)))) == d
    assert lc.load_decision({"kind": "NoSuchThing"}) is None


def test_the_docs_show_the_lifecycle_of_the_code() -> None:
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "call-flow.md").read_text(encoding="utf-8")
    assert table.markdown() in doc, "docs/call-flow.md is stale: paste table.markdown()"


# -- a random walk: many events in any order ----------------------------------------------


class CallMachine(RuleBasedStateMachine):
    """One call and two lines; the pass may only reserve a free line, as the router does."""

    def __init__(self) -> None:
        super().__init__()
        self.call = lc.CallView(state=S.MENU)
        self.now = NOW
        self.held: dict[str, bool] = {"line-1": False, "line-2": False}
        self.connected = 0
        self.ends = 0  # counts of how the call ended (completed, abandoned, closed)
        self.ended_as: str | None = None

    limits = lc.Limits()  # the two-leg bridge (test_lifecycle_conference: the conference)

    def apply(self, event: lc.Event) -> None:
        self.now += dt.timedelta(seconds=7)
        before = self.call
        t = lc.transition(before, event, self.now, self.limits)
        after = before.with_changes(t.changes)
        for effect in t.effects:
            if isinstance(effect, lc.ReleaseLine):
                assert self.held[effect.line_id], "a line released twice, or never held"
                assert effect.line_id == before.line_id
                self.held[effect.line_id] = False
            elif isinstance(effect, lc.Count) and (effect.kind, effect.stage) in (
                ("connected", None),
                ("callback", "connected"),
            ):
                self.connected += 1
            if isinstance(effect, lc.Count) and effect.kind in ENDS:
                self.ends += 1
        if after.line_id is not None and after.line_id != before.line_id:
            assert not self.held[after.line_id], "a line given to two calls"
            self.held[after.line_id] = True
        if before.state in lc.TERMINAL:
            assert after == before, "a terminal call changed"
        if after.state in lc.TERMINAL and self.ended_as is None:
            self.ended_as = str(after.state)
        self.call = after

    @rule(staffed=st.booleans())
    def choose(self, staffed: bool) -> None:
        self.apply(lc.OptionChosen("loneliness", None, 0, staffed))

    @rule(staffed=st.sampled_from([None, True, False]))
    def poll(self, staffed: bool | None) -> None:
        self.apply(lc.HoldPolled("loneliness", None, 0, staffed))

    @precondition(lambda self: not all(self.held.values()))
    @rule(data=st.data())
    def reserve(self, data: st.DataObject) -> None:
        if self.call.state not in lc.QUEUED:  # the pass only selects queued callers
            return
        line = data.draw(st.sampled_from([k for k, v in self.held.items() if not v]))
        self.apply(lc.LineReserved(line))

    @rule()
    def expire(self) -> None:
        if self.call.state == S.RESERVED:  # the sweep selects expired reservations only
            self.apply(lc.ReservationExpired())

    @rule(outcome=st.sampled_from(list(lc.QueueOutcome)))
    def leave_queue(self, outcome: lc.QueueOutcome) -> None:
        self.apply(lc.QueueLeft(outcome, str(outcome)))

    @rule(line=st.sampled_from(["line-1", "line-2"]), accept=st.booleans())
    def whisper(self, line: str, accept: bool) -> None:
        self.apply(lc.Accepted(line, "org") if accept else lc.Refused(line))

    @rule(line=st.sampled_from(["line-1", "line-2"]), outcome=st.sampled_from(list(lc.DialOutcome)))
    def dial_ended(self, line: str, outcome: lc.DialOutcome) -> None:
        self.apply(lc.DialEnded(line, outcome))

    @rule(final=st.booleans())
    def status(self, final: bool) -> None:
        self.apply(lc.StatusReported("completed" if final else "ringing", 1, final))

    @rule()
    def silent(self) -> None:
        self.apply(lc.WentSilent())

    @rule()
    def ask_callback(self) -> None:
        self.apply(lc.CallbackAsked("sealed", self.now + dt.timedelta(hours=1)))

    @rule(line=st.sampled_from(["line-1", "line-2"]))
    def counsellor_unreached(self, line: str) -> None:
        self.apply(lc.CounsellorUnreached(line))

    @rule(attempt=st.integers(1, 3), answered=st.booleans())
    def caller_leg(self, attempt: int, answered: bool) -> None:
        if answered:
            self.apply(lc.CallerAnswered(attempt))
        else:
            self.apply(lc.CallerLegEnded(attempt, lc.DialOutcome.NO_ANSWER))

    @rule()
    def callback_expired(self) -> None:
        if self.call.state == S.CALLBACK:  # the sweep selects queued requests only
            self.apply(lc.CallbackExpired())

    @invariant()
    def connected_at_most_once(self) -> None:
        assert self.connected <= 1

    @invariant()
    def a_line_is_held_exactly_while_the_call_is_on_it(self) -> None:
        on = self.call.line_id
        handed = self.call.phase == lc.Phase.HANDED_OVER  # its line went to its wrap-up
        assert (on is not None) == (self.call.state in lc.ON_A_LINE and not handed)
        assert {k for k, v in self.held.items() if v} == ({on} if on else set())

    @invariant()
    def a_call_is_counted_once_as_it_ends(self) -> None:
        # A callback's first call ended when it was booked (counted abandoned, "callback").
        over = self.call.state in lc.TERMINAL or self.call.callback_at is not None
        assert self.ends == (1 if over else 0)

    @invariant()
    def the_end_never_changes(self) -> None:
        if self.ended_as is not None:
            assert self.call.state == self.ended_as


CallMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_call_machine = CallMachine.TestCase


def test_view_and_model_read_the_same_fields() -> None:
    from hotline.calls.models import Call

    columns = set(Call.__table__.columns.keys())
    assert {f.name for f in dataclasses.fields(lc.CallView)} <= columns


def test_a_counsellor_who_hangs_up_while_the_caller_is_called_uses_that_try() -> None:
    call = dataclasses.replace(table.typical_call(S.CALLING), callback_at=NOW)
    t = step(call, lc.DialEnded(LINE, lc.DialOutcome.COMPLETED))
    assert t.state == S.CALLBACK and t.changes["callback_tries"] == 1
    after = call.with_changes(t.changes)
    # The caller's leg of that try may still end or be answered: it changes nothing now.
    assert step(after, lc.CallerLegEnded(1, lc.DialOutcome.COMPLETED)).changes == {}
    assert isinstance(step(after, lc.CallerAnswered(1)).decision, lc.Decline)
    assert lc.step_key(after, lc.CallerLegEnded(2, lc.DialOutcome.NO_ANSWER)) == "caller-leg:2"
