"""The conference room over HTTP (docs/conference.md): live calls, a call's card and the
in-call actions, supervisors' duty and help requests. JSON under /api, with the API's keys
and roles; the rules are in `hotline.conference.service` (which the console calls too).

A refusal names what is wrong: 403 (role, organisation), 404 (call, party, help request),
409 (the call's phase or state, an emergency line not configured: `emergency_missing` and
what to do), 422 (the field), 502 (Twilio did not do it: what was kept)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hotline.common.http import (
    E401,
    E403,
    E404,
    E422,
    ActorDep,
    NoEchoRoute,
    QueryWord,
    ResponsesDoc,
    errors,
)
from hotline.common.text import Text
from hotline.conference import service
from hotline.conference.live import LiveCall
from hotline.conference.service import Card, DutyView, HelpView, PartyView, TargetView
from hotline.deps import RowId, ServicesDep, SessionDep

router = APIRouter(prefix="/api", tags=["conference"], route_class=NoEchoRoute)
E409: ResponsesDoc = {
    409: {
        "description": "not in this phase or state of the call; no conference; an emergency "
        "line not configured (`emergency_missing`, `what_to_do`)"
    }
}
E502: ResponsesDoc = {502: {"description": "Twilio did not do it: the answer says what was kept"}}
ACT = errors(E401, E403, E404, E409, E422, E502)
Word = Field(min_length=1, max_length=96)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldIn(Body):
    on: bool


class PartyIn(Body):
    kind: Literal["partner", "support", "interpreter", "supervisor"]  # supervisor: on duty
    target_id: Text = Word
    consult: bool = True


class LeaveIn(Body):
    handover: bool


class TransferIn(Body):
    option_id: Text = Word


class EmergencyIn(Body):
    prefecture: Text | None = Field(default=None, min_length=1, max_length=16)
    service: Literal["fire", "police"]
    consult: bool = True
    confirm: bool


class SuperviseIn(Body):
    mode: Literal["listen", "coach", "join"]
    supervisor_id: Text = Word


class DutyIn(Body):
    on: bool
    supervisor_id: Text | None = Field(default=None, min_length=1, max_length=48)


class HelpAction(Body):
    action: Literal["acknowledge", "close"]


@router.get("/live", responses=errors(E401, E403))
async def live(services: ServicesDep, who: ActorDep, session: SessionDep) -> list[LiveCall]:
    """Conversations going on that you may see (never a number)."""
    return await service.live_calls(session, services, who)


@router.get("/calls/{call_id}/conference", responses=errors(E401, E403, E404))
async def call_card(
    call_id: RowId,
    services: ServicesDep,
    who: ActorDep,
    session: SessionDep,
    prefecture: QueryWord = None,
) -> Card:
    """The call's card: the call, its parties, who is listening, its linkage case, and the
    emergency lines of the prefecture (or `emergency_missing` with what to do)."""
    return await service.card(session, services, who, call_id, prefecture=prefecture)


@router.get("/calls/{call_id}/targets", responses=errors(E401, E403, E404))
async def call_targets(
    call_id: RowId, services: ServicesDep, who: ActorDep, session: SessionDep
) -> dict[str, list[TargetView]]:
    """Who may be brought in now, per kind (the directory's entries open now, queues,
    supervisors)."""
    return await service.targets_now(session, services, who, call_id)


@router.post("/calls/{call_id}/hold", responses=ACT)
async def hold(
    call_id: RowId, body: HoldIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> Card:
    """Hold the caller (`on: true`) or take them off hold."""
    return await service.hold(session, services, who, call_id, on=body.on)


@router.post("/calls/{call_id}/parties", status_code=201, responses=ACT)
async def add_party(
    call_id: RowId, body: PartyIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> PartyView:
    """Dial a partner, support organisation or interpreter into the call (`consult`: the
    caller is held while you talk to it first)."""
    return await service.add_party(
        session,
        services,
        who,
        call_id,
        kind=body.kind,
        target_id=body.target_id,
        consult=body.consult,
    )


@router.post("/calls/{call_id}/three-way", responses=ACT)
async def three_way(
    call_id: RowId, services: ServicesDep, who: ActorDep, session: SessionDep
) -> Card:
    """Bring the held caller in with the party you consulted."""
    return await service.join_all(session, services, who, call_id)


@router.delete("/calls/{call_id}/parties/{party_id}", responses=ACT)
async def drop_party(
    call_id: RowId, party_id: RowId, services: ServicesDep, who: ActorDep, session: SessionDep
) -> Card:
    """Take a party out of the call (a held caller is resumed)."""
    return await service.drop_party(session, services, who, call_id, party_id)


@router.post("/calls/{call_id}/leave", responses=ACT)
async def leave(
    call_id: RowId, body: LeaveIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> Card:
    """Leave the call: `handover` leaves the caller with the third party, else it ends."""
    return await service.leave(session, services, who, call_id, handover=body.handover)


@router.post("/calls/{call_id}/end", responses=ACT)
async def end(call_id: RowId, services: ServicesDep, who: ActorDep, session: SessionDep) -> Card:
    """End the call for everyone in it."""
    return await service.end(session, services, who, call_id)


@router.post("/calls/{call_id}/transfer", responses=ACT)
async def transfer(
    call_id: RowId, body: TransferIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> PartyView:
    """Cold transfer to another option's queue (waiting time, priority, language kept)."""
    return await service.transfer(session, services, who, call_id, option_id=body.option_id)


