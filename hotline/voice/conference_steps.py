"""The voice steps of a call's conference (hotline/calls/conference.py): the counsellor's leg's
final status, Twilio's conference callbacks, and the caller taken out of the conference back
into the queue. As the other steps (`hotline.voice.steps`): one step in the request's unit of
work, never a commit; status callbacks answer 204.

The caller's call is named by our URL (`call`: its CallSid), never by Twilio's `CallSid`,
which on a conference callback is the participant's leg (and absent on the conference's
own start and end).
"""

from __future__ import annotations

from hotline.calls import lifecycle as lc
from hotline.calls.store import StoredCall
from hotline.conference import outcomes
from hotline.conference import store as parties
from hotline.voice import params
from hotline.voice.outcomes import Outcome
from hotline.voice.params import VoiceParams
from hotline.voice.turn import Turn
from hotline.voice.urls import Query

JOIN, LEAVE = "participant-join", "participant-leave"
HOLD, UNHOLD = "participant-hold", "participant-unhold"
START, END = "conference-start", "conference-end"


async def leg_status(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The counsellor's leg of a conference call ended: before the 1, the caller goes back
    to the head of the queue; after it, while the caller is held, too."""
    call = await t.parent(q.call_sid)
    if call is None or not params.status_is_final(p.call_status):
        return "no_content"
    outcome = params.dial_outcome(p.call_status, p.call_sid)
    await t.apply(call, lc.LegEnded(q.line_id, outcome, p.call_sid))
    if call.state in lc.TERMINAL or call.state == lc.CallState.WAITING:
        await parties.left(t.uow.session, call.id, parties.COUNSELLOR, p.call_sid, t.now, outcome)
    return "no_content"


async def conference_status(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """Twilio's conference callback: who joined, left or was held; the conference's end."""
    call = await t.parent(q.call_sid)
    if call is None:
        return "no_content"
    session, event, label, leg = t.uow.session, p.conference_event, p.participant_label, p.call_sid
    sid = p.conference_sid
    if event == JOIN and label:
        await parties.joined(session, call.id, label, leg, t.now)
        await outcomes.settled(session, call, label, t.now)  # an emergency line: connected
        await t.apply(call, lc.ConferenceJoined(label, leg, sid))
    elif event == LEAVE and label:
        changed = await parties.left(session, call.id, label, leg, t.now)
        await t.apply(call, lc.ConferenceLeft(label, leg))
        await _party_gone(t, call, label, changed)
    elif event in (HOLD, UNHOLD) and label:
        await parties.held(session, call.id, label, leg, on=event == HOLD)
    elif event == START and sid:
        await t.apply(call, lc.ConferenceJoined("conference", "", sid))
    elif event == END and sid:
        await t.apply(call, lc.ConferenceEnded(sid))
        await parties.all_left(session, call.id, t.now)
    return "no_content"


async def requeue(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The caller, taken out of the conference (a REST redirect), back in the queue of the
    call's option (their place kept: the lifecycle kept their waiting time); a call that
    ended meanwhile hears what the lifecycle says of it."""
    call = await t.call(p)
    if call.phase == lc.REQUEUE:  # the redirect owed is done: the caller is back
        await t.apply(call, lc.Requeued())
    state = lc.CallState(call.state)
    if state in (lc.CallState.WAITING, lc.CallState.RESERVED) and call.option_id:
        return t.decided(call, lc.Enqueue(call.option_id, call.language))
    if state == lc.CallState.COMPLETED:
        return t.decided(call, lc.Goodbye(call.language))
    if state == lc.CallState.MENU and t.services.cfg.has_option(q.option_id):
        # Lost state: the queue our URL names, which the next hold poll joins.
        return t.decided(call, lc.Enqueue(q.option_id, q.language or None))
    return t.decided(call, lc.holding_answer(call, state))


async def party_status(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The final status of a third party's (or a supervisor's) leg: one that never joined
    failed; a third party gone moves the conversation's phase (`PartyGone`)."""
    if not params.status_is_final(p.call_status) or not q.call_id or not q.label:
        return "no_content"
    call = await t.by_id(q.call_id)
    if call is None:
        return "no_content"
    session, label, leg = t.uow.session, q.label, p.call_sid
    changed = await parties.left(session, call.id, label, leg, t.now, p.call_status)
    await outcomes.settled(session, call, label, t.now)  # an emergency line never joined
    await _party_gone(t, call, label, changed)
    return "no_content"


async def _party_gone(t: Turn, call: StoredCall, label: str, changed: bool) -> None:
    """A third party (`p<id>`) left: the lifecycle hears of it once (a supervisor changes no
    phase)."""
    if changed and label.startswith("p") and label[1:].isdigit():
        await t.apply(call, lc.PartyGone(int(label[1:])))
