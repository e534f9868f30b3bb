"""Supervisors on duty, and counsellors' help requests to them (docs/conference.md).

A supervisor goes on duty as one of their organisation's configured supervisors (whose phone
a supervision dials) and off again; a counsellor asks for help from a live call, which
reaches the organisation's supervisors on duty (the console's notification, and
`GET /api/help`); a supervisor takes the request and closes it. Going on and off duty and
every help request are audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.auth.models import Role
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.conference import room, targets
from hotline.conference.duty import HelpRequest, HelpState, SupervisorDuty, duty_of, on_duty
from hotline.conference.duty import open_help as _open_help
from hotline.conference.facts import RoomChanged, RoomCount
from hotline.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.services import Services


@dataclass(frozen=True, slots=True)
class DutyView:
    """A supervisor on duty: the configured supervisor (id and name) and since when."""

    supervisor_id: str
    name: str
    on_at: dt.datetime


@dataclass(frozen=True, slots=True)
class HelpView:
    """A help request: the call's row and line, who asked, how many supervisors were on
    duty then, its state."""

    id: int
    call_id: int
    org_id: str
    line_id: str | None
    asked_by: str
    asked_at: dt.datetime
    on_duty: int
    state: str
    handled_by: str | None


def _help(h: HelpRequest) -> HelpView:
    return HelpView(
        h.id,
        h.call_id,
        h.org_id,
        h.line_id,
        h.asked_by,
        h.asked_at,
        h.on_duty,
        h.state,
        h.handled_by,
    )


def _names(services: Services, org_id: str) -> dict[str, str]:
    return {s.id: s.name for s in targets.supervisors_of(services.cfg, org_id)}


async def duty_now(session: AsyncSession, services: Services, who: Actor) -> list[DutyView]:
    """The asker's organisation's supervisors on duty now (counsellors and supervisors)."""
    if who.role not in room.ACTORS:
        raise Forbidden("duty is for counsellors and supervisors of the organisation")
    names = _names(services, who.org_id)
    u = uow.of(session)
    rows = await on_duty(u.session, who.org_id)
    return [
        DutyView(d.supervisor_id, names.get(d.supervisor_id, d.supervisor_id), d.on_at)
        for d in rows
    ]


async def set_duty(
    session: AsyncSession, services: Services, who: Actor, *, on: bool, supervisor_id: str | None
) -> list[DutyView]:
    """A supervisor goes on duty as one of the organisation's configured supervisors
    (`supervisor_id`), or off duty; audited. Answers who is on duty now."""
    if who.role != Role.SUPERVISOR:
        raise Forbidden("only a supervisor goes on duty")
    now = services.clock()
    u = uow.of(session)
    mine = await duty_of(u.session, who.org_id, user_id=who.user_id, key_id=who.key_id)
    if on:
        if supervisor_id is None:
            raise Invalid("supervisor_id", "required to go on duty")
        chosen = targets.supervisor(services.cfg, who.org_id, supervisor_id)
        if mine is not None:
            mine.off_at = now  # on duty again, perhaps as another phone
        u.session.add(
            SupervisorDuty(
                org_id=who.org_id,
                supervisor_id=chosen.id,
                user_id=who.user_id,
                key_id=who.key_id,
                on_at=now,
            )
        )
    elif mine is None:
        raise Conflict("you are not on duty")
    else:
        mine.off_at = now
    await audit.write(
        u.session,
        who,
        action="supervisor.duty",
        entity="duty",
        entity_id=supervisor_id,
        now=now,
        on=on,
    )
    return await duty_now(session, services, who)


async def ask_help(session: AsyncSession, services: Services, who: Actor, call_id: int) -> HelpView:
    """A counsellor asks the supervisors on duty of the call's organisation for help: kept
    for them (with how many are on duty: 0 says nobody will see it at once), audited,
    counted, and handed to the console's live hub after the commit."""
    now = services.clock()
    u = uow.of(session)
    call = await room.locked_call(u.session, call_id)
    room.may_act(services, who, call)
    room.in_conversation(call)
    org = room.org_of(services, call) or who.org_id
    duty = await on_duty(u.session, org)
    row = HelpRequest(
        org_id=org,
        call_id=call.id,
        line_id=call.line_id,
        asked_by=room.asked_by(who),
        asked_at=now,
        on_duty=len(duty),
        state=HelpState.OPEN,
    )
    u.session.add(row)
    await u.session.flush()
    await audit.write(
        u.session,
        who,
        action="conference.help",
        entity="call",
        entity_id=call.id,
        now=now,
        help_id=row.id,
        on_duty=len(duty),
    )
    u.effects.extend((RoomCount("help", org=org), RoomChanged(call.id, org, "help")))
    return _help(row)


async def help_requests(session: AsyncSession, services: Services, who: Actor) -> list[HelpView]:
    """Help requests not closed yet: a supervisor's organisation's (operators, admins: all)."""
    if who.role not in (Role.SUPERVISOR, *room.SEE_ALL):
        raise Forbidden("help requests are for supervisors")
    org = None if who.role in room.SEE_ALL else who.org_id
    u = uow.of(session)
    return [_help(h) for h in await _open_help(u.session, org)]


async def handle_help(
    session: AsyncSession,
    services: Services,
    who: Actor,
    help_id: int,
    *,
    action: Literal["acknowledge", "close"],
) -> HelpView:
    """A supervisor takes (`acknowledge`) or closes a help request of their organisation."""
    if who.role != Role.SUPERVISOR:
        raise Forbidden("help requests are handled by supervisors")
    now = services.clock()
    u = uow.of(session)
    row = await u.session.get(HelpRequest, help_id, with_for_update=True)
    if row is None or row.org_id != who.org_id:
        raise NotFound("unknown help request")
    if row.state == HelpState.CLOSED:
        raise Conflict("the help request is closed already")
    row.state = HelpState.ACKNOWLEDGED if action == "acknowledge" else HelpState.CLOSED
    row.handled_by, row.handled_at = room.asked_by(who), now
    await audit.write(
        u.session, who, action=f"help.{action}", entity="help", entity_id=row.id, now=now
    )
    u.effects.append(RoomChanged(row.call_id, row.org_id, f"help-{action}"))
    return _help(row)