@router.post("/calls/{call_id}/emergency", status_code=201, responses=ACT)
async def emergency(
    call_id: RowId, body: EmergencyIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> PartyView:
    """Dial the prefecture's fire or police command centre into the call (`confirm: true`),
    the caller kept on the line."""
    return await service.emergency(
        session,
        services,
        who,
        call_id,
        prefecture=body.prefecture,
        service=body.service,
        consult=body.consult,
        confirm=body.confirm,
    )


@router.post("/calls/{call_id}/supervise", status_code=201, responses=ACT)
async def supervise(
    call_id: RowId, body: SuperviseIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> PartyView:
    """Listen to (muted), coach (heard by the counsellor only) or join the call."""
    return await service.supervise(
        session, services, who, call_id, mode=body.mode, supervisor_id=body.supervisor_id
    )


@router.post("/calls/{call_id}/help", status_code=201, responses=ACT)
async def ask_help(
    call_id: RowId, services: ServicesDep, who: ActorDep, session: SessionDep
) -> HelpView:
    """Ask the supervisors on duty for help (`on_duty` says how many are)."""
    return await service.ask_help(session, services, who, call_id)


@router.get("/duty", responses=errors(E401, E403))
async def duty(services: ServicesDep, who: ActorDep, session: SessionDep) -> list[DutyView]:
    """The organisation's supervisors on duty now."""
    return await service.duty_now(session, services, who)


@router.post("/duty", responses=errors(E401, E403, E409, E422))
async def set_duty(
    body: DutyIn, services: ServicesDep, who: ActorDep, session: SessionDep
) -> list[DutyView]:
    """Go on duty (as one of the organisation's supervisors) or off duty (supervisors)."""
    return await service.set_duty(
        session, services, who, on=body.on, supervisor_id=body.supervisor_id
    )


@router.get("/help", responses=errors(E401, E403))
async def help_requests(
    services: ServicesDep, who: ActorDep, session: SessionDep
) -> list[HelpView]:
    """Help requests not closed yet (supervisors: their organisation's)."""
    return await service.help_requests(session, services, who)


@router.post("/help/{help_id}", responses=errors(E401, E403, E404, E409, E422))
async def handle_help(
    help_id: RowId, body: HelpAction, services: ServicesDep, who: ActorDep, session: SessionDep
) -> HelpView:
    """Take (`acknowledge`) or close a help request."""
    return await service.handle_help(session, services, who, help_id, action=body.action)
