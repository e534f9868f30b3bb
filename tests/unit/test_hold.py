"""The hold and the callback's words: config, the pure flow, hours' ends, and the URLs."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hotline.config import TOKYO, TWILIO_HOLD_MUSIC, ConfigError, HotlineConfig, parse
from hotline.hours.schedule import option_closes_at
from hotline.voice.flow import CallbackOffer, callback_offer, choice_key, hold
from hotline.voice.urls import Query, Urls

RAW = yaml.safe_load((Path(__file__).parents[2] / "config" / "menus.yaml").read_text("utf-8"))


def edited(change: Callable[[dict], object]) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def refused(change: Callable[[dict], object]) -> str:
    with pytest.raises(ConfigError) as e:
        parse(edited(change))
    return str(e.value)


def at(d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(2024, 2, d, h, mi, tzinfo=TOKYO)  # 2024-02-05 is a Monday


def with_hours(cfg: HotlineConfig, option_id: str, hours: object, **extra: object) -> HotlineConfig:
    data = cfg.model_dump(exclude_none=True)
    option = next(o for o in data["options"] if o["id"] == option_id)
    option["hours"] = hours
    option.update(extra)
    return parse(data)


# -- config


def test_the_shipped_file_has_hold_words_for_every_caller_language(cfg: HotlineConfig) -> None:
    assert set(cfg.hold_words) == {"ja", *cfg.languages}
    assert cfg.hold.music is not None and cfg.hold.music.url == TWILIO_HOLD_MUSIC
    assert cfg.hold.position_cap == 20
    assert (cfg.callback.key, cfg.callback.confirm_key, cfg.callback.retries) == ("1", "1", 2)
    assert cfg.callback_number == "+815055559999"


def test_a_language_without_hold_words_is_refused_naming_the_field() -> None:
    message = refused(lambda d: d["hold_words"].pop("vi"))
    assert "hold_words.vi: missing" in message
    assert "hold_words.ja: missing" in refused(lambda d: d["hold_words"].pop("ja"))
    assert "hold_words.xx: unknown language" in refused(
        lambda d: d["hold_words"].update(xx=RAW["hold_words"]["en"])
    )


def test_hold_words_need_at_least_one_message_and_known_placeholders() -> None:
    assert "hold_words.en.messages" in refused(lambda d: d["hold_words"]["en"].update(messages=[]))
    message = refused(lambda d: d["hold_words"]["ko"].update(position=[{"text": "{behind}"}]))
    assert "hold_words.ko.position.0.text: unknown placeholder {behind} (allowed: {ahead})" in (
        message
    )
    message = refused(lambda d: d["hold_words"]["ja"].update(when="{hour}時{second}秒"))
    assert "hold_words.ja.when" in message and "{second}" in message


@pytest.mark.parametrize(
    ("music", "message"),
    [
        ({"url": "ftp://x.example/a.mp3"}, "give an http:// or https:// URL"),
        ({"play": "http://x.example/a.mp3"}, "use https://"),
        ({"url": "https://x.example/a.mp3", "play": "a.mp3"}, "exactly one of 'play' or 'url'"),
        ({"file": "a.mp3"}, "hold.music.file"),
    ],
)
def test_bad_hold_music_is_refused_naming_the_field(music: dict, message: str) -> None:
    text = refused(lambda d: d["hold"].update(music=music))
    assert "hold.music" in text and message in text


def test_music_may_be_turned_off_and_defaults_to_twilios_own() -> None:
    assert parse(edited(lambda d: d["hold"].update(music=None))).hold.music is None
    assert parse(edited(lambda d: d.pop("hold"))).hold.music.url == TWILIO_HOLD_MUSIC


def test_callback_settings_are_checked() -> None:
    assert "callback.key" in refused(lambda d: d["callback"].update(key="12"))
    assert "callback.confirm_key" in refused(lambda d: d["callback"].update(confirm_key="#"))
    assert "callback.number" in refused(lambda d: d["callback"].update(number="+8150555"))
    assert "callback.retries" in refused(lambda d: d["callback"].update(retries=-1))
    data = edited(lambda d: d.pop("callback"))
    assert parse(data).callback_number == RAW["caller_id"]  # the default number


def test_an_older_file_without_the_counsellors_callback_words_still_loads() -> None:
    data = edited(lambda d: [d["messages"].pop(k) for k in list(d["messages"]) if "callback" in k])
    cfg = parse(data)
    assert "{option}" in (cfg.messages.callback_whisper[0].text or "")
    assert "{bad}" in refused(lambda d: d["messages"].update(callback_whisper=[{"text": "{bad}"}]))


# -- the hold, pure


def test_the_callback_is_offered_with_the_place_in_line_not_every_segment() -> None:
    offered = [n for n in range(1, 9) if hold("women", None, n, 2, 3, callback=True).offer_callback]
    assert offered == [1, 4, 7]
    assert not any(hold("women", None, n, 2, 3).offer_callback for n in range(1, 9))


def test_messages_rotate_with_the_segment() -> None:
    assert [hold("women", None, n, None, 3).message for n in (1, 2, 3)] == [0, 1, 2]


def test_the_choice_comes_once_after_the_maximum_wait() -> None:
    early = hold("women", None, 5, None, 3, waited=599, max_wait=600, callback=True)
    assert not early.choice and not early.chose
    due = hold("women", None, 6, None, 3, waited=600, max_wait=600, callback=True)
    assert due.choice and due.chose and not due.offer_callback
    later = hold("women", None, 7, 2, 3, waited=700, max_wait=600, chose=True, callback=True)
    assert not later.choice and later.chose and later.offer_callback
    never = hold("women", None, 6, None, 3, waited=10_000, max_wait=None)
    assert not never.choice


def test_music_is_only_asked_for_by_the_caller_of_hold() -> None:
    assert hold("women", None, 1, None, 3, music=True).music
    assert not hold("women", None, 1, None, 3).music


def test_the_keys_of_the_choice() -> None:
    assert [choice_key(k) for k in ("1", "2", "3", "4", "", None)] == [
        "wait",
        "callback",
        "lines",
        None,
        None,
        None,
    ]


# -- when the hours end, and the callback offer


def test_an_option_open_around_the_clock_never_closes(cfg: HotlineConfig) -> None:
    assert option_closes_at(cfg, "loneliness", None, at(5, 10)) is None


def test_the_end_of_the_current_block_of_hours(cfg: HotlineConfig) -> None:
    evenings = with_hours(cfg, "women", [{"start": "16:00", "end": "21:00"}])
    assert option_closes_at(evenings, "women", None, at(5, 17)) == at(5, 21)
    assert option_closes_at(evenings, "women", None, at(5, 10)) == at(5, 10)  # closed now
    night = with_hours(cfg, "women", [{"start": "22:00", "end": "06:00"}])
    assert option_closes_at(night, "women", None, at(5, 23)) == at(6, 6)
    assert option_closes_at(night, "women", None, at(6, 2)) == at(6, 6)
    # Windows that meet make one block: 10:00-14:00 then 14:00-18:00.
    joined = with_hours(
        cfg, "women", [{"start": "10:00", "end": "14:00"}, {"start": "14:00", "end": "18:00"}]
    )
    assert option_closes_at(joined, "women", None, at(5, 11)) == at(5, 18)
    # Whole weekdays: Monday to Friday, closing Saturday 00:00.
    days = ["mon", "tue", "wed", "thu", "fri"]
    weekdays = with_hours(cfg, "women", [{"days": days, "start": "00:00", "end": "00:00"}])
    assert option_closes_at(weekdays, "women", None, at(7, 12)) == at(10, 0)


def test_a_callback_is_booked_until_the_end_of_the_hours(cfg: HotlineConfig) -> None:
    evenings = with_hours(cfg, "gender", [{"start": "16:00", "end": "21:00"}])
    assert callback_offer(evenings, "gender", None, "callable", at(5, 17)) == CallbackOffer(
        True, None, at(5, 21)
    )


def test_around_the_clock_a_callback_expires_after_the_configured_time(cfg) -> None:
    offer = callback_offer(cfg, "loneliness", None, "callable", at(5, 22))
    assert offer == CallbackOffer(True, None, at(6, 2))  # 240 minutes


def test_no_callback_for_a_withheld_number_or_where_it_is_not_offered(cfg) -> None:
    assert callback_offer(cfg, "loneliness", None, "withheld", at(5, 10)).reason == "withheld"
    off = with_hours(cfg, "gender", "24h", callback=False)
    assert callback_offer(off, "gender", None, "callable", at(5, 10)) == CallbackOffer(
        False, "unavailable"
    )
    # The option's rule comes first: a withheld caller is not told about their number.
    assert callback_offer(off, "gender", None, "withheld", at(5, 10)).reason == "unavailable"
    data = cfg.model_dump(exclude_none=True)
    data["callback"]["enabled"] = False
    assert callback_offer(parse(data), "loneliness", None, "callable", at(5, 10)).reason == (
        "unavailable"
    )


def test_no_callback_when_the_hours_end_too_soon_to_call_and_retry(cfg) -> None:
    evenings = with_hours(cfg, "gender", [{"start": "16:00", "end": "21:00"}])
    assert callback_offer(evenings, "gender", None, "callable", at(5, 20, 55)).reason == "closing"
    assert callback_offer(evenings, "gender", None, "callable", at(5, 20, 54)).ok


def test_the_shipped_config_offers_no_callback_to_under_18_or_women(cfg) -> None:
    for option in ("under18", "women"):
        assert not cfg.option(option).callback
        assert callback_offer(cfg, option, None, "callable", at(5, 10)).reason == "unavailable"
    assert callback_offer(cfg, "gender", None, "callable", at(5, 10)).ok


def test_no_callback_is_offered_when_the_wait_estimate_passes_its_time(cfg) -> None:
    # 240 minutes for an option open around the clock, 10 minutes a caller ahead (shipped).
    assert callback_offer(cfg, "loneliness", None, "callable", at(5, 10), ahead=24).ok
    late = callback_offer(cfg, "loneliness", None, "callable", at(5, 10), ahead=25)
    assert late == CallbackOffer(False, "unavailable")
    evenings = with_hours(cfg, "gender", [{"start": "16:00", "end": "21:00"}])
    assert callback_offer(evenings, "gender", None, "callable", at(5, 20), ahead=6).ok
    assert not callback_offer(evenings, "gender", None, "callable", at(5, 20), ahead=7).ok


def test_a_number_we_do_not_call_back_is_refused_for_that_reason(cfg) -> None:
    offer = callback_offer(cfg, "loneliness", None, "not_callable", at(5, 10))
    assert offer == CallbackOffer(False, "not_callable")


# -- URLs


def test_the_wait_url_carries_the_choice_and_the_hold_key_its_step() -> None:
    urls = Urls("https://h.example")
    assert urls.wait("women", None, 3) == "https://h.example/voice/wait?o=women&n=3"
    chose = urls.wait("foreign", "en", 3, chose=True)
    assert chose == "https://h.example/voice/wait?o=foreign&l=en&n=3&x=1"
    assert Query.parse({"x": "1"}).chose and not Query.parse({}).chose
    key = urls.hold_key("foreign", "en", 4, "confirm")
    assert key == "https://h.example/voice/hold-key?o=foreign&l=en&n=4&step=confirm"
    assert urls.hold_key("women", None, 4) == "https://h.example/voice/hold-key?o=women&n=4"
    q = Query.parse({"o": "foreign", "l": "en", "n": "4", "step": "choice"})
    assert (q.option_id, q.language, q.segment, q.step) == ("foreign", "en", 4, "choice")
