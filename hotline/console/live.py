"""The console's live calls: one snapshot of every conversation going on, loaded by the
process's hub (`hotline.common.hub.Hub`) for every browser watching, and cut per watcher.

The snapshot is what changes when a call's room changes (its phase, its parties, a help
request, the call starting or ending), never a clock: how long a call has lasted is shown
from `connected_at` by the browser, so an unchanged call gives an equal snapshot and nothing
is sent. Three queries for every call at once (the connected calls, their parties, their
open help requests and linkage cases), at most once a second while someone watches: no
browser ever queries the database for live calls.

Never a phone number: a party is named by its directory or configuration name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call
from hotline.calls.states import CallState
from hotline.cases.models import LinkageCase
from hotline.common.hub import Hub
from hotline.conference.duty import HelpRequest, HelpState
from hotline.conference.models import CallParty, PartyKind, PartyRole, PartyStatus
from hotline.config import HotlineConfig
from hotline.services import Services

PHASES = {
    "talking": "通話中",
    "on_hold": "保留中（相談者は保留音を聞いています）",
    "consulting": "相談中（相談者は保留中）",
    "three_way": "三者通話",
    "handed_over": "引き継ぎ済み（相談員は退出）",
}
STATUSES = {"dialling": "呼出中", "joined": "参加中", "left": "退出", "failed": "つながらず"}
KINDS = {
    "partner": "連携団体",
    "support": "地域の支援団体",
    "interpreter": "通訳",
    "emergency": "緊急通報",
    "supervisor": "スーパーバイザー",
    "queue": "待ち行列へ転送",
    "line": "相談員",
}
MODES = {"listen": "聞いています", "coach": "助言中（相談員にだけ聞こえます）", "join": "参加中"}
SERVICES = {"fire": "消防", "police": "警察"}
IN_PLAY = (PartyStatus.DIALLING, PartyStatus.JOINED)


@dataclass(frozen=True, slots=True)
class Party:
    id: int
    role: str
    kind: str | None
    target_id: str | None
    status: str
    held: bool
    muted: bool
    coaching: bool

    @property
    def mode(self) -> str:
        """How a supervisor is in the call: listening (muted), coaching, or joined."""
        return "listen" if self.muted else "coach" if self.coaching else "join"

    @property
    def in_play(self) -> bool:
        return self.status in IN_PLAY


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: int
    org_id: str | None
    line_id: str | None
    option_id: str | None
    language: str | None
    waiting_since: dt.datetime | None
    connected_at: dt.datetime | None
    phase: str
    conference: bool  # False: a two-leg bridge (no REST account): nothing can be done
    parties: tuple[Party, ...]
    case_id: int | None
    helps: tuple[tuple[int, str], ...]  # help requests not closed: (id, state)

    @property
    def waited_seconds(self) -> float | None:
        if self.waiting_since is None or self.connected_at is None:
            return None
        return max((self.connected_at - self.waiting_since).total_seconds(), 0.0)

    @property
    def third(self) -> list[Party]:
        return [p for p in self.parties if p.role == PartyRole.THIRD and p.in_play]

    @property
    def supervisors(self) -> list[Party]:
        return [p for p in self.parties if p.role == PartyRole.SUPERVISOR and p.in_play]


Snapshot = tuple[LiveCall, ...]


def _party(p: CallParty) -> Party:
    return Party(
        p.id, p.role, p.kind, p.target_id, p.status, bool(p.held), bool(p.muted), bool(p.coaching)
    )


async def load(services: Services) -> Snapshot:
    """Every conversation going on, in a unit of work of its own (the hub's load)."""
    async with services.console_unit() as uow:
        return await snapshot(uow.session, services.cfg)


async def snapshot(session: AsyncSession, cfg: HotlineConfig) -> Snapshot:
    """Every conversation going on, longest first, with its parties, open help requests and
    linkage case (in the caller's transaction: a page's, whose request holds one)."""
    found = select(Call).where(Call.state == CallState.CONNECTED)
    calls = list((await session.execute(found.order_by(Call.connected_at, Call.id))).scalars())
    ids = [c.id for c in calls]
    parties: dict[int, list[Party]] = {i: [] for i in ids}
    helps: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    cases: dict[int, int] = {}
    if ids:
        rows = await session.execute(
            select(CallParty).where(CallParty.call_id.in_(ids)).order_by(CallParty.id)
        )
        for p in rows.scalars():
            parties[p.call_id].append(_party(p))
        open_help = (
            select(HelpRequest.call_id, HelpRequest.id, HelpRequest.state)
            .where(HelpRequest.call_id.in_(ids), HelpRequest.state != HelpState.CLOSED)
            .order_by(HelpRequest.id)
        )
        for call_id, help_id, state in (await session.execute(open_help)).all():
            helps[call_id].append((help_id, state))
        linked = select(LinkageCase.call_id, func.min(LinkageCase.id)).where(
            LinkageCase.call_id.in_(ids)
        )
        cases = {c: i for c, i in await session.execute(linked.group_by(LinkageCase.call_id))}
    return tuple(
        LiveCall(
            call_id=c.id,
            org_id=org_of(cfg, c.line_id, c.org_id),
            line_id=c.line_id,
            option_id=c.option_id,
            language=c.language,
            waiting_since=c.waiting_since,
            connected_at=c.connected_at,
            phase=c.phase or "talking",
            conference=c.conference_sid is not None,
            parties=tuple(parties[c.id]),
            case_id=cases.get(c.id),
            helps=tuple(helps[c.id]),
        )
        for c in calls
    )


def org_of(cfg: HotlineConfig, line_id: str | None, org_id: str | None) -> str | None:
    """The organisation whose line took the call (the line's, else the call's own)."""
    found = cfg.line(line_id) if line_id else None
    return found[0].id if found is not None else org_id


def hub_for(services: Services) -> Hub[Snapshot]:
    """The process's hub of live calls (created once by the composition root)."""

    def loader() -> Awaitable[Snapshot]:
        return load(services)

    return Hub(loader)


def of_org(snapshot: Iterable[LiveCall], org_id: str | None) -> list[LiveCall]:
    """What one watcher sees: the calls of their organisation (None: every call)."""
    return [c for c in snapshot if org_id is None or c.org_id == org_id]


def namer(cfg: HotlineConfig) -> Callable[[LiveCall, Party], str]:
    """What a party is called on the card (never its number)."""

    def name(call: LiveCall, p: Party) -> str:
        if p.role == PartyRole.CALLER:
            return "相談者"
        if p.role == PartyRole.COUNSELLOR:
            return f"相談員（{p.target_id or call.line_id or '回線'}）"
        if p.kind == PartyKind.EMERGENCY:
            prefecture, _, service = (p.target_id or "").partition(":")
            return f"{prefecture} {SERVICES.get(service, service)} 指令センター"
        if p.kind == PartyKind.QUEUE:
            known = cfg.has_option(p.target_id or "")
            return cfg.option(p.target_id or "").name if known else p.target_id or ""
        if p.kind in (PartyKind.PARTNER, PartyKind.SUPPORT, PartyKind.INTERPRETER):
            entry = cfg.directory_entry(p.kind, p.target_id or "")  # type: ignore[arg-type]
            return entry.name if entry is not None else p.target_id or ""
        if p.kind == PartyKind.SUPERVISOR:
            found = cfg.directory_entry("supervisor", p.target_id or "")
            return found.name if found is not None else p.target_id or ""
        return p.target_id or KINDS.get(p.kind or "", "")

    return name


def labels(cfg: HotlineConfig) -> dict[str, Any]:
    """What the templates need to say a live call in Japanese."""
    options = {o.id: o.name for o in cfg.options}
    languages = {i: lang.name_ja for i, lang in cfg.languages.items()}
    return {
        "phases": PHASES,
        "statuses": STATUSES,
        "kinds": KINDS,
        "modes": MODES,
        "services": SERVICES,
        "options": options,
        "languages": languages,
        "party_name": namer(cfg),
    }
