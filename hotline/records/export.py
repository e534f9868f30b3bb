"""Pseudonymous exports of a period's records, as CSV or JSON, streamed.

Rows carry coarse fields only: period, option, entry number, organisation, the day of the call
(Asia/Tokyo), age group, gender, categories, support, seriousness and the linkage flag. Never
the summary, the caller hash, a call id or a time of day. Counts (`table=counts`) are
coarsened by `records.export.min_cell` (see `cells.py`).

The rows are read through a server-side cursor in their own read transaction and written out
a batch at a time, so memory stays flat however long the period.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.calls.models import Call
from hotline.config import TOKYO
from hotline.records.cells import coarsen
from hotline.records.linkage import Linkage
from hotline.records.models import ConsultationRecord
from hotline.uow import UnitOfWork

Format = Literal["csv", "json"]
Table = Literal["records", "counts"]
COLUMNS = (
    "period",
    "option",
    "entry",
    "org",
    "date",
    "age_group",
    "gender",
    "categories",
    "support",
    "seriousness",
    "linkage_needed",
)
BATCH = 2000
INDEX = {name: i for i, name in enumerate(COLUMNS)}
R = ConsultationRecord


def _rows(period_id: str) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Call.period_id,
            Call.option_id,
            Call.entry,
            R.org_id,
            Call.created_at,
            R.age_group,
            R.gender,
            # As text: the driver would parse every row's JSON; `_Lists` parses each value once.
            cast(R.categories, Text),
            cast(R.support, Text),
            R.seriousness,
            R.linkage_needed,
        )
        .join(Call, Call.id == R.call_id)
        .where(Call.period_id == period_id)
        .order_by(R.id)
    )


class _Lists:
    """Parses the JSON text of a list column, remembering up to `limit` distinct texts: a
    period has few combinations of categories, so most rows cost a lookup, and memory stays
    bounded whatever the period's length."""

    def __init__(self, limit: int = 4096) -> None:
        self._seen: dict[str, tuple[str, ...]] = {}
        self._limit = limit

    def __call__(self, text: str) -> tuple[str, ...]:
        found = self._seen.get(text)
        if found is None:
            found = tuple(json.loads(text))
            if len(self._seen) < self._limit:
                self._seen[text] = found
        return found


def _row(values: Sequence[Any], lists: _Lists) -> tuple[Any, ...]:
    """A row in COLUMNS order: the day in Asia/Tokyo instead of the time, lists parsed."""
    period, option, entry, org, at, age, gender, categories, support, seriousness, link = values
    day = at.astimezone(TOKYO).date().isoformat()
    cats, sup = lists(categories), lists(support)
    return (period, option, entry, org, day, age, gender, cats, sup, seriousness, link)


async def _batches(
    sessions: async_sessionmaker[AsyncSession], stmt: Select[Any]
) -> AsyncIterator[Sequence[Any]]:
    """Rows a batch at a time from a server-side cursor, in a read transaction of their own."""
    async with UnitOfWork(sessions()) as uow:
        conn = await uow.session.connection()  # Core rows: no ORM bookkeeping per row
        result = await conn.stream(stmt.execution_options(yield_per=BATCH))
        async for batch in result.partitions():
            yield batch


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    *,
    linkage: Linkage,
    period_id: str,
    fmt: Format,
    table: Table,
    min_cell: int,
) -> AsyncIterator[str]:
    """The export as text chunks, one batch of rows each."""
    if table == "counts":
        counts = await count(sessions, linkage=linkage, period_id=period_id, min_cell=min_cell)
        yield _counts_csv(counts) if fmt == "csv" else json.dumps(counts, ensure_ascii=False)
        return
    lists, first = _Lists(), True
    yield _csv_lines([COLUMNS]) if fmt == "csv" else "["
    async for batch in _batches(sessions, _rows(period_id)):
        rows = [_row(values, lists) for values in batch]
        if fmt == "csv":
            yield _csv_lines(_flat(r) for r in rows)
        else:
            yield ("\n" if first else ",\n") + ",\n".join(_json(r) for r in rows)
        first = False
    if fmt == "json":
        yield "\n]\n"


def _json(row: tuple[Any, ...]) -> str:
    return json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False)


def _flat(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Lists as one cell, joined by "|" (no configured label contains it; "・" and "," do).
    period, option, entry, org, day, age, gender, cats, sup, seriousness, link = row
    return (
        period, option, entry, org, day, age, gender or "", "|".join(cats), "|".join(sup),
        seriousness, int(link),
    )  # fmt: skip


def _csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


PARTITIONS = (
    "option",
    "entry",
    "org",
    "date",
    "age_group",
    "gender",
    "seriousness",
    "linkage_needed",
)
MULTI = ("categories", "support")


async def count(
    sessions: async_sessionmaker[AsyncSession],
    *,
    linkage: Linkage,
    period_id: str,
    min_cell: int,
) -> dict[str, Any]:
    """A period's counts by each coarse field, its callers and its cases, coarsened."""
    tables: dict[str, Counter[Any]] = {name: Counter() for name in (*PARTITIONS, *MULTI)}
    total, lists = 0, _Lists()
    async for batch in _batches(sessions, _rows(period_id)):
        for values in batch:
            row = _row(values, lists)
            total += 1
            for name in PARTITIONS:
                tables[name][row[INDEX[name]]] += 1
            for name in MULTI:
                tables[name].update(set(row[INDEX[name]]))
    async with sessions() as session:
        tables["case_status"] = await linkage.statuses(session, period_id)
    callers = await _callers(sessions, period_id)
    return {
        "period": period_id,
        "min_cell": min_cell,
        "records": coarsen({"all": total}, min_cell)[0]["count"],
        "callers": {k: coarsen({k: v}, min_cell)[0]["count"] for k, v in callers.items()},
        "tables": {
            name: coarsen(dict(c), min_cell, partition=name not in MULTI)
            for name, c in tables.items()
        },
    }


async def _callers(sessions: async_sessionmaker[AsyncSession], period_id: str) -> dict[str, int]:
    """Distinct callers among the period's records (by keyed hash), how many of them have
    more than one record, and records whose number was withheld. No hash leaves the query."""
    per_caller = (
        select(Call.caller_hash, func.count().label("n"))
        .join(R, R.call_id == Call.id)
        .where(Call.period_id == period_id)
        .group_by(Call.caller_hash)
        .subquery()
    )
    known = per_caller.c.caller_hash.is_not(None)
    stmt = select(
        func.count().filter(known),
        func.count().filter(known & (per_caller.c.n > 1)),
        func.coalesce(func.sum(per_caller.c.n).filter(~known), 0),
    )
    async with sessions() as session:
        unique, repeat, withheld = (await session.execute(stmt)).one()
    return {"unique": unique, "repeat": repeat, "withheld": withheld}


def _counts_csv(counts: dict[str, Any]) -> str:
    rows: list[Sequence[Any]] = [("table", "value", "count")]
    rows.append(("records", "", counts["records"]))
    rows.extend(("callers", k, v) for k, v in counts["callers"].items())
    for name, cells in counts["tables"].items():
        rows.extend((name, _label(c["value"]), c["count"]) for c in cells)
    return _csv_lines(rows)


def _label(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return "" if value is None else value
