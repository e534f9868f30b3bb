"""The caller's path through the menus, decided by hotline.voice.flow on the shipped config."""

from __future__ import annotations

import pytest

from hotline.config import HotlineConfig
from hotline.voice.flow import Ask, Enqueue, Notice, choose, start

DEFAULT_CHOSEN = Notice.DEFAULT_CHOSEN


def test_a_call_starts_with_the_greeting_and_the_first_try(cfg: HotlineConfig) -> None:
    assert start(cfg, "period-5") == Ask("period-5", attempt=1, greet=True)


def test_a_valid_key_queues_the_caller_for_its_option(cfg: HotlineConfig) -> None:
    assert choose(cfg, "period-5", 1, "8") == Enqueue("loneliness", None, priority=0)


def test_a_crisis_option_is_queued_with_its_priority(cfg: HotlineConfig) -> None:
    assert choose(cfg, "eight-options", 1, "3") == Enqueue("suicidal", None, priority=10)


def test_key_2_opens_the_language_menu_at_its_first_try(cfg: HotlineConfig) -> None:
    assert choose(cfg, "period-5", 2, "2") == Ask("languages", attempt=1)


def test_a_language_key_queues_the_caller_for_foreign_in_that_language(cfg) -> None:
    assert choose(cfg, "languages", 1, "3") == Enqueue("foreign", "ko", priority=0)


def test_0_in_the_language_menu_goes_back_to_the_japanese_menu(cfg: HotlineConfig) -> None:
    assert choose(cfg, "languages", 2, "0") == Ask("period-5", attempt=1)


@pytest.mark.parametrize(("menu_id", "key"), [("period-5", "9"), ("eight-options", "0")])
def test_the_repeat_key_replays_the_menu_without_using_a_try(cfg, menu_id, key) -> None:
    assert choose(cfg, menu_id, 2, key) == Ask(menu_id, attempt=2, notice=None)


@pytest.mark.parametrize(
    ("digits", "notice"),
    [("5", Notice.INVALID), ("#", Notice.INVALID), ("12", Notice.INVALID)]
    + [(None, Notice.NO_INPUT), ("", Notice.NO_INPUT)],
)
def test_a_wrong_key_or_silence_asks_again_saying_why(cfg, digits, notice) -> None:
    assert choose(cfg, "period-5", 1, digits) == Ask("period-5", attempt=2, notice=notice)


@pytest.mark.parametrize("digits", ["5", None, ""])
def test_after_the_last_try_the_caller_is_queued_for_the_default_option(cfg, digits) -> None:
    assert cfg.menus["period-5"].retries == 3
    assert choose(cfg, "period-5", 3, digits) == Enqueue("loneliness", None, 0, DEFAULT_CHOSEN)


def test_the_language_menu_defaults_to_foreign_in_english(cfg: HotlineConfig) -> None:
    assert choose(cfg, "languages", 3, None) == Enqueue("foreign", "en", 0, DEFAULT_CHOSEN)


def test_an_unknown_menu_id_serves_the_default_menu(cfg: HotlineConfig) -> None:
    assert choose(cfg, "no-such-menu", 1, "8") == Enqueue("loneliness", None, priority=0)


def test_a_wrong_key_in_an_unknown_menu_replays_the_default_menu(cfg: HotlineConfig) -> None:
    decision = choose(cfg, "no-such-menu", 1, "5")
    assert decision == Ask("period-5", attempt=2, notice=Notice.INVALID)
