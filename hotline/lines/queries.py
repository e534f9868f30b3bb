"""Statements over the lines' presence that others build on: a line among `n` bound ids, and
how many of them are signed in (the routing pass, the staffing checks, the closures)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from hotline.lines.models import CARE_BREAKS, SIGNED_IN, Line, Presence

LINES = cast(Table, Line.__table__)


def among(n: int) -> ColumnElement[bool]:
    """The line is one of `n` ids bound as plain parameters line0, line1, ... (`line_params`),
    rather than an expanding list that SQLAlchemy renders again at each execution."""
    return LINES.c.id.in_([bindparam(f"line{i}") for i in range(n)])


def line_params(ids: Iterable[str]) -> dict[str, str]:
    """The parameters of a statement built with `among`, for these line ids."""
    return {f"line{i}": line_id for i, line_id in enumerate(ids)}


@functools.cache
def signed_in_among(n: int) -> Select[int]:
    """How many of `n` lines (`line_params`) are signed in: built once per number of lines
    (asked at every menu choice and hold poll). A line on a break it takes by itself (after
    a hard call, after long talk) counts: it is back within minutes without anyone's word, so
    its callers hold for it rather than hear that nobody is there."""
    resting = and_(
        LINES.c.status == literal_column(f"'{Presence.AWAY.value}'"),
        LINES.c.away_reason.in_([literal_column(f"'{r.value}'") for r in CARE_BREAKS]),
    )
    return (
        select(func.count())
        .select_from(LINES)
        .where(
            among(n),
            or_(LINES.c.status.in_([literal_column(f"'{p.value}'") for p in SIGNED_IN]), resting),
        )
    )
