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
        assert state == S.RINGING and isinstance(event, lc.Accepted) and event.line_id == LINE
    counts = [e.kind for e in t.effects if isinstance(e, lc.Count)]
    assert counts.count("connected") <= 1
    json.dumps(lc.dump_decision(t.decision))  # storable for a retry


EXPECTED = {
    # (state, event) -> (next state or None for "stays", decision)
    (S.MENU, "option chosen, staffed"): (S.WAITING, lc.Enqueue),
    (S.MENU, "option chosen, nobody on duty"): (S.CLOSED, lc.Closed),
    (S.MENU, "hold poll"): (S.WAITING, lc.Hold),  # lost state: joins the hold's queue
    (S.MENU, "status: final"): (S.ABANDONED, lc.Nothing),
    (S.WAITING, "hold poll"): (None, lc.Hold),
    (S.WAITING, "hold poll, nobody on duty"): (S.CLOSED, lc.Closed),
    (S.WAITING, "line reserved (pass)"): (S.RESERVED, lc.LeaveQueue),
    (S.WAITING, "queue: hangup"): (S.ABANDONED, lc.Nothing),
    (S.WAITING, "queue: leave"): (S.ABANDONED, lc.Backup),  # the hold failed: the backup
    (S.WAITING, "queue: failed"): (None, lc.Enqueue),
    (S.RESERVED, "hold poll"): (None, lc.LeaveQueue),
    (S.RESERVED, "reservation expired"): (S.WAITING, lc.Nothing),
    (S.RESERVED, "queue: leave"): (S.RINGING, lc.Dial),
    (S.RESERVED, "queue: failed"): (S.WAITING, lc.Enqueue),
    (S.RINGING, "whisper answered"): (None, lc.Whisper),
    (S.RINGING, "accepted (1)"): (S.CONNECTED, lc.Bridge),
    (S.RINGING, "refused (other key, none)"): (None, lc.Decline),
    (S.RINGING, "dial: completed"): (S.WAITING, lc.Enqueue),  # voicemail: not accepted
    (S.RINGING, "dial: busy, no-answer, failed"): (S.WAITING, lc.Enqueue),
    (S.RINGING, "dial: canceled"): (S.ABANDONED, lc.Nothing),
    (S.RINGING, "silent too long (sweep)"): (S.ABANDONED, lc.Nothing),
    (S.CONNECTED, "accepted (1)"): (None, lc.Bridge),  # a retried accept
    (S.CONNECTED, "dial: completed"): (S.COMPLETED, lc.Goodbye),
    (S.CONNECTED, "status: final"): (S.COMPLETED, lc.Nothing),
    (S.CONNECTED, "silent too long (sweep)"): (None, lc.Nothing),  # talks may be long
    (S.CONNECTED, "accepted on another line"): (None, lc.Decline),
    (S.WAITING, "dial result of another line"): (None, lc.Enqueue),  # a late result
    (S.ABANDONED, "hold poll"): (None, lc.LeaveQueue),  # swept, still holding: the backup
    (S.CLOSED, "hold poll"): (None, lc.Closed),
    (S.MENU, "status: not final"): (None, lc.Nothing),
}


@pytest.mark.parametrize(("state", "name"), list(EXPECTED), ids=[f"{s}-{n}" for s, n in EXPECTED])
def test_the_lifecycle_table(state: S, name: str) -> None:
    event = dict(ALL_EVENTS)[name]
    t = step(table.typical_call(state), event)
    want_state, want_decision = EXPECTED[state, name]
    moved = t.state if t.state != state else None
    assert (moved, type(t.decision)) == (want_state, want_decision)


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


def test_the_readme_shows_the_lifecycle_of_the_code() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table.markdown() in readme, "README's lifecycle table is stale: paste table.markdown()"


# -- a random walk: many events in any order ----------------------------------------------


class CallMachine(RuleBasedStateMachine):
    """One call and two lines; the pass may only reserve a free line, as the router does."""

    def __init__(self) -> None:
        super().__init__()
        self.call = lc.CallView(state=S.MENU)
        self.now = NOW
        self.held: dict[str, bool] = {"line-1": False, "line-2": False}
        self.connected = 0
        self.ended_as: str | None = None

    def apply(self, event: lc.Event) -> None:
        self.now += dt.timedelta(seconds=7)
        before = self.call
        t = lc.transition(before, event, self.now)
        after = before.with_changes(t.changes)
        for effect in t.effects:
            if isinstance(effect, lc.ReleaseLine):
                assert self.held[effect.line_id], "a line released twice, or never held"
                assert effect.line_id == before.line_id
                self.held[effect.line_id] = False
            elif isinstance(effect, lc.Count) and effect.kind == "connected":
                self.connected += 1
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
        if self.call.state != S.WAITING:  # the pass only selects waiting callers
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

    @invariant()
    def connected_at_most_once(self) -> None:
        assert self.connected <= 1

    @invariant()
    def a_line_is_held_exactly_while_the_call_is_on_it(self) -> None:
        on = self.call.line_id
        assert (on is not None) == (self.call.state in lc.ON_A_LINE)
        assert {k for k, v in self.held.items() if v} == ({on} if on else set())

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
