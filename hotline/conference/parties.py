"""Parties dialled into a call's conference: a third party from the directory (a partner's
desk, a local support organisation, an interpreter service), the emergency services' direct
lines, and a supervisor who listens, coaches or joins. Each is a `call_parties` row
(`dialling` until Twilio's callback says it joined, `failed` when Twilio would not dial it),
written before the leg is asked for; the number dialled is never stored (the row names its
directory id, or `<prefecture>:<service>` for an emergency line).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.auth.models import Role
from hotline.calls.events import HoldSet, PartyAdded, PartyGone, Supervised
from hotline.calls.states import Phase
from hotline.calls.store import StoredCall
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.conference import duty, outcomes, room, store, targets
from hotline.conference.control import ConferenceControl, ControlFailed
from hotline.conference.facts import SUPERVISION, RoomCount
from hotline.conference.models import CallParty, PartyKind, PartyRole, PartyStatus
from hotline.conference.room import Step
from hotline.conference.targets import Target
from hotline.config.directory import PREFECTURES
from hotline.errors import Conflict, Forbidden, Invalid, Upstream, not_allowed
from hotline.services import Services

log = logging.getLogger(__name__)
OPEN_PHASES = (Phase.TALKING, Phase.ON_HOLD)  # a third party is brought into these


@dataclass(frozen=True, slots=True)
class PartyView:
    """A party of a call, as the card shows it: never a number."""

    id: int
    role: str
    kind: str | None
    target_id: str | None
    name: str | None
    status: str
    held: bool
    muted: bool
    coaching: bool
    asked_by: str | None
    asked_at: dt.datetime
    joined_at: dt.datetime | None
    left_at: dt.datetime | None
    outcome: str | None


def view(p: CallParty, name: str | None = None) -> PartyView:
    return PartyView(
        p.id,
        p.role,
        p.kind,
        p.target_id,
        name,
        p.status,
        bool(p.held),
        bool(p.muted),
        bool(p.coaching),
        p.asked_by,
        p.asked_at,
        p.joined_at,
        p.left_at,
        p.outcome,
    )


@dataclass(frozen=True, slots=True)
class _Asked:
    """A party asked for and committed: what the command after the commit needs."""

    row: CallParty
    conference: str
    coach: str | None
    call: StoredCall
    consult: bool  # the caller is held while the counsellor talks to the party


async def _row(
    session: AsyncSession,
    call_id: int,
    target: Target,
    who: Actor,
    now: dt.datetime,
    mode: str | None,
) -> CallParty:
    """The party's row, dialling, labelled as Twilio will know it (`p<id>`, `s<id>`)."""
    supervising = mode is not None
    row = CallParty(
        call_id=call_id,
        role=PartyRole.SUPERVISOR if supervising else PartyRole.THIRD,
        kind=target.kind,
        target_id=target.id,
        label="-",
        status=PartyStatus.DIALLING,
        muted=int(mode == "listen"),
        coaching=int(mode == "coach"),
        asked_by=room.asked_by(who),
        asked_at=now,
    )
    session.add(row)
    await session.flush()
    row.label = store.label_of(row.role, row.id)
    return row


async def _ask(
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    target: Target,
    *,
    consult: bool,
    mode: str | None = None,
    prefecture: str | None = None,
) -> _Asked:
    """One unit of work: the party's row (dialling), the lifecycle event, the audit entry of
    a safety action (emergency, supervision), the facts; committed."""
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    if mode is None:
        room.may_act(services, who, call)
    conference = room.in_conversation(call)
    rows = await room.parties(u.session, call.id)
    now = services.clock()
    supervising = mode is not None
    if not supervising:
        room.need_phase(call, *OPEN_PHASES)
        if room.third_parties_in(rows):
            raise Conflict("a third party is in the call already: drop it first")
    row = await _row(session, call.id, target, who, now, mode)
    step = Step(services, u.session, call, now, who)
    if supervising:
        await step.apply(Supervised(str(mode)))
        step.hand_on(RoomCount("supervision", mode=mode))
    else:
        await step.apply(PartyAdded(row.id, target.kind, consult))
        if not consult and target.kind != PartyKind.EMERGENCY:
            step.hand_on(RoomCount("three_way", option=call.option_id, target=target.kind))
    if supervising or target.kind == PartyKind.EMERGENCY:
        await audit.write(
            u.session,
            who,
            action=f"conference.{target.kind}",
            entity="call",
            entity_id=call.id,
            now=now,
            party_id=row.id,
            target_id=target.id,
            mode=mode,
            consult=consult,
            prefecture=prefecture,
        )
    step.changed("party")
    await u.commit()
    coach = call.leg_sid if mode == "coach" else None
    return _Asked(row, conference, coach, call, consult and not supervising)


