"""An emergency line's outcome, counted once: `connected` when Twilio's callback says it
joined the call, `failed` when it never did (busy, no answer, Twilio refusing to dial it).

The voice steps of the conference's callbacks call `settled` after they record a party's
join or end (`hotline.voice.conference_steps`), and the room calls it when Twilio refuses
to dial (`parties.py`). A callback Twilio retries is counted once: the count is keyed in the
call's event log (`emergency:<party id>`), as every step of a call is.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.calls import store as call_store
from hotline.calls.store import StoredCall
from hotline.conference.facts import emergency_outcome
from hotline.conference.models import CallParty, PartyKind, PartyStatus


def party_id_of(label: str) -> int | None:
    """The party of a third party's label (`p<id>`); None for any other label."""
    return int(label[1:]) if label.startswith("p") and label[1:].isdigit() else None


async def settled(session: AsyncSession, call: StoredCall, label: str, now: dt.datetime) -> None:
    """Count the outcome of the emergency party `label` of the call, if it has one now
    (joined: connected; failed: failed), once."""
    party_id = party_id_of(label)
    party = None if party_id is None else await session.get(CallParty, party_id)
    if party is None or party.call_id != call.id or party.kind != PartyKind.EMERGENCY:
        return
    if party.status == PartyStatus.JOINED or party.joined_at is not None:
        joined = True
    elif party.status == PartyStatus.FAILED:
        joined = False
    else:
        return
    fact = emergency_outcome((party.target_id or "").rpartition(":")[2], joined)
    step = f"emergency:{party.id}"
    detail = {"party_id": party.id, "outcome": "connected" if joined else "failed"}
    if fact is not None and await call_store.add_event(
        session, call, step, "emergency", now, detail
    ):
        uow.outbox(session).append(fact)
