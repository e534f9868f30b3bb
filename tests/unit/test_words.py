"""Every word a caller or a counsellor hears, read for the faults a listener notices: a word
said twice (方 twice once {option} is filled in), stray spaces (the voice pauses mid-word;
a folded YAML line leaves one), and times without 午前/午後 in Japanese (4時: morning or
afternoon?). The prompts are walked from config/menus.yaml and the defaults in
hotline/config/words.py, each with its placeholders filled in with every value it takes."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterator

import pytest

from hotline.config import TOKYO, HotlineConfig, Speech
from hotline.config.words import Messages
from hotline.ivr.spoken import when

CJK = r"\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef"  # kana, kanji, full-width forms
CJK_LANGUAGES = {"ja-JP", "cmn-CN"}
# Japanese words that are a sound said twice. Chinese doubles verbs and words as grammar
# (谢谢, 听听), so the repeat rule reads Japanese only.
REDUPLICATED = {"いろいろ", "ますます", "そろそろ", "まだまだ", "どんどん"}
SAMPLE = {
    "ahead": "3",
    "cap": "20",
    "key": "1",
    "minutes": "10",
    "number": "050-5555-9999",
    "until": "1月3日午後9時",
    "waited": "約3分",
    "language": "英語でのご相談です。",
    "options": "孤独・孤立でお悩みの方は8番",
    "when": "12月28日午後4時",
}


def _texts(cfg: HotlineConfig) -> Iterator[tuple[str, str, str]]:
    """(where, <Say> language, text) of every spoken sentence, placeholders as written."""

    def said(
        where: str, prompt: list[Speech], lang_id: str | None
    ) -> Iterator[tuple[str, str, str]]:
        for i, speech in enumerate(prompt):
            if speech.text is not None:
                tts, _ = cfg.speaker(speech, lang_id)
                yield f"{where}[{i}]", tts, speech.text

    for name in Messages.model_fields:
        yield from said(f"messages.{name}", getattr(cfg.messages, name), None)
        default = Messages.model_fields[name].default
        if isinstance(default, list):  # the defaults of words.py, for files without them
            yield from said(f"words.Messages.{name}", default, None)
    for menu_id, menu in cfg.menus.items():
        yield from said(f"menus.{menu_id}.prompt", menu.prompt, None)
    for lang, closed in cfg.closed.items():
        lang_id = None if lang == "ja" else lang
        for part, prompt in closed.parts().items():
            yield from said(f"closed.{lang}.{part}", prompt, lang_id)
    for lang, words in cfg.hold_words.items():
        lang_id = None if lang == "ja" else lang
        for part, prompt in words.parts().items():
            yield from said(f"hold_words.{lang}.{part}", prompt, lang_id)
    for lang_id, language in cfg.languages.items():
        yield from said(f"languages.{lang_id}.closed", language.closed, lang_id)


def _filled(cfg: HotlineConfig, text: str) -> Iterator[tuple[str, str | None]]:
    """The text with its placeholders filled in, once per value of the single-valued ones
    (every option's name, every Japanese line's name), with the value filled in."""
    fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    values: list[dict[str, str]] = [{}]
    if "option" in fields:
        values = [{"option": o.name} for o in cfg.options]
    if "name" in fields:
        values = [{"name": r.name} for r in cfg.referrals if "ja" in r.languages]
    for value in values:
        filled = text.format(**(SAMPLE | value)) if fields else text
        yield filled, next(iter(value.values()), None)


def test_every_prompt_is_read(cfg: HotlineConfig) -> None:
    where = {w.split(".")[0] for w, _, _ in _texts(cfg)}
    assert where == {"messages", "words", "menus", "closed", "hold_words"}
    assert len(list(_texts(cfg))) > 200


def _doubled(text: str, value: str | None, tts: str = "ja-JP") -> str | None:
    """A word said twice in a row, or the last word of a filled-in value said again in the
    same sentence (「18歳以下の方で…お待ちいただいた方です」)."""
    for m in re.finditer(rf"([{CJK}]{{2,}})\1|([\u4e00-\u9fff])\2", text):
        if tts == "ja-JP" and m.group(0) not in REDUPLICATED:
            return m.group(0)
    if m := re.search(r"\b(\w+)\s+\1\b", text, re.IGNORECASE):
        return m.group(0)
    tail = re.search(r"[\u4e00-\u9fff]+$", value or "")
    if value and tail:
        for sentence in re.split(r"(?<=[。.!?])", text):
            if value in sentence and sentence.count(tail.group(0)) > value.count(tail.group(0)):
                return sentence
    return None


def _stray_space(text: str, tts: str) -> str | None:
    if text != text.strip() or "  " in text or re.search(r"\s\n|\n", text):
        return repr(text)
    if m := re.search(r"\s[,.!?:;、。，！？]", text):
        return m.group(0)
    if tts in CJK_LANGUAGES and (m := re.search(rf"[{CJK}]\s|\s[{CJK}]", text)):
        return m.group(0)
    return None


def _bare_time(text: str, tts: str) -> str | None:
    if tts != "ja-JP":
        return None
    m = re.search(r"(?<!午前)(?<!午後)(\d{1,2}|\{hour\}|\{hour12\})時(?!間)|\d{1,2}:\d{2}", text)
    return m.group(0) if m else None


def test_no_prompt_says_a_word_twice_has_stray_spaces_or_a_bare_time(cfg: HotlineConfig) -> None:
    faults = []
    for where, tts, text in _texts(cfg):
        for filled, value in _filled(cfg, text):
            for fault, found in (
                ("doubled", _doubled(filled, value, tts)),
                ("space", _stray_space(filled, tts)),
                ("time", _bare_time(text, tts)),
            ):
                if found:
                    faults.append(f"{where} ({fault}): {found!r} in {filled!r}")
    assert faults == []


@pytest.mark.parametrize(
    ("text", "tts", "fault"),
    [
        ("18歳以下の方で約3分お待ちいただいた方です。", "ja-JP", "doubled"),
        ("Thank you for for calling.", "en-US", "doubled"),
        ("2を、 性別の違和", "ja-JP", "space"),
        ("0120-279-338 は24時間", "ja-JP", "space"),
        ("Press 1 .", "en-US", "space"),
        ("12月28日16時から受け付けます", "ja-JP", "time"),
        ("{month}月{day}日{hour}時", "ja-JP", "time"),
    ],
)
def test_the_checks_find_the_faults_they_name(text: str, tts: str, fault: str) -> None:
    found = {
        "doubled": _doubled(text, "18歳以下の方" if "方" in text else None),
        "space": _stray_space(text, tts),
        "time": _bare_time(text, tts),
    }
    assert found[fault] and all(not v for k, v in found.items() if k != fault)


def test_every_japanese_time_is_said_with_gozen_or_gogo(cfg: HotlineConfig) -> None:
    morning = dt.datetime(2022, 12, 29, 9, 0, tzinfo=TOKYO)
    afternoon = dt.datetime(2022, 12, 29, 16, 30, tzinfo=TOKYO)
    for words in (cfg.closed["ja"], cfg.hold_words["ja"]):
        assert when(words, morning) == "12月29日午前9時"
        assert when(words, afternoon) == "12月29日午後4時30分"
        assert when(words, morning.replace(hour=12)) == "12月29日午後0時"


def test_every_caller_language_has_a_goodbye_and_the_emergency_numbers(
    cfg: HotlineConfig,
) -> None:
    """Goodbye in every language the menu offers, and 119/110 in its first hold message
    (said in the first segment of every hold, and again as the messages rotate), in the
    lines open now and in the answer that none is."""
    for lang, words in cfg.hold_words.items():
        assert words.goodbye, lang
        for part in (words.messages[0], words.lines_now, words.no_lines):
            text = " ".join(s.text or "" for s in part)
            assert "119" in text and "110" in text, (lang, text)
