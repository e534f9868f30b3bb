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

from sqlalchemy import and_, case, func, literal_column, or_
from sqlalchemy.sql.elements import ColumnElement

from hotline.calls.lifecycle import CALLBACK_EXPIRED, CALLBACK_FAILED
from hotline.calls.models import Call, CallState

NONE = "none"  # the label of a call outside every period, or that chose no option
# Where an abandoned call was when the caller hung up; `callback`: on hold, they booked a
# callback instead (for the per-attempt figures the inbound call ended there, unconnected).
STAGES = ("menu", "waiting", "ringing", "callback")
# What became of callback requests, as counted live (`Count("callback", stage=...)`) and in
# the reports (`callbacks_*` below): the closed set of `hotline_callbacks_total{outcome}`.
CALLBACK_OUTCOMES = ("requested", "attempted", "connected", "failed", "expired")


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
        Figure("abandoned_callback", "放棄（折り返し予約）", "left the hold for a callback"),
        Figure("closed", "受付時間外", "closed (no staffed line)"),
        Figure("serious_cases", "つなぎに関して調整した深刻な相談対応", "serious cases linked"),
        Figure("wait_median", "待ち時間の中央値（秒）", "median wait (s)"),
        Figure("wait_p90", "待ち時間の90パーセンタイル（秒）", "90th percentile wait (s)"),
        Figure("caller_days", "相談者数（人・日）", "unique callers per day"),
        Figure("caller_days_connected", "接続できた相談者数（人・日）", "unique callers connected"),
        Figure("caller_answer_rate", "相談者単位の応答率", "answer rate per unique caller"),
        Figure("callbacks_requested", "折り返し予約", "callbacks requested"),
        Figure("callbacks_attempted", "折り返し発信", "callback calls placed"),
        Figure("callbacks_connected", "折り返し接続", "callbacks connected"),
        Figure("callbacks_failed", "折り返し不通", "callbacks failed (not reached)"),
        Figure("callbacks_expired", "折り返し期限切れ", "callbacks expired"),
        Figure("holds", "保留", "holds"),
        Figure("transfers", "転送", "transfers"),
        Figure("transfers_warm", "転送（先に相談員が転送先と話す）", "warm transfers"),
        Figure("transfers_cold", "転送（そのまま転送）", "cold transfers"),
        Figure("three_way", "三者通話", "three-way calls"),
        Figure("emergency_escalations", "消防・警察への接続", "emergency escalations"),
        Figure("emergency_connected", "消防・警察への接続（つながった）", "escalations connected"),
        Figure("emergency_failed", "消防・警察への接続（つながらず）", "escalations failed"),
        Figure("supervisions", "スーパーバイザーの同席", "supervisions"),
        Figure("supervisions_listen", "同席（聞くのみ）", "supervisions: listen"),
        Figure("supervisions_coach", "同席（相談員にのみ助言）", "supervisions: coach"),
        Figure("supervisions_join", "同席（通話に参加）", "supervisions: join"),
        Figure("age_groups", "推定年代", "estimated age groups"),
        Figure("categories", "相談内容", "consultation types"),
        Figure("options", "選択肢別", "by option"),
        Figure("entries", "番号別", "by entry number"),
        Figure("days", "日別", "by day"),
    )
}

# -- conditions on one call ------------------------------------------------------------------
# A callback request (issue 12) is the row of the inbound call that booked it: `callback_at`
# is set at booking and never cleared, so it marks the row whatever became of the request.
CALLBACK: ColumnElement[bool] = Call.callback_at.is_not(None)
DIRECT: ColumnElement[bool] = Call.callback_at.is_(None)
# connected_at is set exactly when the conversation began and never cleared: for a direct
# call when the counsellor accepted in the whisper, for a callback when the caller pressed 1
# on our call (the counsellor had accepted first).
REACHED: ColumnElement[bool] = Call.connected_at.is_not(None)
# 接続完了 counts attempts: a counsellor accepted the inbound call (states connected,
# completed). A callback's conversation is not a connection of the inbound attempt (that
# ended when the caller booked it, `abandoned_callback`): the published figures stay
# per attempt, and connected callbacks are counted apart (`callbacks_connected`).
CONNECTED: ColumnElement[bool] = and_(REACHED, DIRECT)
CLOSED: ColumnElement[bool] = Call.state == CallState.CLOSED
ANONYMOUS: ColumnElement[bool] = Call.caller_hash.is_(None)


def abandoned_at(stage: str) -> ColumnElement[bool]:
    """Abandoned at `stage`. A callback's row ends `completed`, or `abandoned` at a stage of
    its own (cb-failed, cb-expired): as an attempt it was abandoned when it was booked."""
    if stage == "callback":
        return CALLBACK
    return and_(Call.state == CallState.ABANDONED, Call.end_stage == stage)


def callback_ended(end_stage: str) -> ColumnElement[bool]:
    """A callback given up: not reached after every try (cb-failed), or past its time."""
    return and_(CALLBACK, Call.state == CallState.ABANDONED, Call.end_stage == end_stage)


def callback_tries() -> ColumnElement[int]:
    """Calls placed to the caller of one callback request: the tries not reached
    (`callback_tries`), plus the try that reached them (connected_at set) or the one under
    way (state calling). A try the counsellor ended before the caller answered leaves no trace
    in the row: the live `attempted` count has it, this one does not."""
    one: ColumnElement[int] = literal_column("1")
    zero: ColumnElement[int] = literal_column("0")
    under_way = case((or_(REACHED, Call.state == CallState.CALLING), one), else_=zero)
    return case((CALLBACK, Call.callback_tries + under_way), else_=zero)


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


def reached() -> ColumnElement[int]:
    """1 if the call reached a counsellor, directly or by a callback, else 0."""
    return case((REACHED, literal_column("1")), else_=literal_column("0"))


def any_reached() -> ColumnElement[int]:
    """1 if any call of a group (a caller's day) reached a counsellor, directly or by a
    callback: the caller was helped, whichever way."""
    return func.max(reached())


def conditions() -> dict[str, ColumnElement[bool]]:
    """What each counted figure (besides `calls`, every call) asks of one call."""
    return {
        "connected": CONNECTED,
        "closed": CLOSED,
        **{f"abandoned_{s}": abandoned_at(s) for s in STAGES},
        "anonymous": ANONYMOUS,
        # Anonymous callers cannot book a callback; reached and connected are the same here.
        "anonymous_connected": and_(ANONYMOUS, REACHED),
        "callbacks_requested": CALLBACK,
        "callbacks_connected": and_(CALLBACK, REACHED),
        "callbacks_failed": callback_ended(CALLBACK_FAILED),
        "callbacks_expired": callback_ended(CALLBACK_EXPIRED),
    }


def values() -> dict[str, ColumnElement[int]]:
    """What each counted figure adds for one call: 1 or 0 for a condition, or an amount."""
    one: ColumnElement[int] = literal_column("1")
    zero: ColumnElement[int] = literal_column("0")
    flags = {k: case((c, one), else_=zero) for k, c in conditions().items()}
    return {**flags, "callbacks_attempted": callback_tries()}


KEYS = ("calls", *values())  # every counted figure, in the tallies' and the reports' order


def counts() -> list[ColumnElement[int]]:
    """The counted figures of a group of calls, labelled with their keys."""
    zero: ColumnElement[int] = literal_column("0")
    counted = [func.coalesce(func.sum(v), zero).label(k) for k, v in values().items()]
    return [func.count().label("calls"), *counted]


def flags() -> list[ColumnElement[int]]:
    """The same figures of one call (what the tallies add up)."""
    return [v.label(k) for k, v in values().items()]


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
