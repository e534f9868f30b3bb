"""The lifecycle as a table (state x event -> next state, decision): for the docs and tests.

Generated from `lifecycle.transition` itself, on one typical call per state, so the table in
docs/call-flow.md cannot drift from the code (a test compares them).
"""

from __future__ import annotations

import datetime as dt

from hotline.calls import lifecycle as lc

LINE = "line-1"
NOW = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)
SINCE = NOW - dt.timedelta(minutes=3)


# The service as it runs with Twilio's REST API: the caller and the counsellor meet in a
# conference of the call's own (without REST, the two-leg bridge: `lc.Limits()`).
CONFERENCE = lc.Limits(conference=True)


def typical_call(state: lc.CallState, phase: str | None = None) -> lc.CallView:
    """A call in `state` as the service would have it (a line when one is held); a connected
    call of a conference in `phase` (a waiting one: `requeue`, owed the redirect out of it)."""
    in_it = phase is not None and state == lc.CallState.CONNECTED
    chosen = state != lc.CallState.MENU
    callback = state in (lc.CallState.CALLBACK, lc.CallState.CALLING)
    return lc.CallView(
        state=state,
        option_id="loneliness" if chosen else None,
        waiting_since=SINCE if chosen else None,
        line_id=LINE if state in lc.ON_A_LINE and phase != lc.Phase.HANDED_OVER else None,
        org_id="org" if state in (lc.CallState.CONNECTED, lc.CallState.COMPLETED) else None,
        connected_at=SINCE if state in (lc.CallState.CONNECTED, lc.CallState.COMPLETED) else None,
        callback_at=NOW if callback else None,
        phase=phase,
        conference_sid="CF1" if in_it else None,
        leg_sid="CA1" if in_it else None,
    )


# One row per event kind (the outcomes that lead somewhere different get rows of their own).
EVENTS: dict[str, lc.Event] = {
    "key pressed (menu again)": lc.MenuAnswered("m", 1, "5"),
    "option chosen, staffed": lc.OptionChosen("loneliness", None, 0, staffed=True),
    "option chosen, nobody on duty": lc.OptionChosen("loneliness", None, 0, staffed=False),
    "option chosen, nobody on duty, other keys open": lc.OptionChosen(
        "loneliness", None, 0, staffed=False, to_menu=True
    ),
    "hold poll": lc.HoldPolled("loneliness", None, 0, staffed=None),
    "hold poll, nobody on duty": lc.HoldPolled("loneliness", None, 0, staffed=False),
    "line reserved (pass)": lc.LineReserved(LINE),
    "reservation expired": lc.ReservationExpired(),
    "queue: leave": lc.QueueLeft(lc.QueueOutcome.LEAVE),
    "queue: hangup": lc.QueueLeft(lc.QueueOutcome.HANGUP),
    "queue: failed": lc.QueueLeft(lc.QueueOutcome.FAILED),
    "queue: full": lc.QueueLeft(lc.QueueOutcome.FULL),
    "queue: redirected (not by us)": lc.QueueLeft(lc.QueueOutcome.REDIRECTED),
    "whisper answered": lc.WhisperAnswered(LINE),
    "accepted (1)": lc.Accepted(LINE, "org"),
    "refused (other key, none)": lc.Refused(LINE),
    "dial: completed": lc.DialEnded(LINE, lc.DialOutcome.COMPLETED),
    "dial: busy, no-answer, failed": lc.DialEnded(LINE, lc.DialOutcome.NO_ANSWER),
    "dial: canceled": lc.DialEnded(LINE, lc.DialOutcome.CANCELED),
    "status: final": lc.StatusReported("completed", 1, final=True),
    "silent too long (sweep)": lc.WentSilent(),
    "ended by force (Twilio, max talk, operator)": lc.ForceEnded("operator"),
    "callback confirmed (hold key)": lc.CallbackAsked("sealed", NOW + dt.timedelta(hours=2)),
    "callback: Twilio refused to ring the line": lc.CounsellorUnreached(LINE),
    "callback: caller pressed 1": lc.CallerAnswered(1),
    "callback: call to the caller ended": lc.CallerLegEnded(1, lc.DialOutcome.NO_ANSWER),
    "callback: past its time (sweep)": lc.CallbackExpired(),
    "turned away (flagged, withheld number)": lc.TurnedAway("blocked"),
    "conference: counsellor's leg not answered": lc.LegEnded(LINE, lc.DialOutcome.NO_ANSWER, "CA1"),
    "conference: counsellor's leg ended": lc.LegEnded(LINE, lc.DialOutcome.COMPLETED, "CA1"),
    "conference: counsellor joined": lc.ConferenceJoined("counsellor", "CA1", "CF1"),
    "conference: caller left": lc.ConferenceLeft("caller", "CA0"),
    "conference: ended": lc.ConferenceEnded("CF1"),
    "caller back in the queue (redirect taken)": lc.Requeued(),
    "hold": lc.HoldSet(on=True),
    "resume": lc.HoldSet(on=False),
    "party added (consult)": lc.PartyAdded(1, "partner", consult=True),
    "party added (three-way)": lc.PartyAdded(1, "partner", consult=False),
    "party gone": lc.PartyGone(1),
    "all joined (three-way)": lc.AllJoined(),
    "counsellor left, handing over": lc.CounsellorLeft(handover=True),
    "counsellor left": lc.CounsellorLeft(handover=False),
    "cold transfer to a queue": lc.TransferredToQueue("loneliness", None),
    "supervised": lc.Supervised("listen"),
}


