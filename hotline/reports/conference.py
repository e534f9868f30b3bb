"""The conference calls of a period: holds, transfers, three-way calls, emergency escalations
and supervisions, from the parties of the calls (`call_parties`) and their event log.

Counted from those rows directly, not tallied: only a call in conversation has parties or
holds, so a period's rows are reached through its connected calls (the partial index
`ix_calls_connected_waits`), then each call's parties and events by their call's index: a
few rows per conversation (第5期 had 3,032), however many calls the period holds. The calls'
tallies exist because counting every call of a period was slow; these rows never were many.
An ended call's parties and events do not change again, so a closed period always reports
the same; a call still in conversation counts as it stands, like the open calls elsewhere in
the report. docs/metrics.md defines each figure; docs/performance.md says what they cost
over a large event log.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls.models import Call, CallEvent
from hotline.conference.models import CallParty, PartyRole, PartyStatus

# A third party's kind, where the call was handed on or joined (the metrics' `target`):
# another option's queue (a cold transfer), a partner organisation's desk, a local support
# organisation, an interpreter service, an emergency command centre, a supervisor on duty.
TARGETS = ("queue", "partner", "support", "interpreter", "emergency", "supervisor")
TARGET_NAMES = {
    "queue": "他の相談の待ち行列",
    "partner": "連携団体",
    "support": "地域の支援団体",
    "interpreter": "通訳",
    "emergency": "消防・警察",
    "supervisor": "スーパーバイザー",
}
MODES = ("warm", "cold")
SUPERVISION_MODES = ("listen", "coach", "join")
# The event log's kinds these figures read (hotline.calls.events, `event_kind`), each with
# its event's fields as detail: `hold` (HoldSet on), `party` (PartyAdded: party_id, kind,
# consult), `counsellor-left` (CounsellorLeft: handover), and `alljoined` (AllJoined, whose
# kind is its class name, event_kind's default).
HOLD, PARTY, LEFT, ALL_JOINED = "hold", "party", "counsellor-left", "alljoined"
EVENT_KINDS = (HOLD, PARTY, LEFT, ALL_JOINED)
QUEUE = "queue"


async def rows(session: AsyncSession, period_id: str) -> tuple[list[Any], list[Any]]:
    """The third parties and supervisors, and the events counted, of the period's calls."""
    connected = (Call.period_id == period_id, Call.connected_at.is_not(None))
    parties = _per_call(
        session,
        CallParty,
        CallParty.call_id,
        (CallParty.role.in_((PartyRole.THIRD, PartyRole.SUPERVISOR)),),
        PARTY_COLUMNS,
        connected,
    )
    events = _per_call(
        session,
        CallEvent,
        CallEvent.call_id,
        (CallEvent.kind.in_(EVENT_KINDS),),
        ("call_id", "kind", "detail", "at"),
        connected,
    )
    found = (await session.execute(parties.order_by("id"))).all()
    logged = (await session.execute(events.order_by("call_id", "at"))).all()
    return list(found), list(logged)


PARTY_COLUMNS: tuple[str, ...] = ("id", "call_id", "role", "kind", "status", "muted")
PARTY_COLUMNS += ("coaching", "joined_at", "left_at")


def _per_call(
    session: AsyncSession,
    table: Any,
    call_id: Any,
    where: tuple[Any, ...],
    columns: tuple[str, ...],
    connected: tuple[Any, ...],
) -> Any:
    """`columns` of the rows of `table` of the period's connected calls. PostgreSQL reads
    them call by call (a LATERAL subquery on the call's index): left to itself, its planner
    scans the whole event log for the few kinds counted, as a period's connected calls are
    thousands of index probes; the log has every step of every call."""
    if session.get_bind().dialect.name != "postgresql":
        calls = select(Call.id).where(*connected).scalar_subquery()
        return select(*(getattr(table, c) for c in columns)).where(call_id.in_(calls), *where)
    own = (
        select(*(getattr(table, c) for c in columns))
        .where(call_id == Call.id, *where)
        .offset(literal_column("0"))  # a fence: planned per call, never flattened into a join
        .lateral()
    )
    picked = select(*(own.c[c] for c in columns)).select_from(Call).join(own, true())
    return picked.where(*connected)


