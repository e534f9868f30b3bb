"""The router keeps which lines are scheduled for a minute, and no longer than the hours allow."""

from __future__ import annotations

import datetime as dt

from hotline.config import TOKYO, HotlineConfig, parse
from hotline.routing.store import Router


def at(h: int, mi: int, s: float = 0) -> dt.datetime:
    whole = dt.datetime(2023, 12, 20, h, mi, tzinfo=TOKYO)  # a Wednesday, no holiday
    return (whole + dt.timedelta(seconds=s)).astimezone(dt.UTC)


def _router(cfg: HotlineConfig, end: str) -> Router:
    """The shipped lines, childline-01 with its own hours ending at `end`."""
    data = cfg.model_dump(exclude_none=True)
    org = next(o for o in data["organisations"] if o["id"] == "childline")
    org["lines"][0]["hours"] = [{"start": "16:00", "end": end}]
    return Router(parse(data), reservation_timeout=30, cooldown=60)


def test_a_line_leaves_the_schedule_at_the_minute_its_hours_end(cfg: HotlineConfig) -> None:
    router = _router(cfg, "21:00")
    for moment, expected in [
        (at(20, 59), True),
        (at(20, 59, 59.999), True),
        (at(21, 0), False),
        (at(20, 59, 30), True),  # a clock that went back is answered again
        (at(16, 0), True),
        (at(15, 59, 59), False),
    ]:
        assert ("childline-01" in router.scheduled_ids(moment)) is expected, moment
    assert "childline-02" in router.scheduled_ids(at(3, 0))  # the organisation's 24h


def test_hours_with_seconds_are_answered_to_the_second(cfg: HotlineConfig) -> None:
    router = _router(cfg, "21:00:30")
    assert "childline-01" in router.scheduled_ids(at(21, 0, 29))
    assert "childline-01" not in router.scheduled_ids(at(21, 0, 30))
    assert "childline-01" in router.scheduled_ids(at(21, 0, 10))
