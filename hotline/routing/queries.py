"""The routing pass's statements: the free lines, the heads of the queue, the reservations'
(call, line) pairs, and a holding caller's check, each built once (building a statement costs
more than running it; a prepared statement's generic plan needs the same SQL each time)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.base import ColumnCollection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, Subquery

from hotline.calls import lifecycle
from hotline.calls import store as calls_store
from hotline.calls.models import Call
from hotline.lines.models import Presence
from hotline.lines.queries import LINES, among, signed_in_among
from hotline.routing import engine

# A literal LIMIT 1: as a parameter, a generic plan would guess its rows far too high.
ONE = literal_column("1", Integer)


def queued_now(c: Any) -> ColumnElement[bool]:
    """Holding callers and callback requests are one queue, served in one order; on the
    calls or an alias of them. Literals, not parameters: a prepared statement's generic
    plan uses the partial index `ix_calls_queue` only if its condition is written out."""
    return cast(
        ColumnElement[bool],
        c.state.in_([literal_column(f"'{s.value}'") for s in lifecycle.QUEUED]),
    )


QUEUED_NOW = queued_now(Call)


# Free lines, locked: built once (with `free_among`, once per number of scheduled lines).
FREE: Select[Any] = (
    select(LINES.c.id, LINES.c.org_id, LINES.c.idle_since)
    .where(
        LINES.c.call_id.is_(None),
        LINES.c.status == literal_column(f"'{Presence.READY.value}'"),  # rings only when ready
        or_(
            LINES.c.cooldown_until.is_(None),
            LINES.c.cooldown_until <= bindparam("now", type_=LINES.c.cooldown_until.type),
        ),
    )
    .with_for_update(skip_locked=True, of=LINES)
)


@functools.cache
def free_among(n: int) -> Select[Any]:
    return FREE.where(among(n))


@functools.cache
def staffed_and_ahead(n: int) -> Select[int, int]:
    """`signed_in_among(n)` and the callers ahead (`calls_store.ahead_count`), in one
    statement."""
    return select(signed_in_among(n).scalar_subquery(), calls_store.ahead_count().scalar_subquery())


def _waiting_now(c: ColumnCollection[str, Any]) -> tuple[ColumnElement[bool], ...]:
    """Queued calls the pass may serve at `:now`, on the calls or an alias of them."""
    return (
        queued_now(c),
        # Only callers still polling since `:fresh` (a callback request does not poll: its
        # last_seen_at is cleared): a line held for one who is gone is wasted.
        or_(c.last_seen_at.is_(None), c.last_seen_at >= bindparam("fresh")),
        # A callback request waiting out the pause before another try keeps its place.
        or_(c.callback_after.is_(None), c.callback_after <= bindparam("now")),
    )


@functools.cache
def queue_heads(postgres: bool) -> Select[*tuple[Any, ...]]:
    """The pass's read of the queue, built once (building it costs more than running it):
    the heads of each class (`_heads`, `_ranked`), then those few locked by id, still
    waiting and polling, skipping what another pass holds. Parameters `limit`, `now` and
    `fresh`; on PostgreSQL also the classes' own numbers (`cap_options`, `cap_languages`,
    `caps`: `ServingCache.caps`)."""
    calls = table_of(Call)
    heads = _heads() if postgres else _ranked()
    return (
        select(
            calls.c.id,
            calls.c.option_id,
            calls.c.language,
            calls.c.waiting_since,
            calls.c.priority,
            calls.c.state,
            calls.c.call_sid,
        )
        .where(calls.c.id.in_(heads), *_waiting_now(calls.c))
        .with_for_update(skip_locked=True, of=calls)
    )


def _ranked() -> Select[Any]:
    """The ids of the first `:limit` waiting calls of each class, ranked by a window
    (SQLite: a small service's queue, where one sort costs little)."""
    c = table_of(Call).c
    rank = func.row_number().over(
        partition_by=(c.option_id, c.language),
        order_by=(c.priority.desc(), c.waiting_since, c.id),
    )
    ranked = select(c.id, rank.label("rank")).where(*_waiting_now(c)).subquery()
    return select(ranked.c.id).where(ranked.c.rank <= bindparam("limit"))


def _heads() -> Select[Any]:
    """The ids of the first `:limit` waiting calls of each class as ranges of the queue
    index (PostgreSQL).

    `ix_calls_queue` (option, language, priority descending, waiting since, id; queued calls
    only) is the queue order. A window over all queued calls makes PostgreSQL sort them all
    (its planner prefers the sort at 10,000 rows, not seeing that it compares text with the
    database's collation); here each class is one index range read up to `:limit` rows:

    - the classes present are found by skipping through the index (a recursive CTE: from
      one class, the next is the next language of its option, else its calls with no
      language, else the first class of the next option), one probe per class;
    - each class's heads are a LATERAL ... ORDER BY (the index's order) LIMIT: its own
      number if `caps` names the class, else `:limit`. A class with no language (Japanese)
      has its own branch, as `language = NULL` matches nothing; its ORDER BY names
      `language` too, so that the planner sees the index's order (IS NULL does not make the
      column a constant for it).
    """
    calls = table_of(Call)
    klass = _class_numbers(_queue_classes(calls))

    def firsts(name: str, where: Callable[[Any], tuple[Any, ...]]) -> Select[Any]:
        c = calls.alias(name).c
        return (
            select(c.id)
            .where(*_waiting_now(c), c.option_id == klass.c.option_id, *where(c))
            .order_by(c.option_id, c.language, c.priority.desc(), c.waiting_since, c.id)
            .limit(bindparam("limit", type_=Integer))
        )

    # `:limit` inside, the class's own number outside: the planner knows the one, not the
    # other (it would guess a tenth of the class, and a cost that grows with the queue).
    heads = (
        union_all(
            firsts("spoken", lambda c: (c.language == klass.c.language,)),
            firsts("japanese", lambda c: (c.language.is_(None), klass.c.language.is_(None))),
        )
        .limit(klass.c.n)
        .subquery()
        .lateral("heads")
    )
    return select(heads.c.id).select_from(klass.join(heads, true()))


def _queue_classes(calls: Table) -> CTE:
    """The classes present in the queue, skipping through its index (`_heads`): a recursive
    CTE of (option_id, language), one probe per class."""

    def probe(name: str, where: Callable[[Any], tuple[Any, ...]]) -> Select[Any]:
        c = calls.alias(name).c
        return (
            select(c.option_id, c.language)
            .where(queued_now(c), *where(c))
            .order_by(c.option_id, c.language)
            .limit(ONE)
        )

    classes = probe("first_class", lambda c: ()).cte("queue_classes", recursive=True)
    prev = classes.alias("prev")
    after = (
        union_all(
            probe(
                "same_option",
                lambda c: (c.option_id == prev.c.option_id, c.language > prev.c.language),
            ),
            probe(
                "no_language",
                lambda c: (
                    c.option_id == prev.c.option_id,
                    c.language.is_(None),
                    prev.c.language.is_not(None),
                ),
            ),
            probe("next_option", lambda c: (c.option_id > prev.c.option_id,)),
        )
        .limit(ONE)
        .subquery()
        .lateral("next_class")
    )
    classes = classes.union_all(
        select(after.c.option_id, after.c.language).select_from(prev.join(after, true()))
    )
    return classes


def _class_numbers(classes: CTE) -> Subquery:
    """Each class with its number of heads to read (`n`): its cap if `caps` names it, else
    `:limit` (`_heads`; the caps are `ServingCache.caps`)."""
    caps = (
        func.unnest(
            bindparam("cap_options", type_=ARRAY(String)),
            bindparam("cap_languages", type_=ARRAY(String)),
            bindparam("caps", type_=ARRAY(Integer)),
        )
        .table_valued("option_id", "language", "n")
        .render_derived(name="caps")
    )
    capped = and_(
        caps.c.option_id == classes.c.option_id,
        caps.c.language.is_not_distinct_from(classes.c.language),
    )
    klass = (
        select(
            classes.c.option_id,
            classes.c.language,
            func.coalesce(caps.c.n, bindparam("limit", type_=Integer)).label("n"),
        )
        .select_from(classes.outerjoin(caps, capped))
        .subquery("class")
    )
    return klass


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def pairs(
    session: AsyncSession, reservations: list[engine.Reservation], calls: Table, lines: Table
) -> tuple[ColumnElement[Any], ...]:
    """The (call, line) pairs of a pass for its two UPDATEs: each call's line, each line's
    call, and the rows to update."""
    if session.get_bind().dialect.name == "postgresql":
        # Two arrays joined in: one prepared statement whatever the number of pairs.
        pairs = (
            func.unnest(
                bindparam("call_ids", type_=ARRAY(Integer)),
                bindparam("line_ids", type_=ARRAY(String)),
            )
            .table_valued("call_id", "line_id")
            .render_derived(name="reserved")
        )
        return (
            pairs.c.line_id,
            pairs.c.call_id,
            calls.c.id == pairs.c.call_id,
            lines.c.id == pairs.c.line_id,
        )
    # SQLite, the embedded database of a small service: a CASE on the key.
    line_of = {r.call_id: r.line_id for r in reservations}
    call_of = {r.line_id: r.call_id for r in reservations}
    return (
        case(line_of, value=calls.c.id),
        case(call_of, value=lines.c.id),
        calls.c.id.in_(line_of),
        lines.c.id.in_(call_of),
    )