async def _dial(
    session: AsyncSession, services: Services, who: Actor, asked: _Asked, target: Target
) -> PartyView:
    """After the commit: Twilio dials the party in; its leg's CallSid kept, or the party
    marked failed (and, for an emergency line, counted failed and audited)."""
    control = room.control_of(services)
    row = asked.row
    try:
        if asked.consult:  # the caller hears the calm on-hold words meanwhile
            await room.hold_caller(control, asked.conference, asked.call, on=True)
        leg = await control.add_party(
            asked.conference,
            call_id=row.call_id,
            party_id=row.id,
            label=row.label,
            to=target.to,
            org_id=who.org_id,
            muted=bool(row.muted),
            coach_leg_sid=asked.coach,
        )
    except ControlFailed as e:
        if await _failed(session, services, who, row.call_id, row.id, e):
            await _resume(control, asked)
        raise Upstream(
            f"Twilio did not dial the {target.kind} ({e.why}): the party is marked failed",
            party_id=row.id,
            status=PartyStatus.FAILED,
        ) from None
    u = uow.of(session)
    party = await room.party(u.session, row.call_id, row.id)
    party.leg_sid = party.leg_sid or leg
    return view(party, target.name)


async def _failed(
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    party_id: int,
    e: ControlFailed,
) -> bool:
    """The party marked failed (unless Twilio's callback settled it first), and a caller
    held only for it taken off hold; True when the caller is to be resumed."""
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    party = await room.party(u.session, call_id, party_id)
    now = services.clock()
    if party.status != PartyStatus.DIALLING:
        await u.commit()
        return False  # Twilio's callback said something first
    party.status, party.outcome, party.left_at = PartyStatus.FAILED, f"twilio-{e.why}", now
    step = Step(services, u.session, call, now, who)
    if party.role == PartyRole.THIRD:
        await step.apply(PartyGone(party.id))
    if party.kind == PartyKind.EMERGENCY:
        await outcomes.settled(u.session, call, party.label, now)  # counted failed, once
        await audit.write(
            u.session,
            who,
            action="conference.emergency-failed",
            entity="call",
            entity_id=call_id,
            now=now,
            party_id=party.id,
            target_id=party.target_id,
            why=e.why,
        )
    resume = room.phase_of(call) == Phase.ON_HOLD and party.role == PartyRole.THIRD
    if resume:
        await step.apply(HoldSet(False))
    step.changed("party-failed")
    await u.commit()  # kept: the refusal that follows rolls back nothing of it
    return resume


async def _resume(control: ConferenceControl, asked: _Asked) -> None:
    """Best effort: the caller held for a party that never came is taken off hold."""
    try:
        await room.hold_caller(control, asked.conference, asked.call, on=False)
    except ControlFailed:
        log.warning("call %s: Twilio did not resume the caller", asked.call.id)


