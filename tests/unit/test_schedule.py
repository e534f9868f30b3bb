"""Hours of options and of the other lines, and what the closed message says at a moment."""

from __future__ import annotations

import datetime as dt

from hotline.config import TOKYO, HotlineConfig, parse
from hotline.hours.schedule import option_open, option_opens_at, referrals_open
from hotline.voice.flow import closed


def at(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=TOKYO)


def test_an_option_keeps_the_hours_its_period_gives_it(cfg: HotlineConfig) -> None:
    # 年末年始 2022/23: 18歳以下 only some hours (16:00-21:00 in the shipped file).
    assert not option_open(cfg, "under18", None, at(2022, 12, 29, 10))
    assert option_open(cfg, "under18", None, at(2022, 12, 29, 16))
    assert option_opens_at(cfg, "under18", None, at(2022, 12, 29, 10)) == at(2022, 12, 29, 16)
    assert option_open(cfg, "loneliness", None, at(2022, 12, 29, 10))  # round the clock
    # Outside that period the option's own hours (round the clock) hold.
    assert option_open(cfg, "under18", None, at(2023, 12, 29, 10))


def test_a_language_may_have_its_own_hours(cfg: HotlineConfig) -> None:
    data = cfg.model_dump(exclude_none=True)
    foreign = next(o for o in data["options"] if o["id"] == "foreign")
    foreign["language_hours"] = {"ne": [{"start": "10:00", "end": "18:00"}]}
    edited = parse(data)
    assert not option_open(edited, "foreign", "ne", at(2023, 12, 20, 9))
    assert option_open(edited, "foreign", "en", at(2023, 12, 20, 9))
    assert option_opens_at(edited, "foreign", "ne", at(2023, 12, 20, 9)) == at(2023, 12, 20, 10)


def test_only_lines_open_now_and_in_the_callers_language_are_named(cfg: HotlineConfig) -> None:
    def ids(lang: str | None, when: dt.datetime) -> list[str]:
        return [r.id for r in referrals_open(cfg, lang, when)]

    assert ids(None, at(2023, 12, 20, 10)) == ["yorisoi"]  # いのちの電話: 16:00-21:00
    assert ids(None, at(2023, 12, 20, 16)) == ["yorisoi", "inochi-free"]
    assert ids(None, at(2023, 12, 10, 9)) == ["yorisoi", "inochi-free"]  # the 10th: from 08:00
    assert ids("en", at(2023, 12, 20, 10)) == ["yorisoi-foreign", "tell"]
    assert ids("en", at(2023, 12, 20, 23, 30)) == ["yorisoi-foreign"]


def test_the_closed_message_knows_the_clock(cfg: HotlineConfig) -> None:
    morning = at(2022, 12, 29, 10)
    d = closed(cfg, menu_id="year-end-2022", option_id="under18", language=None, now=morning)
    assert d.opens_at == at(2022, 12, 29, 16)
    # Keys open now: loneliness (8) and the language menu's options are not Japanese keys;
    # gender (4) is outside its hours at 10:00.
    assert d.open_keys == (("8", "孤独・孤立でお悩みの方"),)
    assert [r.id for r in d.lines] == ["yorisoi"]
    evening = at(2022, 12, 29, 17)
    d = closed(cfg, menu_id="year-end-2022", option_id="loneliness", language=None, now=evening)
    assert d.opens_at is None  # open by its hours: closed for want of a line
    assert d.open_keys == (("1", "18歳以下の方"), ("4", "性別の違和や同性愛に関する相談"))
    assert [r.id for r in d.lines] == ["yorisoi", "inochi-free"]


def test_an_option_closed_by_hand_gives_no_opening_time_nor_is_offered(cfg: HotlineConfig) -> None:
    now = at(2023, 12, 20, 10)
    d = closed(cfg, menu_id="period-5", option_id="women", language=None, now=now,
               closed_by_hand={"women", "gender"})  # fmt: skip
    assert d.opens_at is None
    assert [k for k, _ in d.open_keys] == ["1", "8"]
