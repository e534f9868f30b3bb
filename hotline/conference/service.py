"""The in-call actions of a call's conference (docs/conference.md), for the API
(`hotline.conference.api`) and the console, which call these functions directly.

Every action is one unit of work on the console's pool: the call locked, the asker
authorised (`room.may_act`), the lifecycle event applied (`hotline.calls.service.apply`: the
phase, the line, the event log), the parties' rows and the audit entry written, metric facts
queued; committed; then the command to Twilio (`ConferenceControl`). A command Twilio refuses
is undone or recorded in a second unit of work, and the action answers `Upstream` (502)
saying what was kept: never a change shown that Twilio did not make.

Functions (each takes the request's session, whose unit of work it commits before asking
Twilio, the `Services`, the asker `who` (an `Actor`: a key or a console account) and the
calls row's id, as `GET /api/live` lists it; each returns what the console shows next):

    hold(session, services, who, call_id, *, on: bool) -> Card
    join_all(session, services, who, call_id) -> Card
    drop_party(session, services, who, call_id, party_id) -> Card
    leave(session, services, who, call_id, *, handover: bool) -> Card
    end(session, services, who, call_id) -> Card
    transfer(session, services, who, call_id, *, option_id: str) -> PartyView
    add_party(session, services, who, call_id, *, kind, target_id, consult) -> PartyView
    emergency(session, services, who, call_id, *, prefecture, service, consult, confirm)
        -> PartyView
    supervise(session, services, who, call_id, *, mode, supervisor_id) -> PartyView
    ask_help(session, services, who, call_id) -> HelpView
    set_duty(session, services, who, *, on: bool, supervisor_id) -> list[DutyView]
    duty_now(session, services, who) -> list[DutyView]
    help_requests(session, services, who) -> list[HelpView]
    handle_help(session, services, who, help_id, *, action) -> HelpView
    live_calls(session, services, who) -> list[LiveCall]
    card(session, services, who, call_id, *, prefecture=None) -> Card
    targets_now(session, services, who, call_id) -> dict[str, list[TargetView]]

(`add_party`, `emergency`, `supervise` live in parties.py; duty and help in supervisors.py;
the reads in live.py; all are importable from here.) Refusals are `hotline.errors`: Forbidden,
NotFound, Conflict (the phase; `emergency_missing`), Invalid (the field), Upstream (Twilio).
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.calls.events import (
    AllJoined,
    CounsellorLeft,
    HoldSet,
    PartyGone,
    TransferredToQueue,
)
from hotline.calls.states import TERMINAL, Phase
from hotline.calls.store import StoredCall
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.conference import room
from hotline.conference.control import ConferenceControl, ControlFailed
from hotline.conference.facts import RoomCount
from hotline.conference.live import Card, TargetView, card, live_calls, targets_now
from hotline.conference.models import CallParty, PartyKind, PartyRole, PartyStatus
from hotline.conference.parties import PartyView, add_party, emergency, supervise, view
from hotline.conference.room import Step
from hotline.conference.supervisors import (
    DutyView,
    HelpView,
    ask_help,
    duty_now,
    handle_help,
    help_requests,
    set_duty,
)
from hotline.errors import Conflict, Invalid, Upstream
from hotline.services import Services

__all__ = [
    "Card",
    "DutyView",
    "HelpView",
    "PartyView",
    "TargetView",
    "add_party",
    "ask_help",
    "card",
    "drop_party",
    "duty_now",
    "emergency",
    "end",
    "handle_help",
    "help_requests",
    "hold",
    "join_all",
    "leave",
    "live_calls",
    "set_duty",
    "supervise",
    "targets_now",
    "transfer",
]
log = logging.getLogger(__name__)


async def _held(step: Step, on: bool) -> None:
    """The caller's own party row shows whether they are held (the card reads it)."""
    stmt = update(CallParty).where(
        CallParty.call_id == step.call.id, CallParty.role == PartyRole.CALLER
    )
    await step.session.execute(stmt.values(held=int(on)))


async def _undo(
    session: AsyncSession, services: Services, who: Actor, call_id: int, event: HoldSet
) -> None:
    """Twilio did not hold (or resume) the caller: the call's phase is put back."""
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    step = Step(services, u.session, call, services.clock(), who)
    await step.apply(event)
    await _held(step, event.on)
    step.changed("hold" if event.on else "resume")
    await u.commit()  # kept: the refusal that follows rolls back nothing of it


