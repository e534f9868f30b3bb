"""What every in-call action shares (docs/conference.md): who may act on which call, the
call locked in a unit of work, the lifecycle event applied, and what is handed on after the
commit. The actions themselves are in `service.py` (and `parties.py`, `supervisors.py`).

The rules of who may do what:
- a counsellor acts on the calls of their own organisation's lines;
- a supervisor acts on, and supervises, the calls of their own organisation;
- operators and admins read live calls (never a number) but change nothing;
- coordinators have no business here.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.auth.models import Role
from hotline.calls import lifecycle
from hotline.calls import service as calls
from hotline.calls import store as call_store
from hotline.calls.states import CallState, Phase
from hotline.calls.store import StoredCall
from hotline.common.audit import Actor
from hotline.conference.control import ConferenceControl, ControlFailed
from hotline.conference.facts import RoomChanged
from hotline.conference.models import CallParty, PartyRole, PartyStatus
from hotline.errors import Conflict, Forbidden, NotFound
from hotline.services import Services

log = logging.getLogger(__name__)
ACTORS = (Role.COUNSELLOR, Role.SUPERVISOR)  # act on calls of their own organisation
READERS = (*ACTORS, Role.OPERATOR, Role.ADMIN)  # see live calls (operators, admins: all)
SEE_ALL = (Role.OPERATOR, Role.ADMIN)
IN_PLAY = (PartyStatus.DIALLING, PartyStatus.JOINED)


def asked_by(who: Actor) -> str:
    """Who asked, as a party's row and a help request keep it: a console account or a key."""
    if who.user_id is not None:
        return f"user {who.user_id}"
    return f"key {who.key_id}" if who.key_id is not None else who.client


def org_of(services: Services, call: StoredCall) -> str | None:
    """The organisation whose line took the call (the line's, else the call's own)."""
    found = services.cfg.line(call.line_id) if call.line_id else None
    return found[0].id if found is not None else call.org_id


def may_read(services: Services, who: Actor, call: StoredCall) -> None:
    if who.role not in READERS:
        raise Forbidden("live calls are for counsellors, supervisors, operators and admins")
    if who.role not in SEE_ALL and org_of(services, call) != who.org_id:
        raise Forbidden("this call is on another organisation's line")


def may_act(services: Services, who: Actor, call: StoredCall) -> None:
    if who.role not in ACTORS:
        raise Forbidden("only the call's counsellor or a supervisor may act on a call")
    if org_of(services, call) != who.org_id:
        raise Forbidden("this call is on another organisation's line")


def control_of(services: Services) -> ConferenceControl:
    control = services.conference
    if control is None:
        raise Conflict(
            "calls are bridged without a conference here (no Twilio REST account): "
            "hold, parties and transfers need one"
        )
    return control


def in_conversation(call: StoredCall) -> str:
    """The conference SID of a call in conversation in its conference, or a refusal."""
    if call.state != CallState.CONNECTED:
        raise Conflict("the call is not in conversation", state=call.state)
    if call.conference_sid is None:
        raise Conflict("the call is not in a conference (a two-leg bridge): nothing to do")
    return call.conference_sid


def phase_of(call: StoredCall) -> Phase:
    return Phase(call.phase) if call.phase else Phase.TALKING


def need_phase(call: StoredCall, *allowed: Phase) -> Phase:
    phase = phase_of(call)
    if phase not in allowed:
        names = ", ".join(allowed)
        raise Conflict(f"not while the call is {phase} (only when {names})", phase=str(phase))
    return phase


@dataclass(slots=True)
class Step:
    """One action's unit of work: the locked call, its time, and the session."""

    services: Services
    session: AsyncSession
    call: StoredCall
    now: dt.datetime
    who: Actor

    async def apply(self, event: lifecycle.Event) -> calls.Outcome:
        """Apply a lifecycle event to the call (its changes, effects and metric facts)."""
        s = self.services
        return await calls.apply(
            self.session, s.router, self.call, event, self.now, limits=s.limits
        )

    def hand_on(self, *facts: object) -> None:
        """Facts published once this unit of work commits (metrics, the live hub)."""
        uow.outbox(self.session).extend(facts)

    def changed(self, what: str) -> None:
        self.hand_on(RoomChanged(self.call.id, self.call.org_id, what))


async def hold_caller(
    control: ConferenceControl, conference: str, call: StoredCall, *, on: bool
) -> None:
    """Hold (or resume) the caller's leg; while they are held the counsellor's leg leaving
    must not end the conference (the caller goes back to the queue instead), so its
    `endConferenceOnExit` follows."""
    await control.hold(conference, call.call_sid, on=on, language=call.language)
    if call.leg_sid is None:
        return
    try:  # the hold is made: a failure here is logged, not taken for the hold's
        await control.update_party(conference, call.leg_sid, end_conference_on_exit=not on)
    except ControlFailed as e:
        log.warning("call %s: Twilio did not set the counsellor's leg's end (%s)", call.id, e.why)


async def locked_call(session: AsyncSession, call_id: int) -> StoredCall:
    call = await call_store.get_call_by_id(session, call_id, lock=True)
    if call is None:
        raise NotFound("unknown call")
    return call


async def party(session: AsyncSession, call_id: int, party_id: int) -> CallParty:
    stmt = select(CallParty).where(CallParty.id == party_id, CallParty.call_id == call_id)
    found = (await session.execute(stmt.with_for_update())).scalar_one_or_none()
    if found is None:
        raise NotFound("no such party on this call")
    return found


async def parties(session: AsyncSession, call_id: int) -> list[CallParty]:
    stmt = select(CallParty).where(CallParty.call_id == call_id).order_by(CallParty.id)
    return list((await session.execute(stmt)).scalars())


def third_parties_in(rows: list[CallParty]) -> list[CallParty]:
    """Third parties dialling or in the conference now."""
    return [p for p in rows if p.role == PartyRole.THIRD and p.status in IN_PLAY]
