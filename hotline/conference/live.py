"""Live calls as the console and the API show them: the list of conversations the asker may
see (`live_calls`), one call's card (`card`), and the parties open now to bring in
(`targets_now`). Never a phone number: parties are named by their directory or
configuration names, the caller by nothing but their call's row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import uow
from hotline.calls import store as call_store
from hotline.calls.models import Call
from hotline.calls.states import CallState
from hotline.common.audit import Actor
from hotline.conference import duty, room, targets
from hotline.conference.duty import open_help_count
from hotline.conference.models import CallParty, PartyKind, PartyRole, PartyStatus
from hotline.conference.parties import PartyView, view
from hotline.config import HotlineConfig
from hotline.errors import Forbidden, Invalid, NotFound
from hotline.records import store as records
from hotline.services import Services


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A conversation going on: where it came from, how long, who is in it."""

    call_id: int
    option_id: str | None
    option: str | None  # the option's configured name
    language: str | None
    org_id: str | None
    line_id: str | None
    phase: str
    waited_seconds: float | None
    talking_seconds: float | None
    in_call: list[str]  # the parties in it: caller, counsellor, then kinds (joined)
    listening: list[str]  # supervisors in it (their names and modes)


@dataclass(frozen=True, slots=True)
class EmergencyLines:
    """The prefecture's command centres' direct lines (configured or not; no number)."""

    prefecture: str | None
    fire: bool
    police: bool
    checked_on: dict[str, dt.date] = field(default_factory=dict)
    emergency_missing: bool = False
    what_to_do: str | None = None
    what_to_do_ja: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """The counsellor's live call card."""

    call: LiveCall
    state: str
    parties: list[PartyView]
    help_open: int
    case: dict[str, object] | None  # the linkage case of the call's record, if any
    emergency: EmergencyLines


@dataclass(frozen=True, slots=True)
class TargetView:
    id: str
    name: str


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def mode_of(p: CallParty) -> str:
    """How a supervisor is in the call: listening (muted), coaching, or joined."""
    return "listen" if p.muted else "coach" if p.coaching else "join"


def party_name(cfg: HotlineConfig, p: CallParty, org_id: str | None) -> str | None:
    """What a party is called on the card (never its number)."""
    if p.role == PartyRole.CALLER:
        return "caller"
    if p.role == PartyRole.COUNSELLOR:
        return p.target_id or "counsellor"
    if p.kind == PartyKind.SUPERVISOR:
        names = {s.id: s.name for s in targets.supervisors_of(cfg, org_id)}
        return names.get(p.target_id or "", p.target_id)
    if p.kind == PartyKind.QUEUE:
        known = cfg.has_option(p.target_id or "")
        return cfg.option(p.target_id or "").name if known else p.target_id
    if p.kind == PartyKind.EMERGENCY:
        return (p.target_id or "").replace(":", " ")
    try:
        return targets.entry(cfg, p.kind or "", p.target_id or "").name
    except Invalid:  # an entry since taken out of the directory: its id
        return p.target_id


def _live(
    cfg: HotlineConfig, call: Call | call_store.StoredCall, rows: list[CallParty], now: dt.datetime
) -> LiveCall:
    joined = [p for p in rows if p.status == PartyStatus.JOINED]
    in_call = [
        p.role if p.role != PartyRole.THIRD else str(p.kind)
        for p in joined
        if p.role != PartyRole.SUPERVISOR
    ]
    listening = [
        f"{party_name(cfg, p, call.org_id)} ({mode_of(p)})"
        for p in rows
        if p.role == PartyRole.SUPERVISOR and p.status in room.IN_PLAY
    ]
    option = (
        cfg.option(call.option_id).name
        if call.option_id and cfg.has_option(call.option_id)
        else None
    )
    return LiveCall(
        call_id=call.id,
        option_id=call.option_id,
        option=option,
        language=call.language,
        org_id=call.org_id,
        line_id=call.line_id,
        phase=call.phase or "talking",
        waited_seconds=_seconds(call.waiting_since, call.connected_at),
        talking_seconds=_seconds(call.connected_at, now),
        in_call=in_call,
        listening=listening,
    )


async def _parties_of(session: AsyncSession, ids: list[int]) -> dict[int, list[CallParty]]:
    out: dict[int, list[CallParty]] = {i: [] for i in ids}
    if ids:
        stmt = select(CallParty).where(CallParty.call_id.in_(ids)).order_by(CallParty.id)
        for p in (await session.execute(stmt)).scalars():
            out[p.call_id].append(p)
    return out


