"""Who may serve what now (`ServingCache`), driven by a clock: what it keeps for a minute,
what it asks again, and what it keeps for the configuration."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline.config import TOKYO, HotlineConfig, parse
from hotline.routing import engine, serving
from hotline.routing.serving import CAPS_KEPT, ServingCache
from hotline.routing.store import Router


class Clock:
    """A clock the test moves: Asia/Tokyo wall time on a Wednesday with no holiday."""

    def __init__(self, h: int, mi: int, s: float = 0) -> None:
        self.now = (dt.datetime(2023, 12, 20, h, mi, tzinfo=TOKYO)).astimezone(dt.UTC)
        self.now += dt.timedelta(seconds=s)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


def _cache(cfg: HotlineConfig, end: str) -> ServingCache:
    """The shipped lines, childline-01 with its own hours ending at `end`: the cache a router
    of that configuration builds."""
    data = cfg.model_dump(exclude_none=True)
    org = next(o for o in data["organisations"] if o["id"] == "childline")
    org["lines"][0]["hours"] = [{"start": "16:00", "end": end}]
    return Router(parse(data), reservation_timeout=30, cooldown=60).serving_cache


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lines whose hours were asked (`hotline.hours.schedule.scheduled`), in order."""
    calls: list[str] = []
    real = serving.scheduled

    def counting(org, line, now, calendar=None):
        calls.append(line.id)
        return real(org, line, now, calendar)

    monkeypatch.setattr(serving, "scheduled", counting)
    return calls


def test_the_router_answers_with_its_cache(cfg: HotlineConfig) -> None:
    router = Router(cfg, reservation_timeout=30, cooldown=60)
    now = Clock(12, 0)()
    assert router.scheduled_ids(now) == router.serving_cache.scheduled_ids(now)
    assert router.serving("under18", None, now) is router.serving_cache.serving(
        "under18", None, now
    )


def test_whole_minute_hours_are_asked_once_a_minute(cfg: HotlineConfig, asked: list[str]) -> None:
    cache, clock = _cache(cfg, "21:00"), Clock(20, 59)
    assert cache.minutely
    first = cache.scheduled(clock())
    once = len(asked)
    assert once == len(cache.lines)  # every line's hours, once
    for _ in range(5):
        assert cache.scheduled(clock.advance(10)) == first  # the same minute: kept
    assert len(asked) == once
    assert "childline-01" in first[1]
    after = cache.scheduled(clock.advance(10))  # 21:00:00, the line's hours are over
    assert len(asked) == 2 * once
    assert "childline-01" not in after[1]


def test_a_clock_that_goes_back_is_answered_again(cfg: HotlineConfig) -> None:
    cache, clock = _cache(cfg, "21:00"), Clock(21, 0)
    assert "childline-01" not in cache.scheduled_ids(clock())
    assert "childline-01" in cache.scheduled_ids(clock.advance(-1))
    assert "childline-01" not in cache.scheduled_ids(clock.advance(1))


def test_hours_with_seconds_are_asked_every_time(cfg: HotlineConfig, asked: list[str]) -> None:
    cache, clock = _cache(cfg, "21:00:30"), Clock(21, 0, 29)
    assert not cache.minutely
    assert "childline-01" in cache.scheduled_ids(clock())
    assert "childline-01" not in cache.scheduled_ids(clock.advance(1))
    assert len(asked) == 2 * len(cache.lines)
    # Nor are the lines serving a class kept: they follow the second too.
    assert "childline-01" not in cache.serving("under18", None, clock())
    assert "childline-01" in cache.serving("under18", None, clock.advance(-1))


def test_the_lines_serving_a_class_are_kept_for_the_minute(cfg: HotlineConfig) -> None:
    cache, clock = _cache(cfg, "21:00"), Clock(20, 59)
    lines = cache.serving("under18", None, clock())
    assert "childline-01" in lines and "mcc-01" in lines and "sisc-01" in lines
    assert "jaico-01" not in lines  # not in any of the option's tiers
    assert cache.serving("under18", None, clock.advance(30)) is lines
    later = cache.serving("under18", None, clock.advance(30))  # 21:00: a new minute
    assert later is not lines
    assert "childline-01" not in later and "mcc-01" in later


def test_a_language_is_served_only_by_lines_that_speak_it(cfg: HotlineConfig) -> None:
    cache, now = _cache(cfg, "21:00"), Clock(12, 0)()
    english = cache.serving("foreign", "en", now)
    assert "foreign-en-01" in english and "sisc-01" in english
    assert "foreign-zh-01" not in english
    assert cache.may_serve("foreign", "zh", "foreign-zh-01")
    assert not cache.may_serve("foreign", "zh", "foreign-en-01")
    # Through any tier: sisc is the backup of `suicidal`.
    assert cache.serves("suicidal", None, "sisc", frozenset({"ja"}))
    assert not cache.serves("suicidal", "ne", "sisc", frozenset({"ja"}))
    assert not cache.serves("unknown-option", None, "sisc", frozenset({"ja"}))


def _free(line_id: str, org: str, languages: set[str], now: dt.datetime) -> engine.FreeLine:
    return engine.FreeLine(line_id, org, frozenset(languages), now)


def test_caps_count_the_free_lines_that_may_serve_each_class(cfg: HotlineConfig) -> None:
    cache, now = _cache(cfg, "21:00"), Clock(12, 0)()
    lines = [
        _free("childline-01", "childline", {"ja"}, now),
        _free("childline-02", "childline", {"ja"}, now),
        _free("foreign-zh-01", "foreign-support", {"zh"}, now),
    ]
    caps = cache.caps(lines, limit=3)
    classes = zip(caps["cap_options"], caps["cap_languages"], strict=True)
    got = dict(zip(classes, caps["caps"], strict=True))
    assert got[("under18", None)] == 2  # the two childline lines
    assert got[("foreign", "zh")] == 1
    assert got[("women", None)] == 0  # sisc only, and no sisc line is free
    assert ("under18", "zh") in got and got[("under18", "zh")] == 0
    # A class that as many free lines as the limit may serve is not capped.
    assert ("under18", None) not in _classes(cache.caps(lines, limit=2))


def _classes(caps: dict[str, list[object]]) -> set[tuple[object, object]]:
    return set(zip(caps["cap_options"], caps["cap_languages"], strict=True))


def test_caps_are_kept_by_profile_and_bounded(cfg: HotlineConfig) -> None:
    cache, now = _cache(cfg, "21:00"), Clock(12, 0)()
    lines = [_free("childline-01", "childline", {"ja"}, now)]
    caps = cache.caps(lines, limit=5)
    # The same profiles (organisation and languages), whichever lines: the same answer.
    assert cache.caps([_free("childline-02", "childline", {"ja"}, now)], limit=5) is caps
    for limit in range(6, 6 + CAPS_KEPT):  # fills the store: it starts again
        cache.caps(lines, limit=limit)
    again = cache.caps(lines, limit=5)
    assert again is not caps and again == caps