def empty() -> dict[str, Any]:
    return fold([], [])


def fold(parties: list[Any], events: list[Any]) -> dict[str, Any]:
    """The report's `conference` section from the rows (plain Python: the event details are
    JSON, which each database reads its own way)."""
    consult = {
        int(e.detail["party_id"]): bool(e.detail.get("consult"))
        for e in events
        if e.kind == PARTY and isinstance(e.detail, dict) and "party_id" in e.detail
    }
    joined_all: dict[int, list[Any]] = {}
    for e in events:
        if e.kind == ALL_JOINED:
            joined_all.setdefault(e.call_id, []).append(e.at)
    handovers = [e for e in events if e.kind == LEFT and _detail(e).get("handover")]
    # A third party of a kind outside TARGETS (none is made so) is left out, never guessed.
    third = [p for p in parties if p.role == PartyRole.THIRD and p.kind in TARGETS]
    return {
        "holds": sum(e.kind == HOLD for e in events),
        "transfers": _transfers(third, handovers, consult),
        "three_way": _three_way(third, consult, joined_all),
        "emergency": _emergency(third),
        "supervisions": _supervisions([p for p in parties if p.role == PartyRole.SUPERVISOR]),
    }


def _detail(event: Any) -> dict[str, Any]:
    return event.detail if isinstance(event.detail, dict) else {}


def _transfers(third: list[Any], handovers: list[Any], consult: dict[int, bool]) -> dict[str, Any]:
    """A cold transfer to a queue is its `queue` row. Any other transfer is a handover: the
    counsellor left the caller with the third parties in the room then (joined, not left
    before), each counted once by its kind: warm if it was added to talk with the counsellor
    first (consult), cold if it met the caller at once."""
    by: Counter[tuple[str, str]] = Counter()
    for p in third:
        if p.kind == QUEUE:
            by[(QUEUE, "cold")] += 1
    counted: set[int] = set()
    for h in handovers:
        for p in third:
            if p.call_id != h.call_id or p.kind == QUEUE or p.id in counted:
                continue
            if p.joined_at is not None and p.joined_at <= h.at and not _left_before(p, h.at):
                counted.add(p.id)
                by[(p.kind, "warm" if consult.get(p.id) else "cold")] += 1
    return {
        "total": sum(by.values()),
        **{m: sum(n for (_, mode), n in by.items() if mode == m) for m in MODES},
        "by_target": {t: {m: by[(t, m)] for m in MODES} for t in TARGETS},
    }


def _left_before(party: Any, at: Any) -> bool:
    return party.left_at is not None and party.left_at < at


def _three_way(
    third: list[Any], consult: dict[int, bool], joined_all: dict[int, list[Any]]
) -> dict[str, Any]:
    """A third party in conversation with the caller and the counsellor at once: it joined,
    and either met the caller at once (added without consult) or the counsellor joined
    everyone while it was in (`alljoined`). Each party once."""
    by: Counter[str] = Counter()
    for p in third:
        if p.kind == QUEUE or p.joined_at is None:
            continue
        together = any(
            p.joined_at <= at and not _left_before(p, at) for at in joined_all.get(p.call_id, [])
        )
        if together or not consult.get(p.id, False):
            by[p.kind] += 1
    return {"total": sum(by.values()), "by_target": {t: by[t] for t in TARGETS}}


def _emergency(third: list[Any]) -> dict[str, int]:
    """Escalations asked for (a command centre's line dialled), those that joined the call,
    and those that never did (busy, no answer, refused by Twilio)."""
    rows = [p for p in third if p.kind == "emergency"]
    return {
        "escalations": len(rows),
        "connected": sum(p.joined_at is not None for p in rows),
        "failed": sum(p.status == PartyStatus.FAILED for p in rows),
    }


def _supervisions(rows: list[Any]) -> dict[str, int]:
    """A supervisor's leg asked for a call, by its mode as it last stood: coaching (heard by
    the counsellor only), muted (listening), or neither (joined the conversation)."""
    modes = Counter(
        "coach" if p.coaching else "listen" if p.muted else "join"
        for p in rows
        if p.status != PartyStatus.FAILED
    )
    return {"total": sum(modes.values()), **{m: modes[m] for m in SUPERVISION_MODES}}