def cell(state: lc.CallState, event: lc.Event, phase: str | None = None) -> str:
    t = lc.transition(typical_call(state, phase), event, NOW, CONFERENCE)
    decision = type(t.decision).__name__
    effects = [
        "release" + ("+cool" if e.cooldown else "")
        for e in t.effects
        if isinstance(e, lc.ReleaseLine)
    ]
    effects += [f"line {e.presence}" for e in t.effects if isinstance(e, lc.MarkLine)]
    effects += ["pass" for e in t.effects if isinstance(e, lc.RunPass)]
    effects += ["ring leg" for e in t.effects if isinstance(e, lc.RingLeg)]
    effects += ["requeue" for e in t.effects if isinstance(e, lc.Requeue)]
    effects += ["end conference" for e in t.effects if isinstance(e, lc.EndConference)]
    moved = f"**{t.state}**" if t.state is not None and t.state != state else "·"
    went = t.changes.get("phase", phase)
    if phase is not None and went != phase and t.state in (None, state):
        moved = f"**{went or 'no phase'}**"
    return " ".join([moved, decision, *(f"({e})" for e in effects)])


# The columns: every state a call is in for a while, the connected one in each phase, and
# the waiting one whose redirect out of the conference is still owed (`requeue`).
PHASES: dict[lc.CallState, tuple[str | None, ...]] = {
    lc.CallState.CONNECTED: tuple(lc.Phase),
    lc.CallState.WAITING: (None, lc.REQUEUE),
}
COLUMNS: list[tuple[lc.CallState, str | None]] = [
    (s, p)
    for s in lc.CallState
    if s not in (lc.CallState.COMPLETED, lc.CallState.CLOSED)
    for p in PHASES.get(s, (None,))
]


def markdown() -> str:
    """Rows: events; columns: states (connected: in each phase of its conference). A cell:
    next state or phase (· = stays), decision, effects."""
    names = [f"{s}" if p is None else f"{s}: {p}" for s, p in COLUMNS]
    head = "| event | " + " | ".join(names) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [
        f"| {name} | " + " | ".join(cell(s, e, p) for s, p in COLUMNS) + " |"
        for name, e in EVENTS.items()
    ]
    return "\n".join([head, rule, *rows])
