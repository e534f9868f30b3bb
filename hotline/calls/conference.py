"""The conference branch of the lifecycle (pure): what the events of a call's conference do
to it; `hotline.calls.lifecycle.transition` hands them here.

With Twilio's REST API (`Limits.conference`) the caller and the counsellor meet in a
conference of the call's own: the caller waits in it hearing the ringback while the
counsellor's leg, placed by REST (`RingLeg`), hears the whisper; their 1 joins them. The
counsellor's leg failing before that (`LegEnded`) takes the caller back to the head of the
queue with their waiting time, out of the conference (`Requeue`). Once connected, the call
has a `Phase`: talking, on hold, consulting a third party, three-way, handed over. The
in-call actions (hotline/conference/service.py) move it between them; Twilio's conference
callbacks say who joined and left, and when the conference ended (the call ends with it).

A call taken back to the queue after it was connected (a cold transfer; the counsellor's leg
dropping while the caller was held) keeps `connected_at`: it was counted connected once, is
not counted so again, and ends as completed whenever it ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hotline.calls.decisions import Decision, Enqueue, Goodbye, Nothing
from hotline.calls.effects import EndConference, Requeue, RunPass, Transition, release
from hotline.calls.ending import finish
from hotline.calls.events import (
    AllJoined,
    ConferenceEnded,
    ConferenceJoined,
    ConferenceLeft,
    CounsellorLeft,
    HoldSet,
    LegEnded,
    PartyAdded,
    PartyGone,
    Requeued,
    Supervised,
    TransferredToQueue,
)
from hotline.calls.states import CALLER_HELD, HOLDING, REQUEUE, TERMINAL, CallFacts, Phase, S

ConferenceEvent = (
    LegEnded
    | Requeued
    | ConferenceJoined
    | ConferenceLeft
    | ConferenceEnded
    | HoldSet
    | PartyAdded
    | PartyGone
    | AllJoined
    | CounsellorLeft
    | TransferredToQueue
    | Supervised
)
CONFERENCE_EVENTS = ConferenceEvent.__args__

# The in-call actions' moves between phases: (event, phase it acts in) -> next phase.
HOLD: dict[tuple[bool, str | None], Phase] = {
    (True, Phase.TALKING): Phase.ON_HOLD,
    (True, Phase.THREE_WAY): Phase.CONSULTING,
    (False, Phase.ON_HOLD): Phase.TALKING,
    (False, Phase.CONSULTING): Phase.THREE_WAY,
}
ADDED: dict[tuple[bool, str | None], Phase] = {
    (True, Phase.TALKING): Phase.CONSULTING,
    (True, Phase.ON_HOLD): Phase.CONSULTING,
    (False, Phase.TALKING): Phase.THREE_WAY,
    (False, Phase.ON_HOLD): Phase.THREE_WAY,
}
GONE: dict[str | None, Phase] = {Phase.CONSULTING: Phase.ON_HOLD, Phase.THREE_WAY: Phase.TALKING}
JOINED: dict[str | None, Phase] = {Phase.CONSULTING: Phase.THREE_WAY}


def in_conference(
    call: CallFacts, state: S, event: ConferenceEvent, now: dt.datetime
) -> Transition:
    """What a conference event does to the call (a finished call: nothing)."""
    if state in TERMINAL:
        return Transition({}, Nothing())
    connected = state == S.CONNECTED and call.phase is not None
    match event:
        case LegEnded():
            return _leg_ended(call, state, event, now)
        case Requeued() if state in HOLDING and call.phase == REQUEUE:
            # The redirect owed is done: the caller is heard in the queue from now on.
            return Transition({"phase": None, "last_seen_at": now}, Nothing())
        case ConferenceJoined(conference_sid=sid):
            # The conference's SID, from its first callback (kept for the upkeep's checks).
            fresh = sid and call.conference_sid is None and state in (S.RINGING, S.CONNECTED)
            return Transition({"conference_sid": sid} if fresh else {}, Nothing())
        case ConferenceLeft(label="counsellor", leg_sid=sid) if connected:
            if call.phase in CALLER_HELD and _same_leg(call, sid):
                return back_to_queue(call, now)  # the caller would be alone, held
            return Transition({}, Nothing())
        case ConferenceLeft():
            return Transition({}, Nothing())  # the rest is told by the conference's end
        case ConferenceEnded(conference_sid=sid):
            return _ended(call, state, sid, now)
        case HoldSet(on=on) if connected:
            return _phase(call, HOLD.get((on, call.phase)))
        case PartyAdded(consult=consult) if connected:
            # A third party (a supervisor brought in by the counsellor is one too); a
            # supervisor who listens, coaches or joins is `Supervised`: no phase moves.
            return _phase(call, ADDED.get((consult, call.phase)))
        case PartyGone() if connected and call.phase == Phase.HANDED_OVER:
            # The caller would be alone in the conference: the call is over, and the
            # conference with it.
            return _ended_here(call, state, now)
        case PartyGone() if connected:
            return _phase(call, GONE.get(call.phase))
        case AllJoined() if connected:
            return _phase(call, JOINED.get(call.phase))
        case CounsellorLeft(handover=handover) if connected:
            return _counsellor_left(call, state, handover, now)
        case TransferredToQueue(option_id=option, language=language) if connected:
            return back_to_queue(call, now, option=option, language=language)
    return Transition({}, Nothing())  # Supervised: counted only; otherwise not in a conference


def _same_leg(call: CallFacts, sid: str) -> bool:
    """Is this the leg the call knows (any, where it knows none or the event names none)?"""
    return not sid or not call.leg_sid or call.leg_sid == sid


def _phase(call: CallFacts, phase: Phase | None) -> Transition:
    """Move to `phase`; None: the action does nothing in the call's phase."""
    return Transition({} if phase is None else {"phase": phase}, Nothing())