async def live_calls(session: AsyncSession, services: Services, who: Actor) -> list[LiveCall]:
    """Conversations going on that the asker may see: a counsellor's or a supervisor's
    organisation's; an operator's or admin's, all. Longest talking first."""
    if who.role not in room.READERS:
        raise Forbidden("live calls are for counsellors, supervisors, operators and admins")
    stmt = select(Call).where(Call.state == CallState.CONNECTED)
    if who.role not in room.SEE_ALL:
        stmt = stmt.where(Call.org_id == who.org_id)
    now = services.clock()
    u = uow.of(session)
    calls = list((await u.session.execute(stmt.order_by(Call.connected_at, Call.id))).scalars())
    parties = await _parties_of(u.session, [c.id for c in calls])
    return [_live(services.cfg, c, parties[c.id], now) for c in calls]


def _emergency(cfg: HotlineConfig, prefecture: str | None) -> EmergencyLines:
    if prefecture is None:
        return EmergencyLines(
            None,
            False,
            False,
            emergency_missing=True,
            what_to_do=targets.WHAT_TO_DO,
            what_to_do_ja=targets.WHAT_TO_DO_JA,
        )
    lines = {s: targets.emergency(cfg, prefecture, s) for s in targets.SERVICES}
    checked = {s: line.checked_on for s, line in lines.items() if line is not None}
    missing = len(checked) < len(lines)
    return EmergencyLines(
        prefecture,
        lines["fire"] is not None,
        lines["police"] is not None,
        checked,
        emergency_missing=missing,
        what_to_do=targets.WHAT_TO_DO if missing else None,
        what_to_do_ja=targets.WHAT_TO_DO_JA if missing else None,
    )


async def card(
    session: AsyncSession,
    services: Services,
    who: Actor,
    call_id: int,
    *,
    prefecture: str | None = None,
) -> Card:
    """One call's card: the call, its parties (with supervisors listening), open help
    requests, the linkage case of its record, and the emergency lines of the prefecture
    (`prefecture`, else the organisation's default)."""
    u = uow.of(session)
    call = await call_store.get_call_by_id(u.session, call_id)
    if call is None:
        raise NotFound("unknown call")
    room.may_read(services, who, call)
    rows = await room.parties(u.session, call.id)
    helps = await open_help_count(u.session, call.id)
    org = room.org_of(services, call)
    case = await _case(session, services, call.id, org)
    cfg = services.cfg
    return Card(
        call=_live(cfg, call, rows, services.clock()),
        state=call.state,
        parties=[view(p, party_name(cfg, p, org)) for p in rows],
        help_open=helps,
        case=case,
        emergency=_emergency(cfg, prefecture or targets.prefecture_of(cfg, org)),
    )


async def _case(
    session: AsyncSession, services: Services, call_id: int, org: str | None
) -> dict[str, object] | None:
    if org is None:
        return None
    record = await records.record_of(session, call_id=call_id, org_id=org)
    if record is None:
        return None
    ref = await services.linkage.of_record(session, record.id)
    return None if ref is None else {"id": ref.id, "status": ref.status}


async def targets_now(
    session: AsyncSession, services: Services, who: Actor, call_id: int
) -> dict[str, list[TargetView]]:
    """Who may be brought into the call now, per kind: the directory's partners, support
    organisations and interpreters open now, the options' queues (a cold transfer), and the
    organisation's supervisors on duty now."""
    u = uow.of(session)
    call = await call_store.get_call_by_id(u.session, call_id)
    if call is None:
        raise NotFound("unknown call")
    room.may_act(services, who, call)
    now, cfg = services.clock(), services.cfg
    out = {
        kind: [TargetView(e.id, e.name) for e in targets.open_now(cfg, kind, now)]
        for kind in targets.DIRECTORY_KINDS
    }
    out["queue"] = [TargetView(o.id, o.name) for o in cfg.options if o.id != call.option_id]
    org = room.org_of(services, call)
    duty_now = {d.supervisor_id for d in await duty.on_duty(u.session, org or "")}
    out["supervisor"] = [
        TargetView(s.id, s.name) for s in targets.supervisors_of(cfg, org) if s.id in duty_now
    ]
    return out
