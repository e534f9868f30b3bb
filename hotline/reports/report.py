"""The period report: the table the trials published, computed from the stored calls.

`build` returns a plain dict (the JSON of GET /api/reports/periods/{id}); `render.py` turns it
into a table, CSV or a chart. Rates are percentages rounded half up to one decimal, as the
trials published them; a period without calls reports zeros.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.config import TOKYO, HotlineConfig
from hotline.reports import conference, labels, queries, tallies
from hotline.reports import definitions as d
from hotline.reports.conference import empty as empty_conference
from hotline.reports.definitions import CALLBACK_OUTCOMES, NONE, STAGES

Sessions = async_sessionmaker[AsyncSession]


class UnknownPeriod(LookupError):
    """No such period; `known` lists the ids that are."""

    def __init__(self, period_id: str, known: list[str]) -> None:
        super().__init__(f"unknown period {period_id!r}; known periods: {', '.join(known)}")
        self.period_id, self.known = period_id, known


def rate(connected: int, calls: int) -> float:
    return one_decimal(d.answer_rate(connected, calls))


def one_decimal(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def known_periods(cfg: HotlineConfig) -> list[str]:
    return [p.id for p in labels.periods(cfg)]


def find(cfg: HotlineConfig, period_id: str) -> labels.PeriodInfo:
    info = labels.period(cfg, period_id)
    if info is None:
        raise UnknownPeriod(period_id, known_periods(cfg))
    return info


async def build(
    session: AsyncSession, cfg: HotlineConfig, period_id: str, *, sessions: Sessions | None = None
) -> dict[str, Any]:
    """The report of one period (`none`: calls outside every period).

    With `sessions` on PostgreSQL, the ended calls are tallied first (`tallies.py`), and the
    unique-caller count runs on a connection of its own beside the rest. SQLite has one
    writer, and the request's own session may hold it: everything runs on `session` there
    (the /metrics reads and `hotline report` keep the tallies current).
    """
    info = find(cfg, period_id)
    if sessions is not None and queries.dialect(session) == "postgresql":
        await tallies.catch_up(sessions)  # the figures are the same without; only slower
        facts, callers = await asyncio.gather(
            _facts(session, period_id), _caller_days(sessions, period_id)
        )
    else:
        facts = await _facts(session, period_id)
        callers = await queries.caller_days(session, period_id)
    return assemble(cfg, info, callers=callers, **facts)


async def build_all(session: AsyncSession, cfg: HotlineConfig) -> list[dict[str, Any]]:
    return [await build(session, cfg, p) for p in known_periods(cfg)]


async def _facts(s: AsyncSession, period_id: str) -> dict[str, Any]:
    ages, kinds = await queries.records(s, period_id)
    return {
        "conference": conference.fold(*await conference.rows(s, period_id)),
        "groups": await queries.period_groups(s, period_id),
        "waits": await queries.waits(s, period_id),
        "serious": await queries.serious_cases(s, period_id),
        "ages": dict(ages.most_common()),
        "kinds": dict(kinds.most_common()),
    }


async def _caller_days(sessions: Sessions, period_id: str) -> tuple[int, int]:
    async with sessions() as s:
        return await queries.caller_days(s, period_id)


def _sum(groups: list[dict[str, Any]], key: str, by: str | None = None) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for g in groups:
        out[g[by] if by else ""] += g[key]
    return out


def _counted(calls: int, connected: int) -> dict[str, Any]:
    return {"calls": calls, "connected": connected, "answer_rate": rate(connected, calls)}


def assemble(
    cfg: HotlineConfig,
    info: labels.PeriodInfo,
    *,
    groups: list[dict[str, Any]],
    callers: tuple[int, int],
    waits: list[float],
    serious: int,
    ages: dict[str, int],
    kinds: dict[str, int],
    conference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    total = {k: _sum(groups, k)[""] for k in d.KEYS}
    abandoned = {s: total[f"abandoned_{s}"] for s in STAGES}
    # Anonymous calls have no hash: each one is a caller-day of its own. A caller-day is
    # reached when a counsellor talked with them, directly or by a callback.
    caller_days = callers[0] + total["anonymous"]
    reached = callers[1] + total["anonymous_connected"]
    return {
        "period": _period(info),
        **_counted(total["calls"], total["connected"]),
        "abandoned": {"total": sum(abandoned.values()), **abandoned},
        "closed": total["closed"],
        "serious_cases": serious,
        "wait_seconds": {
            "connected_calls": len(waits),
            "median": one_decimal(d.percentile(waits, 0.5)),
            "p90": one_decimal(d.percentile(waits, 0.9)),
        },
        # Callback requests, counted apart from the attempts (definitions.py): each was also
        # counted above as a call abandoned at stage `callback`.
        "callbacks": {o: total[f"callbacks_{o}"] for o in CALLBACK_OUTCOMES},
        # Holds, transfers, three-way calls, emergency escalations and supervisions of the
        # calls in conversation (`conference.py`: from their parties, not the tallies).
        "conference": conference if conference is not None else empty_conference(),
        "unique_callers": {
            "caller_days": caller_days,
            "connected": reached,
            "answer_rate": rate(reached, caller_days),
        },
        "options": _options(cfg, info, groups),
        "entries": _entries(cfg, groups),
        "days": _days(info, groups),
        "age_groups": ages,
        "categories": kinds,
    }


def _period(info: labels.PeriodInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "start": _minute(info.start),
        "end": _minute(info.end),  # exclusive
        "menu": info.menu,
    }


def _minute(at: dt.datetime | None) -> str | None:
    """A period's bound as published: Tokyo date and time to the minute."""
    return at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if at else None


def _options(
    cfg: HotlineConfig, info: labels.PeriodInfo, groups: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Offered options first (zeros included), then any other option seen, then `none`."""
    calls, connected = _sum(groups, "calls", "option"), _sum(groups, "connected", "option")
    abandoned = {s: _sum(groups, f"abandoned_{s}", "option") for s in STAGES}
    closed = _sum(groups, "closed", "option")
    ids = labels.offered_options(cfg, info.menu)
    ids += sorted(o for o in calls if o not in ids and o != NONE) + [NONE]
    return [
        {
            "id": o,
            "name": labels.option_name(cfg, o),
            **_counted(calls[o], connected[o]),
            "abandoned": sum(abandoned[s][o] for s in STAGES),
            "closed": closed[o],
        }
        for o in ids
    ]


def _entries(cfg: HotlineConfig, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls, connected = _sum(groups, "calls", "entry"), _sum(groups, "connected", "entry")
    ids = [e for e in labels.entries(cfg) if e != labels.OTHER_ENTRY or calls[e]]
    return [
        {"id": e, "name": labels.entry_name(cfg, e), **_counted(calls[e], connected[e])}
        for e in ids
    ]


def _days(info: labels.PeriodInfo, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every day of the period (zeros for a day without calls), by Tokyo date of arrival."""
    calls, connected = _sum(groups, "calls", "day"), _sum(groups, "connected", "day")
    days = set(calls)
    if info.start and info.end:
        # Every Tokyo day with a minute inside the period: 10:00 to 10:00 a week later is 8.
        first = info.start.astimezone(TOKYO).date()
        last = (info.end - dt.timedelta(microseconds=1)).astimezone(TOKYO).date()
        span = (last - first).days + 1
        days |= {(first + dt.timedelta(days=i)).isoformat() for i in range(span)}
    return [{"date": day, **_counted(calls[day], connected[day])} for day in sorted(days)]