def _leg_ended(call: CallFacts, state: S, event: LegEnded, now: dt.datetime) -> Transition:
    if call.line_id != event.line_id or not _same_leg(call, event.leg_sid):
        return Transition({}, Nothing())  # a leg of an earlier offer: the call moved on
    if state == S.RINGING:
        # Not accepted (busy, missed, refused in the whisper, voicemail, not placed): the
        # line rests and the caller goes back to the head of the queue.
        return back_to_queue(call, now, cooldown=True)
    if state == S.CONNECTED and call.phase in CALLER_HELD:
        return back_to_queue(call, now)  # the caller would be alone, held
    # Talking: the counsellor's exit ended the conference; the caller's dial result ends the
    # call. Handed over: the counsellor left already.
    return Transition({}, Nothing())


def _ended(call: CallFacts, state: S, sid: str, now: dt.datetime) -> Transition:
    if call.conference_sid is not None and sid and sid != call.conference_sid:
        return Transition({}, Nothing())  # an earlier conference of the call
    if state in (S.RINGING, S.CONNECTED):
        decision: Decision = Goodbye(call.language) if state == S.CONNECTED else Nothing()
        return finish(call, state, now, decision)
    return Transition({}, Nothing())


def _counsellor_left(call: CallFacts, state: S, handover: bool, now: dt.datetime) -> Transition:
    if not handover:
        if call.phase in CALLER_HELD:
            return Transition({}, Nothing())  # never leave a caller on hold alone
        return _ended_here(call, state, now)
    if call.phase not in (Phase.THREE_WAY, Phase.CONSULTING):
        return Transition({}, Nothing())  # nobody to hand the caller over to
    # The caller stays with the third party; the line goes to its wrap-up now.
    changes = {"phase": Phase.HANDED_OVER, "line_id": None}
    return Transition(changes, Nothing(), (*release(call.line_id), RunPass()))


def _ended_here(call: CallFacts, state: S, now: dt.datetime) -> Transition:
    """The call ends by a move in the conference: the conference is ended after commit."""
    ended = finish(call, state, now, Goodbye(call.language))
    return dataclasses.replace(ended, effects=(*ended.effects, EndConference()))


def back_to_queue(
    call: CallFacts,
    now: dt.datetime,
    *,
    cooldown: bool = False,
    option: str | None = None,
    language: str | None = None,
) -> Transition:
    """Back to the head of the queue (of `option`, else the call's own) with the waiting
    time and priority kept, out of the conference (`Requeue`: the caller's leg redirected);
    the line is let go (`cooldown`: it did not take the call). Until Twilio takes that
    redirect the call keeps the phase `REQUEUE` (the redirect owed: the upkeep retries it,
    and the silent sweep leaves the call alone, since its caller cannot poll)."""
    option = option or call.option_id
    if option is None:  # lost state: no queue known to go back to
        return finish(call, S(call.state), now, Nothing())
    changes: dict[str, Any] = {
        "state": S.WAITING,
        "line_id": None,
        "reserved_at": None,
        "last_seen_at": now,
        "phase": REQUEUE,
        "conference_sid": None,
        "leg_sid": None,
    }
    if option != call.option_id:
        changes.update(option_id=option, language=language)
    effects = (*release(call.line_id, cooldown), RunPass(), Requeue())
    return Transition(changes, Enqueue(option, changes.get("language", call.language)), effects)