async def add_party(
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    *,
    kind: str,
    target_id: str,
    consult: bool,
) -> PartyView:
    """Dial a partner, support organisation or interpreter of the directory (open now), or a
    supervisor of the call's organisation on duty now, into the call; `consult`: the caller
    is held while the counsellor talks to it first (then `join_all`, `leave(handover=True)`
    or `drop_party`). An emergency line is `emergency`; a supervisor who listens, coaches or
    joins on their own asks with `supervise`."""
    if kind == PartyKind.EMERGENCY:
        raise Invalid("kind", "an emergency line is dialled with POST /emergency (a confirmation)")
    if kind == PartyKind.SUPERVISOR:
        target = await _supervisor_on_duty(session, services, who, call_id, target_id)
    else:
        target = targets.entry_open(services.cfg, kind, target_id, services.clock())
    asked = await _ask(session, services, who, call_id, target, consult=consult)
    return await _dial(session, services, who, asked, target)


async def _supervisor_on_duty(
    session: AsyncSession, services: Services, who: Actor, call_id: int, supervisor_id: str
) -> Target:
    """A supervisor of the call's organisation on duty now, brought in by the counsellor as
    a third party (consulted, a three-way call, or handed the caller); one who listens,
    coaches or joins on their own asks with `supervise`."""
    call = await room.locked_call(uow.of(session).session, call_id)
    room.may_act(services, who, call)
    org = room.org_of(services, call)
    chosen = targets.supervisor(services.cfg, org, supervisor_id)
    if chosen.id not in {d.supervisor_id for d in await duty.on_duty(session, org or "")}:
        raise Conflict("this supervisor is not on duty now: ask for help, or choose one on duty")
    return Target(PartyKind.SUPERVISOR, chosen.id, chosen.name, chosen.target)


async def emergency(  # noqa: PLR0913 - the form's fields, each one argument
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    *,
    prefecture: str | None,
    service: str,
    consult: bool,
    confirm: bool,
) -> PartyView:
    """Emergency escalation (docs/conference.md#the-emergency-procedure): dial the configured
    direct line of the prefecture's fire or police command centre into the call, the caller
    kept on the line (held while the counsellor speaks first with `consult`). `confirm` must
    be true. Recorded in `call_parties` (who, when, to whom) and the audit log, and shown on
    the call's consultation record. No line configured: `Conflict` with
    `emergency_missing: true` and what to do instead (119/110 from the counsellor's phone)."""
    if not confirm:
        raise Invalid("confirm", "an emergency escalation must be confirmed (true)")
    if service not in targets.SERVICES:
        raise not_allowed("service", targets.SERVICES)
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    room.may_act(services, who, call)
    where = prefecture or targets.prefecture_of(services.cfg, room.org_of(services, call))
    if not where:
        raise Invalid("prefecture", "required: the organisation has no default prefecture")
    if where not in PREFECTURES:
        raise Invalid("prefecture", "not a prefecture as written in Japanese (長野県, 東京都)")
    line = targets.emergency(services.cfg, where, service)
    if line is None:
        raise Conflict(
            f"no direct line of the {where} {service} command centre is configured",
            emergency_missing=True,
            what_to_do=targets.WHAT_TO_DO,
            what_to_do_ja=targets.WHAT_TO_DO_JA,
        )
    target = Target(PartyKind.EMERGENCY, f"{where}:{service}", f"{where} {service}", line.number)
    asked = await _ask(session, services, who, call_id, target, consult=consult, prefecture=where)
    return await _dial(session, services, who, asked, target)


async def supervise(
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    *,
    mode: str,
    supervisor_id: str,
) -> PartyView:
    """A supervisor of the call's organisation dials in as one of its configured supervisors:
    `listen` (muted), `coach` (heard by the counsellor only), `join` (heard by everyone).
    Audited; the counsellor's card lists who is listening."""
    if mode not in SUPERVISION:
        raise not_allowed("mode", SUPERVISION)
    if who.role != Role.SUPERVISOR:
        raise Forbidden("only a supervisor supervises a call")
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    org = room.org_of(services, call)
    if org != who.org_id:
        raise Forbidden("this call is on another organisation's line")
    chosen = targets.supervisor(services.cfg, org, supervisor_id)
    target = Target(PartyKind.SUPERVISOR, chosen.id, chosen.name, chosen.target)
    asked = await _ask(session, services, who, call_id, target, consult=False, mode=mode)
    return await _dial(session, services, who, asked, target)
