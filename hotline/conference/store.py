"""The parties of a call's conference as Twilio's callbacks tell them (only flushes).

The caller's and the counsellor's rows are the call's own (`own_parties`, made when the
counsellor accepts); a third party's and a supervisor's are made by the in-call actions
(hotline/conference/service.py) with the label `p<id>` or `s<id>`. Twilio's conference
callbacks then say, by the call and the label, who joined (`joined`), left (`left`), was held
(`held`), and a party's leg that never joined failed (`failed`). Each is idempotent: a retried
callback finds the row as the first left it. Never a phone number.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.conference.models import CallParty, PartyKind, PartyRole, PartyStatus

CALLER, COUNSELLOR = "caller", "counsellor"
OWN = {CALLER: PartyRole.CALLER, COUNSELLOR: PartyRole.COUNSELLOR}
# A party's status after which no callback moves it back (a late join after a leave).
OVER = (PartyStatus.LEFT, PartyStatus.FAILED)


def label_of(role: str, party_id: int) -> str:
    """Twilio's participant label of a third party (`p<id>`) or a supervisor (`s<id>`)."""
    return f"{'s' if role == PartyRole.SUPERVISOR else 'p'}{party_id}"


async def own_parties(
    session: AsyncSession,
    call_id: int,
    *,
    line_id: str | None,
    leg_sid: str | None,
    caller_sid: str,
    now: dt.datetime,
) -> None:
    """The caller's and the counsellor's rows of the call's conference (once: a retried
    accept, or a second counsellor after a requeue, adds what is missing or new)."""
    rows = (await session.execute(_of(call_id, list(OWN)))).scalars().all()
    have = {(r.label, r.leg_sid) for r in rows if r.status not in OVER}
    if not any(label == CALLER for label, _ in have):
        session.add(_row(call_id, CALLER, None, caller_sid, now))
    if leg_sid and (COUNSELLOR, leg_sid) not in have:
        session.add(_row(call_id, COUNSELLOR, line_id, leg_sid, now))
    await session.flush()


def _row(
    call_id: int, label: str, line_id: str | None, leg: str | None, now: dt.datetime
) -> CallParty:
    return CallParty(
        call_id=call_id,
        role=OWN[label],
        kind=PartyKind.LINE if label == COUNSELLOR else None,
        target_id=line_id,
        label=label,
        leg_sid=leg,
        status=PartyStatus.DIALLING,
        asked_at=now,
    )


def _of(call_id: int, labels: list[str]) -> Select[CallParty]:
    return (
        select(CallParty)
        .where(CallParty.call_id == call_id, CallParty.label.in_(labels))
        .order_by(CallParty.id)
    )


async def _current(
    session: AsyncSession, call_id: int, label: str, leg_sid: str
) -> CallParty | None:
    """The party of that label on the call: the one with that leg, else the latest not over."""
    rows = (await session.execute(_of(call_id, [label]))).scalars().all()
    by_leg = [r for r in rows if leg_sid and r.leg_sid == leg_sid]
    if by_leg:
        return by_leg[-1]
    open_rows = [r for r in rows if r.status not in OVER]
    return open_rows[-1] if open_rows else None


async def joined(
    session: AsyncSession, call_id: int, label: str, leg_sid: str, now: dt.datetime
) -> bool:
    """A participant joined; False when no such party is known (or it is over already)."""
    party = await _current(session, call_id, label, leg_sid)
    if label in OWN and (party is None or party.status in OVER):
        # Its row was never made (a lost accept), or the caller joins the call's next
        # conference (after a transfer or a requeue, with the same CallSid): a new row.
        party = _row(call_id, label, None, leg_sid or None, now)
        session.add(party)
    if party is None or party.status in OVER:
        return False
    if party.status != PartyStatus.JOINED:
        party.status, party.joined_at = PartyStatus.JOINED, now
    party.leg_sid = party.leg_sid or leg_sid or None
    await session.flush()
    return True


async def left(
    session: AsyncSession,
    call_id: int,
    label: str,
    leg_sid: str,
    now: dt.datetime,
    outcome: str | None = None,
) -> bool:
    """A participant left (or, never having joined, failed); False when unknown or over."""
    party = await _current(session, call_id, label, leg_sid)
    if party is None or party.status in OVER:
        return False
    never = party.status == PartyStatus.DIALLING
    party.status = PartyStatus.FAILED if never else PartyStatus.LEFT
    party.left_at, party.outcome = now, (outcome or None)
    party.held = 0
    await session.flush()
    return True


async def failed(
    session: AsyncSession, call_id: int, label: str, leg_sid: str, now: dt.datetime, outcome: str
) -> bool:
    """A party's leg never joined (busy, no answer, refused by Twilio)."""
    party = await _current(session, call_id, label, leg_sid)
    if party is None or party.status != PartyStatus.DIALLING:
        return False
    party.status, party.left_at, party.outcome = PartyStatus.FAILED, now, outcome
    await session.flush()
    return True


async def held(session: AsyncSession, call_id: int, label: str, leg_sid: str, *, on: bool) -> bool:
    """A participant was held or taken off hold (Twilio's participant-hold / -unhold)."""
    party = await _current(session, call_id, label, leg_sid)
    if party is None or party.status in OVER:
        return False
    party.held = 1 if on else 0
    await session.flush()
    return True


async def all_left(session: AsyncSession, call_id: int, now: dt.datetime) -> int:
    """The conference ended: every party still in it (or dialling) left, or failed."""
    stmt = (
        update(CallParty)
        .where(CallParty.call_id == call_id, CallParty.status == PartyStatus.JOINED)
        .values(status=PartyStatus.LEFT, left_at=now, held=0)
    )
    dialling = (
        update(CallParty)
        .where(CallParty.call_id == call_id, CallParty.status == PartyStatus.DIALLING)
        .values(status=PartyStatus.FAILED, left_at=now, outcome="conference-end")
    )
    done = (await session.execute(stmt)).rowcount  # type: ignore[attr-defined]
    done += (await session.execute(dialling)).rowcount  # type: ignore[attr-defined]
    return int(done)


async def in_conference(session: AsyncSession, call_id: int) -> list[CallParty]:
    """The parties in the call's conference now (joined), in the order they were asked."""
    stmt = (
        select(CallParty)
        .where(CallParty.call_id == call_id, CallParty.status == PartyStatus.JOINED)
        .order_by(CallParty.id)
    )
    return list((await session.execute(stmt)).scalars().all())