async def hold(
    session: AsyncSession, services: Services, who: Actor, call_id: int, *, on: bool
) -> Card:
    """Hold the caller (`on`: they hear the calm on-hold words in their language) or take
    them off hold. Hold while talking (`on_hold`) or in a three-way call (the counsellor goes
    on with the party alone: `consulting`); resume from either."""
    control, u, call, conference = await _opened(session, services, who, call_id)
    if on:  # from a three-way call the counsellor goes on with the party alone
        room.need_phase(call, Phase.TALKING, Phase.THREE_WAY)
    else:  # from consulting, back to the three-way call
        room.need_phase(call, Phase.ON_HOLD, Phase.CONSULTING)
    step = Step(services, u.session, call, services.clock(), who)
    await step.apply(HoldSet(on))
    await _held(step, on)
    if on:
        step.hand_on(RoomCount("hold", option=call.option_id))
    step.changed("hold" if on else "resume")
    await u.commit()
    try:
        await room.hold_caller(control, conference, call, on=on)
    except ControlFailed as e:
        await _undo(session, services, who, call_id, HoldSet(not on))
        raise Upstream(
            f"Twilio did not {'hold' if on else 'resume'} the caller ({e.why}): nothing changed",
            why=e.why,
        ) from None
    return await card(session, services, who, call_id)


async def join_all(session: AsyncSession, services: Services, who: Actor, call_id: int) -> Card:
    """Bring the caller, held while the counsellor consulted a party, into a three-way call."""
    control, u, call, conference = await _opened(session, services, who, call_id)
    room.need_phase(call, Phase.CONSULTING)
    step = Step(services, u.session, call, services.clock(), who)
    third = room.third_parties_in(await room.parties(u.session, call.id))
    await step.apply(AllJoined())
    await _held(step, False)
    kind = third[-1].kind if third else None
    step.hand_on(RoomCount("three_way", option=call.option_id, target=kind))
    step.changed("three-way")
    await u.commit()
    try:
        await room.hold_caller(control, conference, call, on=False)
    except ControlFailed as e:
        raise Upstream(
            f"Twilio did not bring the caller in ({e.why}): the caller is still held; try "
            "again, or drop the party to resume them",
            why=e.why,
        ) from None
    return await card(session, services, who, call_id)


async def drop_party(
    session: AsyncSession, services: Services, who: Actor, call_id: int, party_id: int
) -> Card:
    """Take a third party (or a supervisor) out of the call; a caller held while the
    counsellor consulted it is resumed."""
    control, u, call, conference = await _opened(session, services, who, call_id)
    row = await room.party(u.session, call.id, party_id)
    if row.role not in (PartyRole.THIRD, PartyRole.SUPERVISOR):
        raise Invalid("party_id", "only a third party or a supervisor is dropped", where="path")
    if row.status not in room.IN_PLAY:
        raise Conflict("the party is not in the call", status=row.status)
    was = room.phase_of(call)
    now = services.clock()
    row.status, row.left_at, row.outcome = PartyStatus.LEFT, now, "dropped"
    step = Step(services, u.session, call, now, who)
    if row.role == PartyRole.THIRD:
        await step.apply(PartyGone(row.id))
    # The caller held while the counsellor consulted the party goes back to them.
    resume = was == Phase.CONSULTING and room.phase_of(call) == Phase.ON_HOLD
    if resume:
        await step.apply(HoldSet(False))
        await _held(step, False)
    await audit.write(
        u.session,
        who,
        action="conference.drop",
        entity="call",
        entity_id=call.id,
        now=now,
        party_id=row.id,
        kind=row.kind,
    )
    step.changed("party-gone")
    leg = row.leg_sid
    await u.commit()
    try:
        if leg is not None:
            await control.remove_party(conference, leg)
        if resume:
            await room.hold_caller(control, conference, call, on=False)
    except ControlFailed as e:
        raise Upstream(
            f"Twilio did not take the party out ({e.why}): it may still be on the line",
            why=e.why,
        ) from None
    return await card(session, services, who, call_id)


async def _end_conference(control: ConferenceControl, conference: str, call: StoredCall) -> None:
    """End the conference for everyone in it. The lifecycle ended the call too (and asks for
    the same after the commit, `EndConference`): whichever reaches Twilio second finds it
    over, which is no failure."""
    try:
        await control.end(conference)
    except ControlFailed as e:
        if e.why == "rejected" and call.state in TERMINAL:
            return  # ended already
        raise Upstream(
            f"Twilio did not end the conference ({e.why}): hang up your phone, which ends it",
            why=e.why,
        ) from None


def _may_leave(call_phase: Phase, rows: list[CallParty], *, handover: bool) -> list[CallParty]:
    """The refusals of leaving: never a caller on hold alone, never with an emergency party
    in (the counsellor stays until help is on its way), never a handover to nobody."""
    third = room.third_parties_in(rows)
    if call_phase == Phase.HANDED_OVER:
        raise Conflict("the counsellor has left the call already", phase=call_phase)
    if call_phase == Phase.ON_HOLD:
        raise Conflict("the caller is on hold alone: resume them before leaving", phase=call_phase)
    if any(p.kind == PartyKind.EMERGENCY for p in third):
        raise Conflict(
            "an emergency service is on the call: stay with the caller until it has left "
            "(drop it once help is on its way)"
        )
    joined = [p for p in third if p.status == PartyStatus.JOINED]
    if handover and not joined:
        raise Conflict("nobody to hand the caller to: no third party has joined the call")
    return joined


