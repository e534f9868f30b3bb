"""The emergency numbers (119, 110) where a caller in danger needs them, through the
webhooks, on both databases: within the first minute of every call, in every language the
menu offers (the Japanese greeting; a foreign-language caller's first hold segment, in their
own language), again as the hold's messages rotate, and in the "lines open now" answer."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from hotline.config import HotlineConfig
from tests.conftest import Twilio, new_sid

# How fast a voice reads, roughly: characters per second (kana and kanji are a mora or two
# each; a Latin-script character a fraction of a syllable). Generous to the prompts: a
# slower reading than Polly's default rate.
RATES = {"ja-JP": 7.0, "cmn-CN": 4.0, "ko-KR": 6.0}
LATIN_RATE = 13.0
EMERGENCY = re.compile(r"119.*110", re.S)


def _spoken(doc: ET.Element) -> list[tuple[str, str]]:
    """(language, text) of every <Say>, in order, inside Gathers too."""
    return [(el.get("language") or "", el.text or "") for el in doc.iter("Say")]


def _seconds(said: list[tuple[str, str]]) -> float:
    return sum(len(text) / RATES.get(lang, LATIN_RATE) for lang, text in said)


def _until_emergency(said: list[tuple[str, str]], tts: str) -> float | None:
    """Seconds of speech before 119/110 is said in `tts` (None: it is not)."""
    before: list[tuple[str, str]] = []
    for lang, text in said:
        if lang == tts and EMERGENCY.search(text):
            head = text[: text.index("119")]
            return _seconds(before) + _seconds([(lang, head)])
        before.append((lang, text))
    return None


async def _path(twilio: Twilio, sid: str, keys: list[str]) -> list[ET.Element]:
    """The documents a caller hears: the greeting and menu, each key's answer in turn (the
    caller listens to every prompt to its end before pressing), the first hold segment."""
    docs = [await twilio.call("/voice/incoming", sid)]
    for key in keys:
        docs.append(await twilio.call(docs[-1].find("Gather").get("action"), sid, Digits=key))
    enqueue = docs[-1].find("Enqueue")
    assert enqueue is not None, ET.tostring(docs[-1])
    docs.append(await twilio.call(enqueue.get("waitUrl"), sid))
    return docs


def _callers(cfg: HotlineConfig) -> list[tuple[list[str], str, str | None]]:
    """Every caller of the 5th period's menu: (keys, <Say> language, caller language)."""
    out: list[tuple[list[str], str, str | None]] = [(["8"], "ja-JP", None)]
    for key, choice in sorted(cfg.menus["languages"].keys.items()):
        if choice.language is not None:
            out.append((["2", key], cfg.languages[choice.language].tts, choice.language))
    return out


@pytest.mark.usefixtures("busy")
async def test_every_caller_hears_119_and_110_within_a_minute_in_their_language(
    twilio: Twilio, cfg: HotlineConfig
) -> None:
    callers = _callers(cfg)
    assert len(callers) == 1 + len(cfg.languages)  # Japanese and every language offered
    for keys, tts, lang in callers:
        docs = await _path(twilio, new_sid(), keys)
        said = [s for doc in docs for s in _spoken(doc)]
        at = _until_emergency(said, tts)
        assert at is not None, (lang, said)
        assert at < 60, (lang, round(at))
        # The first hold segment says it in the caller's language, whatever came before.
        assert _until_emergency(_spoken(docs[-1]), tts) is not None, lang


@pytest.mark.usefixtures("busy")
async def test_the_hold_rotation_and_the_lines_open_now_say_119_and_110(
    twilio: Twilio, cfg: HotlineConfig
) -> None:
    for keys, tts, lang in _callers(cfg):
        sid = new_sid()
        docs = await _path(twilio, sid, keys)
        waits = docs[-2].find("Enqueue").get("waitUrl")
        option = "foreign" if lang else "loneliness"
        rotation = len(cfg.hold_words[lang or "ja"].messages)
        # Segment 1 + rotation says the first message again: the numbers come back.
        later = await twilio.call(waits.replace("n=1", f"n={1 + rotation}"), sid)
        assert _until_emergency(_spoken(later), tts) is not None, lang
        # The maximum wait's choice, key 3: the lines open now, and the numbers with them.
        url = f"/voice/hold-key?o={option}{f'&l={lang}' if lang else ''}&n=4&step=choice"
        lines = await twilio.call(url, sid, Digits="3")
        assert _until_emergency(_spoken(lines), tts) is not None, (lang, _spoken(lines))
