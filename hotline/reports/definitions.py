"""The one definition of each figure: its names (Japanese and English) and its SQL over calls.

The period report, the database collector behind /metrics and (through the metric names in
`prom.py`) the recording rules and the dashboard all count with the expressions here, so a
figure means the same wherever it is shown. docs/metrics.md explains each in prose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import and_, case, func, literal_column
from sqlalchemy.sql.elements import ColumnElement

from hotline.calls.models import Call, CallState

NONE = "none"  # the label of a call outside every period, or that chose no option
STAGES = ("menu", "waiting", "ringing")  # where an abandoned call was when the caller hung up


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    ja: str
    en: str


FIGURES = {
    f.key: f
    for f in (
        Figure("calls", "呼出件数", "calls"),
        Figure("connected", "接続完了", "connected"),
        Figure("answer_rate", "応答率", "answer rate"),
        Figure("abandoned", "放棄", "abandoned"),
        Figure("abandoned_menu", "放棄（音声ガイダンス中）", "abandoned in the menu"),
        Figure("abandoned_waiting", "放棄（待機中）", "abandoned while waiting"),
        Figure("abandoned_ringing", "放棄（呼出中）", "abandoned while ringing"),
        Figure("closed", "受付時間外", "closed (no staffed line)"),
        Figure("serious_cases", "つなぎに関して調整した深刻な相談対応", "serious cases linked"),
        Figure("wait_median", "待ち時間の中央値（秒）", "median wait (s)"),
        Figure("wait_p90", "待ち時間の90パーセンタイル（秒）", "90th percentile wait (s)"),
        Figure("caller_days", "相談者数（人・日）", "unique callers per day"),
        Figure("caller_days_connected", "接続できた相談者数（人・日）", "unique callers connected"),
        Figure("caller_answer_rate", "相談者単位の応答率", "answer rate per unique caller"),
        Figure("age_groups", "推定年代", "estimated age groups"),
        Figure("categories", "相談内容", "consultation types"),
        Figure("options", "選択肢別", "by option"),
        Figure("entries", "番号別", "by entry number"),
        Figure("days", "日別", "by day"),
    )
}

# -- conditions on one call ------------------------------------------------------------------
# 接続完了: a counsellor accepted in the whisper (states connected, completed). connected_at is
# set exactly then and never cleared, so it is the test, whatever the state is now.
CONNECTED: ColumnElement[bool] = Call.connected_at.is_not(None)
CLOSED: ColumnElement[bool] = Call.state == CallState.CLOSED
ANONYMOUS: ColumnElement[bool] = Call.caller_hash.is_(None)


def abandoned_at(stage: str) -> ColumnElement[bool]:
    return and_(Call.state == CallState.ABANDONED, Call.end_stage == stage)


def option_label() -> ColumnElement[str]:
    """Per-option denominators are the calls with that option; the others are `none`.

    A literal, not a bound parameter: PostgreSQL only sees the SELECT and GROUP BY
    expressions as one when they render alike, and two parameters never do.
    """
    return func.coalesce(Call.option_id, literal_column(f"'{NONE}'"))


def tally(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet the condition (a portable COUNT ... FILTER)."""
    one: ColumnElement[int] = literal_column("1")
    zero: ColumnElement[int] = literal_column("0")
    return func.coalesce(func.sum(case((condition, one), else_=zero)), zero)


def any_connected() -> ColumnElement[int]:
    """1 if any call of a group (a caller's day) was connected, else 0."""
    return func.max(case((CONNECTED, literal_column("1")), else_=literal_column("0")))


def conditions() -> dict[str, ColumnElement[bool]]:
    """What each counted figure (besides `calls`, every call) asks of one call."""
    return {
        "connected": CONNECTED,
        "closed": CLOSED,
        **{f"abandoned_{s}": abandoned_at(s) for s in STAGES},
        "anonymous": ANONYMOUS,
        "anonymous_connected": and_(ANONYMOUS, CONNECTED),
    }


def counts() -> list[ColumnElement[int]]:
    """The counted figures of a group of calls, labelled with their keys."""
    counted = [tally(c).label(k) for k, c in conditions().items()]
    return [func.count().label("calls"), *counted]


def flags() -> list[ColumnElement[int]]:
    """The same figures of one call, 1 or 0 each (what the tallies add up)."""
    one: ColumnElement[int] = literal_column("1")
    zero: ColumnElement[int] = literal_column("0")
    return [case((c, one), else_=zero).label(k) for k, c in conditions().items()]


def tokyo_day(dialect: str) -> ColumnElement[object]:
    """The Asia/Tokyo date a call arrived. Tokyo has kept UTC+9 without summer time since
    1951, so a fixed offset on the stored UTC time is exact and cheap."""
    if dialect == "postgresql":
        return func.date(Call.created_at + literal_column("interval '9 hours'"))
    return func.date(Call.created_at, "+9 hours")


def wait_seconds(dialect: str) -> ColumnElement[float]:
    """Wait of a connected call: connected_at - waiting_since (the first time it queued)."""
    if dialect == "postgresql":
        # SQLAlchemy types EXTRACT as an integer; epoch of an interval has fractional seconds.
        return cast(
            ColumnElement[float], func.extract("epoch", Call.connected_at - Call.waiting_since)
        )
    return (func.julianday(Call.connected_at) - func.julianday(Call.waiting_since)) * 86400.0


# -- figures from counts ---------------------------------------------------------------------
def answer_rate(connected: int, calls: int) -> float:
    """応答率 = 接続完了 / 呼出件数, in percent; 0 (not NaN) when there were no calls."""
    return 100.0 * connected / calls if calls else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont); 0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = p * (len(ordered) - 1)
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
