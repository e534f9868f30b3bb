"""The call's conference in the lifecycle: every state and phase x every event with the
conference on (the service has Twilio's REST API), the invariants, and the moves the
conference's events and the in-call actions make."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from hotline.calls import lifecycle as lc
from hotline.calls import table
from hotline.calls.lifecycle import CallState as S
from hotline.calls.lifecycle import Phase as P
from tests.unit.test_lifecycle import ALL_EVENTS, ENDS, CallMachine, noticed

NOW = table.NOW
LINE = table.LINE
ON = table.CONFERENCE
EXTRA = [
    ("leg of another line", lc.LegEnded("line-2", lc.DialOutcome.BUSY, "CA9")),
    ("another leg of the line", lc.LegEnded(LINE, lc.DialOutcome.BUSY, "CA9")),
    ("caller joined", lc.ConferenceJoined("caller", "CA0", "CF2")),
    ("counsellor left the conference", lc.ConferenceLeft("counsellor", "CA1")),
    ("an earlier conference ended", lc.ConferenceEnded("CF9")),
    ("supervisor added", lc.PartyAdded(2, "supervisor", consult=False)),
]
EVENTS = ALL_EVENTS + EXTRA
CASES = [(s, p, name, e) for s, p in [*table.COLUMNS, (S.COMPLETED, None)] for name, e in EVENTS]


def step(call: lc.CallView, event: lc.Event, now: dt.datetime = NOW) -> lc.Transition:
    return lc.transition(call, event, now, ON)


def call_in(state: S, phase: P | None = None) -> lc.CallView:
    if state == S.CONNECTED and phase is None:
        phase = P.TALKING
    return table.typical_call(state, phase)


@pytest.mark.parametrize(
    ("state", "phase", "name", "event"), CASES, ids=[f"{s}-{p}-{n}" for s, p, n, _ in CASES]
)
def test_every_state_phase_and_event_keeps_the_invariants(
    state: S, phase: P | None, name: str, event: lc.Event
) -> None:
    call = call_in(state, phase)
    t = step(call, event)
    after = call.with_changes(t.changes)
    if state in lc.TERMINAL:
        assert t.changes == {} and t.effects == ()
    released = [e.line_id for e in t.effects if isinstance(e, lc.ReleaseLine)]
    assert released == ([call.line_id] if call.line_id and after.line_id is None else [])
    # A line is held while the call is on it, but for a call handed over to a third party.
    handed = after.state == S.CONNECTED and after.phase == P.HANDED_OVER
    assert (after.line_id is not None) == (after.state in lc.ON_A_LINE and not handed)
    # A phase only while connected (a connected call of the conference always has one), or
    # `requeue` while holding: the redirect out of the conference owed.
    assert phase_fits(after)
    if after.state == S.CONNECTED and state != S.CONNECTED:
        assert isinstance(event, (lc.Accepted, lc.CallerAnswered))
    counts = [(e.kind, e.stage) for e in t.effects if isinstance(e, lc.Count)]
    assert counts.count(("connected", None)) <= 1
    ends = [e.kind for e in t.effects if isinstance(e, lc.Count) and e.kind in ENDS]
    if state not in lc.TERMINAL and after.state in lc.TERMINAL and call.callback_at is None:
        turned = t.changes.get("end_stage") in lc.TURNED_AWAY
        assert ends == ["turned_away" if turned else str(after.state)]
    elif state != S.WAITING or after.state != S.CALLBACK:
        assert ends == []
    # Out of the conference (back in a queue): the caller's leg is redirected, once, but
    # where the caller's own dial ended (its answer is the Enqueue).
    requeued = [e for e in t.effects if isinstance(e, lc.Requeue)]
    left = state in (S.RINGING, S.CONNECTED) and after.state == S.WAITING
    redirect = left and not isinstance(event, lc.DialEnded | lc.QueueLeft)
    assert len(requeued) == (1 if redirect else 0)
    if left:
        assert after.conference_sid is None and after.leg_sid is None
        assert after.waiting_since == call.waiting_since  # the place in the queue kept
        # The redirect is owed until Twilio takes it (or the caller's dial answered).
        assert (after.phase == lc.REQUEUE) == redirect
    if phase == lc.REQUEUE and after.phase == lc.REQUEUE:
        assert t.effects == () or noticed(t) == ["dequeue"]  # waits, or is offered a line
    assert lc.load_decision(json.loads(json.dumps(lc.dump_decision(t.decision)))) == t.decision


def phase_fits(call: lc.CallView) -> bool:
    """A phase only while connected (a connected call of the conference always has one), or
    `requeue` while holding (the redirect out of the conference owed)."""
    if call.state in lc.HOLDING:
        return call.phase in (None, lc.REQUEUE)
    connected = call.state == S.CONNECTED and call.callback_at is None
    return (call.phase is not None) == connected


def test_the_caller_waits_in_the_conference_while_the_counsellor_is_rung() -> None:
    t = step(call_in(S.RESERVED), lc.QueueLeft(lc.QueueOutcome.LEAVE))
    assert t.decision == lc.Dial(LINE, None, conference=True)
    assert lc.RingLeg(LINE) in t.effects and t.state == S.RINGING
    # Without REST: the two-leg bridge, nothing pushed.
    bridged = lc.transition(call_in(S.RESERVED), lc.QueueLeft(lc.QueueOutcome.LEAVE), NOW)
    assert bridged.decision == lc.Dial(LINE, None) and noticed(bridged) == ["line ringing"]


def test_accepting_joins_the_conference_talking_with_the_leg_kept() -> None:
    ringing = call_in(S.RINGING)
    t = step(ringing, lc.Accepted(LINE, "org", "CA7"))
    assert t.decision == lc.Bridge(conference=True)
    assert t.changes["phase"] == P.TALKING and t.changes["leg_sid"] == "CA7"
    assert noticed(t) == ["count connected", "line talking"]
    retried = step(ringing.with_changes(t.changes), lc.Accepted(LINE, "org", "CA7"))
    assert retried.decision == lc.Bridge(conference=True) and retried.changes == {}


@pytest.mark.parametrize("outcome", list(lc.DialOutcome))
def test_a_counsellor_leg_that_fails_takes_the_caller_back_to_the_head_of_the_queue(
    outcome: lc.DialOutcome,
) -> None:
    t = step(call_in(S.RINGING), lc.LegEnded(LINE, outcome, "CA1"))
    assert t.state == S.WAITING and t.decision == lc.Enqueue("loneliness", None)
    assert noticed(t) == ["pass", "release+cool"] and lc.Requeue() in t.effects
    assert "waiting_since" not in t.changes and "priority" not in t.changes


def test_the_counsellor_dropping_while_the_caller_is_held_requeues_the_caller() -> None:
    held = call_in(S.CONNECTED, P.ON_HOLD)
    for event in (
        lc.LegEnded(LINE, lc.DialOutcome.COMPLETED, "CA1"),
        lc.ConferenceLeft("counsellor", "CA1"),
    ):
        t = step(held, event)
        assert t.state == S.WAITING and noticed(t) == ["pass", "release"]
        assert lc.Requeue() in t.effects
        after = held.with_changes(t.changes)
        assert after.connected_at == held.connected_at  # counted connected once
    talking = call_in(S.CONNECTED, P.TALKING)
    # Talking: the conference ends with the counsellor; the caller's dial result ends it.
    assert step(talking, lc.LegEnded(LINE, lc.DialOutcome.COMPLETED, "CA1")).changes == {}


def test_a_call_back_in_the_queue_after_a_conversation_is_counted_connected_once() -> None:
    talking = call_in(S.CONNECTED, P.TALKING)
    t = step(talking, lc.TransferredToQueue("child", "en"))
    waiting = talking.with_changes(t.changes)
    assert (waiting.state, waiting.option_id, waiting.language) == (S.WAITING, "child", "en")
    assert waiting.connected_at == talking.connected_at and waiting.phase == lc.REQUEUE
    assert noticed(t) == ["pass", "release"]  # no cooldown: the line goes to its wrap-up
    again = waiting.with_changes({"state": S.RINGING, "line_id": "line-2"})
    accepted = step(again, lc.Accepted("line-2", "org2", "CA8"))
    assert noticed(accepted) == ["line talking"]  # not counted connected again
    assert accepted.changes["connected_at"] == talking.connected_at
    # Hanging up while waiting again: completed, not abandoned.
    ended = step(waiting, lc.QueueLeft(lc.QueueOutcome.HANGUP))
    assert ended.state == S.COMPLETED and noticed(ended) == ["count completed"]


def test_the_phases_of_a_warm_transfer_and_a_handover() -> None:
    call = call_in(S.CONNECTED, P.TALKING)
    moves: list[tuple[lc.Event, P]] = [
        (lc.HoldSet(on=True), P.ON_HOLD),
        (lc.HoldSet(on=False), P.TALKING),
        (lc.PartyAdded(1, "partner", consult=True), P.CONSULTING),
        (lc.AllJoined(), P.THREE_WAY),
        (lc.HoldSet(on=True), P.CONSULTING),
        (lc.HoldSet(on=False), P.THREE_WAY),
        (lc.PartyGone(1), P.TALKING),
        (lc.PartyAdded(2, "support", consult=False), P.THREE_WAY),
        (lc.PartyAdded(3, "supervisor", consult=False), P.THREE_WAY),  # a second: no move
        (lc.CounsellorLeft(handover=True), P.HANDED_OVER),
    ]
    for event, phase in moves:
        call = call.with_changes(step(call, event).changes)
        assert (call.state, call.phase) == (S.CONNECTED, phase), event
    assert call.line_id is None  # the line went to its wrap-up at the handover
    # The third party leaving the caller alone ends the call, and the conference after commit.
    alone = step(call, lc.PartyGone(2))
    assert alone.state == S.COMPLETED and lc.EndConference() in alone.effects
    over = step(call, lc.ConferenceEnded("CF1"))
    assert over.state == S.COMPLETED and noticed(over) == ["count completed"]


def test_a_counsellor_cannot_leave_a_caller_on_hold_alone() -> None:
    held = call_in(S.CONNECTED, P.ON_HOLD)
    assert step(held, lc.CounsellorLeft(handover=False)).changes == {}
    assert step(held, lc.CounsellorLeft(handover=True)).changes == {}
    # Leaving without a handover ends the call, and its conference.
    done = step(call_in(S.CONNECTED, P.TALKING), lc.CounsellorLeft(handover=False))
    assert done.state == S.COMPLETED and lc.EndConference() in done.effects


def test_the_conference_ending_ends_the_call_and_frees_its_line() -> None:
    t = step(call_in(S.CONNECTED, P.THREE_WAY), lc.ConferenceEnded("CF1"))
    assert t.state == S.COMPLETED and noticed(t) == ["count completed", "pass", "release"]
    ringing = step(call_in(S.RINGING), lc.ConferenceEnded("CF1"))
    assert ringing.state == S.ABANDONED and ringing.changes["end_stage"] == "ringing"
    # An earlier conference of the call (before a requeue) says nothing of this one.
    assert step(call_in(S.CONNECTED), lc.ConferenceEnded("CF0")).changes == {}


def test_the_first_conference_callback_names_the_conference() -> None:
    ringing = dataclasses.replace(call_in(S.RINGING), conference_sid=None)
    t = step(ringing, lc.ConferenceJoined("caller", "CA0", "CF5"))
    assert t.changes == {"conference_sid": "CF5"}
    assert (
        step(ringing.with_changes(t.changes), lc.ConferenceJoined("x", "CA3", "CF5")).changes == {}
    )


def test_a_ringing_caller_whose_leg_went_unheard_goes_back_to_the_queue() -> None:
    t = step(call_in(S.RINGING), lc.WentSilent())
    assert t.state == S.WAITING and lc.Requeue() in t.effects


def test_a_redirect_owed_out_of_the_conference_lasts_until_the_caller_is_heard() -> None:
    """Back in the queue from the conference: `requeue` until Twilio takes the redirect or
    the caller is heard from the queue; meanwhile never swept as silent (they cannot poll),
    and a line may be held for them as for any waiting caller."""
    owed = call_in(S.RINGING).with_changes(
        step(call_in(S.RINGING), lc.LegEnded(LINE, lc.DialOutcome.BUSY, "CA1")).changes
    )
    assert (owed.state, owed.phase) == (S.WAITING, lc.REQUEUE)
    assert step(owed, lc.WentSilent()).changes == {}
    later = NOW + dt.timedelta(seconds=30)
    assert step(owed, lc.Requeued(), later).changes == {"phase": None, "last_seen_at": later}
    polled = step(owed, lc.HoldPolled("loneliness", None, 0, None), later)
    assert polled.changes == {"phase": None, "last_seen_at": later}
    # The conference ended around them: the caller's Dial action brings them back.
    dialled = step(owed, lc.DialEnded(LINE, lc.DialOutcome.COMPLETED, "CA1"), later)
    assert dialled.changes["phase"] is None and dialled.decision == lc.Enqueue("loneliness", None)
    reserved = owed.with_changes(step(owed, lc.LineReserved("line-2")).changes)
    assert (reserved.state, reserved.phase) == (S.RESERVED, lc.REQUEUE)
    assert step(reserved, lc.Requeued()).changes["phase"] is None
    # Twilio says the caller hung up: ended as what it was (abandoned while waiting).
    gone = step(owed, lc.ForceEnded("twilio"))
    assert (gone.state, gone.changes["phase"], gone.changes["end_stage"]) == (
        S.ABANDONED,
        None,
        "waiting",
    )
    # Nothing owed: Requeued changes nothing.
    assert step(call_in(S.WAITING), lc.Requeued()).changes == {}


def test_step_keys_of_the_conference() -> None:
    call = call_in(S.RINGING)
    assert lc.step_key(call, lc.LegEnded(LINE, lc.DialOutcome.BUSY, "CA1")) == "leg:line-1:CA1:busy"
    assert lc.step_key(call, lc.ConferenceJoined("caller", "CA0", "CF1")) == "conf-join:caller:CA0"
    assert lc.step_key(call, lc.ConferenceEnded("CF1")) == "conf-end:CF1"
    # The in-call actions: keyed by their time (asked twice, two steps), logged by kind.
    hold = lc.HoldSet(on=True)
    assert lc.step_key(call, hold) is None
    assert lc.step_key(call, hold, at=NOW) != lc.step_key(call, hold, at=NOW + dt.timedelta(1))
    kinds = {
        lc.HoldSet(on=True): "hold",
        lc.HoldSet(on=False): "resume",
        lc.TransferredToQueue("x", None): "transfer",
        lc.PartyAdded(1, "partner", consult=True): "party",
        lc.CounsellorLeft(handover=True): "counsellor-left",
        lc.Supervised("listen"): "supervised",
    }
    assert {e: lc.event_kind(e) for e in kinds} == kinds


class ConferenceMachine(CallMachine):
    """The random walk of test_lifecycle with the conference on, and its events besides."""

    limits = ON

    @rule(
        line=st.sampled_from(["line-1", "line-2"]),
        outcome=st.sampled_from(list(lc.DialOutcome)),
        sid=st.sampled_from(["", "CA1", "CA2"]),
    )
    def leg_ended(self, line: str, outcome: lc.DialOutcome, sid: str) -> None:
        self.apply(lc.LegEnded(line, outcome, sid))

    @rule(line=st.sampled_from(["line-1", "line-2"]), sid=st.sampled_from(["CA1", "CA2"]))
    def accept_leg(self, line: str, sid: str) -> None:
        self.apply(lc.Accepted(line, "org", sid))

    @rule(
        event=st.sampled_from(
            [
                lc.ConferenceJoined("caller", "CA0", "CF1"),
                lc.ConferenceLeft("counsellor", "CA1"),
                lc.ConferenceLeft("caller", "CA0"),
                lc.ConferenceEnded("CF1"),
                lc.ConferenceEnded(""),
                lc.HoldSet(on=True),
                lc.HoldSet(on=False),
                lc.PartyAdded(1, "partner", consult=True),
                lc.PartyAdded(2, "support", consult=False),
                lc.PartyAdded(3, "supervisor", consult=False),
                lc.PartyGone(1),
                lc.AllJoined(),
                lc.CounsellorLeft(handover=True),
                lc.CounsellorLeft(handover=False),
                lc.TransferredToQueue("child", "en"),
                lc.Supervised("listen"),
            ]
        )
    )
    def in_the_conference(self, event: lc.Event) -> None:
        self.apply(event)

    @invariant()
    def a_phase_only_while_connected(self) -> None:
        assert phase_fits(self.call)


ConferenceMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None
)
test_conference_machine = ConferenceMachine.TestCase