async def leave(
    session: AsyncSession, services: Services, who: Actor, call_id: int, *, handover: bool
) -> Card:
    """The counsellor leaves the conference. `handover`: the caller stays with the third
    party in the call (counted as a warm transfer; the line goes to its wrap-up); otherwise
    the call ends for everyone. Refused while the caller is on hold alone and while an
    emergency party is in."""
    control, u, call, conference = await _opened(session, services, who, call_id)
    phase = room.phase_of(call)
    joined = _may_leave(phase, await room.parties(u.session, call.id), handover=handover)
    now = services.clock()
    step = Step(services, u.session, call, now, who)
    leg = call.leg_sid
    await step.apply(CounsellorLeft(handover))
    if handover:
        await _held(step, False)
        target = joined[-1].kind
        step.hand_on(RoomCount("transfer", option=call.option_id, target=target, mode="warm"))
    await audit.write(
        u.session,
        who,
        action="conference.leave",
        entity="call",
        entity_id=call.id,
        now=now,
        handover=handover,
    )
    step.changed("counsellor-left")
    await u.commit()
    if not handover:
        await _end_conference(control, conference, call)
        return await card(session, services, who, call_id)
    try:
        if phase == Phase.CONSULTING:
            await control.hold(conference, call.call_sid, on=False, language=call.language)
        if leg is not None:  # the conference must outlive the counsellor's leg
            await control.update_party(conference, leg, end_conference_on_exit=False)
            await control.remove_party(conference, leg)
    except ControlFailed as e:
        raise Upstream(
            f"Twilio did not take the counsellor's leg out ({e.why}): hang up your phone; "
            "the caller stays with the party as recorded",
            why=e.why,
        ) from None
    return await card(session, services, who, call_id)


async def end(session: AsyncSession, services: Services, who: Actor, call_id: int) -> Card:
    """End the call for everyone in it (refused while an emergency party is in)."""
    control, u, call, conference = await _opened(session, services, who, call_id)
    third = room.third_parties_in(await room.parties(u.session, call.id))
    if any(p.kind == PartyKind.EMERGENCY for p in third):
        raise Conflict(
            "an emergency service is on the call: stay with the caller until it has left"
        )
    now = services.clock()
    step = Step(services, u.session, call, now, who)
    await step.apply(CounsellorLeft(False))
    await audit.write(
        u.session, who, action="conference.end", entity="call", entity_id=call.id, now=now
    )
    step.changed("ended")
    await u.commit()
    await _end_conference(control, conference, call)
    return await card(session, services, who, call_id)


async def transfer(
    session: AsyncSession, services: Services, who: Actor, call_id: int, *, option_id: str
) -> PartyView:
    """A cold transfer: the caller leaves the conference for another option's queue, keeping
    their waiting time, priority and language (the lifecycle's `TransferredToQueue`; its
    `Requeue` effect redirects the caller's leg after the commit). Kept as a party of kind
    `queue` (target the option, status `left`) so that reports count it, which is answered;
    audited."""
    room.control_of(services)
    if not services.cfg.has_option(option_id):
        raise Invalid("option_id", "no such option")
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    room.may_act(services, who, call)
    room.in_conversation(call)
    room.need_phase(call, Phase.TALKING, Phase.ON_HOLD)
    if option_id == call.option_id:
        raise Invalid("option_id", "the caller is in this option already")
    if room.third_parties_in(await room.parties(u.session, call.id)):
        raise Conflict("drop the third party before transferring the caller to a queue")
    now = services.clock()
    row = CallParty(
        call_id=call.id,
        role=PartyRole.THIRD,
        kind=PartyKind.QUEUE,
        target_id=option_id,
        label="queue",
        status=PartyStatus.LEFT,
        asked_by=room.asked_by(who),
        asked_at=now,
        left_at=now,
        outcome="transferred",
    )
    u.session.add(row)
    await u.session.flush()
    step = Step(services, u.session, call, now, who)
    source = call.option_id
    await step.apply(TransferredToQueue(option_id, call.language))
    await audit.write(
        u.session,
        who,
        action="conference.transfer",
        entity="call",
        entity_id=call.id,
        now=now,
        option_id=option_id,
        source=source,
    )
    step.hand_on(RoomCount("transfer", option=source, target="queue", mode="cold"))
    step.changed("transfer")
    # The call is no longer on the counsellor's line: its card is not theirs to read now.
    return view(row, services.cfg.option(option_id).name)


async def _opened(
    session: AsyncSession, services: Services, who: Actor, call_id: int
) -> tuple[ConferenceControl, uow.UnitOfWork, StoredCall, str]:
    """What every action on a conversation starts with: the conference's control, the
    request's unit of work, the call locked and the asker allowed, the conference's SID (a
    call not in one is refused)."""
    control = room.control_of(services)
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    room.may_act(services, who, call)
    return control, u, call, room.in_conversation(call)
