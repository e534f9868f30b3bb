"""The conference branch of the lifecycle (pure): what the events of a call's conference do
to it (its counsellor's leg, Twilio's conference callbacks, the phases of the conversation
and the in-call actions); `hotline.calls.lifecycle.transition` hands them here.
"""

from __future__ import annotations

import datetime as dt

from hotline.calls.decisions import Nothing
from hotline.calls.effects import Transition
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
    Supervised,
    TransferredToQueue,
)
from hotline.calls.states import CallFacts, S

ConferenceEvent = (
    LegEnded
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


def in_conference(
    call: CallFacts, state: S, event: ConferenceEvent, now: dt.datetime
) -> Transition:
    """What a conference event does to the call."""
    return Transition({}, Nothing())
