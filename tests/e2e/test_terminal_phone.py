"""The terminal phone against a live server: what a caller hears from dialling to the queue.

Only the part of each call up to `[enqueue ...]` is checked. What happens to a waiting caller
after that (holding, or being put through to a counsellor) belongs to the routing tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hotline.testing.servers import hotline_serve
from tests.e2e.conftest import CONFIG, ROOT, Caller, LiveServer, Transcript

pytestmark = pytest.mark.e2e

GREETING = "お電話ありがとうございます"
PERIOD_5_PROMPT = "[say ja-JP] 18歳以下の方は1を"
INVALID = "選べません"
NO_INPUT = "ボタンが押されなかった"
DEFAULT_CHOSEN = "相談員をお探しします"
APPLICATION_ERROR = "[twilio] An application error"
# The language menu (key 2), in the order it is read.
# Nepali has no Twilio voice: its line is read in English.
LANGUAGE_TAGS = ["en-US", "cmn-CN", "ko-KR", "vi-VN", "pt-BR", "es-MX", "fil-PH", "en-US"]
HOTLINE_NUMBER = "+815055559999"  # config/menus.yaml caller_id: what every line is shown


def up_to_queue(t: Transcript, option: str) -> list[str]:
    """The lines before `[enqueue hotline-<option>]`, checking the menu part went cleanly."""
    assert t.returncode == 0, str(t)
    lines = t.lines
    enqueue = f"[enqueue hotline-{option}]"
    assert enqueue in lines, f"the caller never reached {enqueue}:\n{t}"
    before = lines[: lines.index(enqueue)]
    assert before and before[0].startswith("[call] CA"), str(t)
    assert not [x for x in before if x.startswith("[enqueue")], f"another queue first:\n{t}"
    # The service never hangs up on a caller in the menu, and Twilio never had to step in.
    assert not [x for x in before if "the service hung up" in x], str(t)
    assert not [x for x in before if x.startswith(("[hangup]", "[twilio]"))], str(t)
    assert any(x.startswith("[summary] 1 call(s)") for x in lines), str(t)
    return before


def between(lines: list[str], first: str, last: str) -> list[str]:
    """The lines strictly between the first line equal to `first` and the next `last`."""
    start = lines.index(first) + 1
    return lines[start : lines.index(last, start)]


def said(lines: list[str], text: str, language: str = "ja-JP") -> bool:
    return any(x.startswith(f"[say {language}]") and text in x for x in lines)


@pytest.mark.parametrize(
    ("key", "option"),
    [("1", "under18"), ("3", "women"), ("4", "gender"), ("8", "loneliness")],
)
def test_each_key_of_the_period_5_menu_reaches_its_queue(
    sqlite_server: LiveServer, hotline_call: Caller, key: str, option: str
) -> None:
    t = hotline_call(sqlite_server, key)
    before = up_to_queue(t, option)
    assert said(before[:2], GREETING), str(t)
    assert any(x.startswith(PERIOD_5_PROMPT) for x in before), str(t)
    gathers = [x for x in before if x.startswith("[gather]")]
    assert gathers == [f"[gather] pressed {key}"], str(t)


@pytest.mark.parametrize("language_key", [str(k) for k in range(1, 9)])
def test_each_language_of_the_language_menu_reaches_the_foreign_queue(
    sqlite_server: LiveServer, hotline_call: Caller, language_key: str
) -> None:
    t = hotline_call(sqlite_server, "2", language_key)
    before = up_to_queue(t, "foreign")
    menu = between(before, "[gather] pressed 2", f"[gather] pressed {language_key}")
    tags = [m.group(1) for x in menu if (m := re.match(r"\[say ([^\]]+)\] \S", x))]
    spoken = [tag for tag in tags if tag in LANGUAGE_TAGS]
    assert spoken[: len(LANGUAGE_TAGS)] == LANGUAGE_TAGS, str(t)
    assert said(menu, "For English, press 1.", "en-US"), str(t)


def test_key_8_reaches_the_loneliness_queue(server: LiveServer, hotline_call: Caller) -> None:
    t = hotline_call(server, "8")
    before = up_to_queue(t, "loneliness")
    assert said(before, GREETING), str(t)
    assert before[-1] == "[gather] pressed 8", str(t)


def test_an_invalid_key_is_apologised_for_then_a_valid_one_is_taken(
    server: LiveServer, hotline_call: Caller
) -> None:
    t = hotline_call(server, "5", "8")
    before = up_to_queue(t, "loneliness")
    retry = between(before, "[gather] pressed 5", "[gather] pressed 8")
    assert said(retry, INVALID), str(t)
    assert any(x.startswith(PERIOD_5_PROMPT) for x in retry), "the menu is read again\n" + str(t)


def test_total_silence_ends_in_the_loneliness_queue(
    server: LiveServer, hotline_call: Caller
) -> None:
    t = hotline_call(server, "-", "-", "-")
    before = up_to_queue(t, "loneliness")
    assert before.count("[gather] (silence)") == 3, str(t)
    assert said(before, NO_INPUT), str(t)
    after_last_silence = before[len(before) - before[::-1].index("[gather] (silence)") :]
    assert said(after_last_silence, DEFAULT_CHOSEN), str(t)
    assert not [x for x in t.lines if x.startswith(APPLICATION_ERROR)], str(t)


@pytest.mark.parametrize(
    ("presses", "option"),
    [
        (("9", "9", "9", "-", "-", "-"), "loneliness"),  # the repeat key, then silence
        (("5", "5", "5"), "loneliness"),  # invalid keys only: the default option
        (("0", "*", "7"), "loneliness"),
        (("2", "0", "8"), "loneliness"),  # into the language menu and back
        (("2", "9", "0", "5", "1"), "under18"),
        (("2", "-", "-", "-"), "foreign"),  # no language chosen: the foreign queue
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_the_service_never_hangs_up_on_a_caller_in_the_menu(
    sqlite_server: LiveServer, hotline_call: Caller, presses: tuple[str, ...], option: str
) -> None:
    up_to_queue(hotline_call(sqlite_server, *presses), option)


@pytest.mark.parametrize("presses", [(), ("8",)], ids=["silence", "key-8"])
def test_the_fallback_url_greets_and_dials_the_backup_organisation(
    sqlite_server: LiveServer, hotline_call: Caller, presses: tuple[str, ...]
) -> None:
    t = hotline_call(sqlite_server, *presses, fallback=True)
    assert t.returncode == 0, str(t)
    lines = t.lines
    assert said(lines[:1], GREETING), str(t)
    dials = [x for x in lines if x.startswith("[dial")]
    first = rf"\[dial sip\] sip:[^@\s]+@sisc\.\S+ \(caller ID \{HOTLINE_NUMBER}\)"
    assert dials and re.fullmatch(first, dials[0]), str(t)
    assert not [x for x in lines if x.startswith(APPLICATION_ERROR)], str(t)
    assert not [x for x in lines[: lines.index(dials[0])] if "hung up" in x], str(t)
    # The backup's counsellor accepted (the phone's default): the summary counts it.
    assert "[talk] connected with" in t.stdout, str(t)
    assert lines[-1] == "[summary] 1 call(s), 1 connected to a counsellor", str(t)


def test_each_forwarded_leg_shows_the_hotline_number_never_the_callers(
    sqlite_server: LiveServer, hotline_call: Caller
) -> None:
    t = hotline_call(sqlite_server, "8")
    dials = [x for x in t.lines if x.startswith("[dial")]
    assert dials, str(t)
    assert all(x.endswith(f"(caller ID {HOTLINE_NUMBER})") for x in dials), str(t)
    heard = [x for x in t.lines if x.startswith("[counsellor hears]")]
    assert heard and not any("おつなぎします" in x for x in t.lines if x.startswith("[say")), str(t)


def test_several_callers_show_the_lines_ring_talk_wrap_up_and_be_ready_again(
    tmp_path: Path, hotline_call: Caller
) -> None:
    """`hotline call --callers N --speed 1`: beside the callers, each organisation's lines
    as they talk, wrap up and become ready (a 2-second wrap-up here, to keep the test short)."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["staffing"]["wrap_up_seconds"] = 2
    short = tmp_path / "menus.yaml"
    short.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    db = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    with hotline_serve(db, tmp_path / "serve.log", cwd=ROOT, HOTLINE_CONFIG_PATH=str(short)) as s:
        extra = ["--callers", "2", "--speed", "1", "--talk", "2", "--counsellor", "accept"]
        done = hotline_call(s, "8", extra=[*extra, "--watch-wrap-up"], config=short)
    lines = [line for line in done.lines if line.startswith("[lines]")]
    assert done.returncode == 0, str(done)
    seen = " ".join(lines)
    assert "talking" in seen and "wrap_up" in seen, str(done)
    last_of_each = {}
    for line in lines:
        if ":" in line:
            org, state = line.removeprefix("[lines] ").split(":", 1)
            last_of_each[org] = state.strip()
    assert last_of_each and all(s.startswith("ready") for s in last_of_each.values()), lines
