"""Every sentence the shipped menus.yaml says is in a language and voice Twilio's <Say> has."""

from __future__ import annotations

import copy
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from twilio.twiml.voice_response import VoiceResponse

from hotline.config import TOKYO, ConfigError, HotlineConfig, load, parse, voices
from hotline.ivr.fallback import static_fallback
from hotline.ivr.twiml import Renderer, Urls
from hotline.voice.flow import Ask, Closed, Enqueue, Hold, Notice

ROOT = Path(__file__).resolve().parents[2]
MENUS = ROOT / "config" / "menus.yaml"
RAW = yaml.safe_load(MENUS.read_text(encoding="utf-8"))


def edited(change: Callable[[dict], object]) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def every_document(cfg: HotlineConfig) -> list[VoiceResponse]:
    """Every document a caller or counsellor can be given, in every language."""
    r = Renderer(cfg, Urls("https://h.example"), 5)
    docs = [r.ask(Ask(m, 1, greet=True)) for m in cfg.menus]
    docs += [
        r.ask(Ask(m, 2, notice=n)) for m in cfg.menus for n in (Notice.INVALID, Notice.NO_INPUT)
    ]
    languages = [None, *cfg.languages]
    docs += [r.enqueue(Enqueue("foreign", lang, 0, Notice.DEFAULT_CHOSEN)) for lang in languages]
    docs += [
        r.hold(Hold("foreign", lang, n, ahead, waited=700, offer_callback=True, choice=n == 2))
        for lang in languages
        for n, ahead in ((1, 0), (2, 2), (3, 40))
    ]
    until = dt.datetime(2024, 1, 1, 21, 0, tzinfo=TOKYO)
    for lang in languages:
        docs += [
            r.callback_confirm(lang, "foreign", 3, until, cfg.callback_number),
            r.callback_refused(lang, "withheld", "foreign", 3),
            r.callback_refused(lang, "closing", "foreign", 3),
            r.callback_kept(lang, "foreign", 3),
            r.callback_booked(lang, until),
            r.lines_now(lang, cfg.referrals, "foreign", 3),
            r.lines_now(lang, [], "foreign", 3),
            r.callback_greeting(lang, "u"),
            r.callback_refused(lang, "not_callable", "foreign", 3),
            r.callback_whisper("x", lang, 600, "u"),
        ]
    docs += [r.counsellor_calling(), r.counsellor_no_answer(), r.counsellor_gone()]
    opens = dt.datetime(2024, 1, 1, 9, 30, tzinfo=TOKYO)
    everything = (opens, (("8", "孤独・孤立でお悩みの方"),), tuple(cfg.referrals))
    docs += [r.closed(Closed(lang, *everything)) for lang in languages]
    docs += [r.whisper(option="x", language=lang, waited=90, accept_url="u") for lang in languages]
    docs += [r.goodbye(None), r.whisper_declined(), r.fallback(), r.fallback_menu()]
    docs += [r.fallback_whisper(), r.after_fallback_dial(), static_fallback(cfg)]
    return docs


def test_every_sentence_of_the_shipped_file_is_said_by_a_voice_twilio_has(cfg) -> None:
    said = [
        (say.get("language"), say.get("voice"), say.text)
        for doc in every_document(cfg)
        for say in ET.fromstring(doc.to_xml()).iter("Say")
    ]
    assert len(said) > 50
    for language, voice, text in said:
        assert language in voices.VOICES, (language, text)
        assert voice in voices.VOICES[language], (language, voice, text)


def test_every_prompt_of_the_shipped_file_is_rendered_and_checked(cfg) -> None:
    places = [where for where, prompt, _ in cfg.prompts() if prompt]
    assert {
        "messages.greeting",
        "menus.languages.prompt",
        "hold_words.ne.messages.0",
        "hold_words.ja.callback_greeting",
        "messages.callback_whisper",
    } <= set(places)
    for where, prompt, lang_id in cfg.prompts():
        for speech in prompt:
            if speech.text is not None:
                assert voices.problem(*cfg.speaker(speech, lang_id)) is None, where


def test_the_nepali_choice_is_one_a_caller_can_hear(cfg) -> None:
    ne = [s for s in cfg.menus["languages"].prompt if "Nepali" in (s.text or "")]
    assert [(s.language, s.voice) for s in ne] == [("en-US", "Polly.Joanna")]


BAD = [
    pytest.param(
        lambda d: d["menus"]["languages"]["prompt"].append({"text": "नेपाली", "language": "ne-NP"}),
        "menus.languages.prompt.10: Twilio has no Nepali voice",
        id="nepali-text",
    ),
    pytest.param(
        lambda d: d["languages"]["en"].update(voice="Polly.Mizuki"),
        "hold_words.en.messages.0.0: voice 'Polly.Mizuki' does not speak en-US",
        id="japanese-voice-for-english",
    ),
    pytest.param(
        lambda d: d["languages"]["vi"].pop("voice"),
        "hold_words.vi.messages.0.0: names no voice for vi-VN",
        id="no-voice",
    ),
    pytest.param(
        lambda d: d["voice"].update(voice="Polly.Mizuki-Neural"),
        "messages.greeting.0: voice 'Polly.Mizuki-Neural' does not speak ja-JP",
        id="voice-that-does-not-exist",
    ),
    pytest.param(
        lambda d: d["hold_words"]["ja"]["messages"][0].append(
            {"play": "http://cdn.example/hold.mp3"}
        ),
        "use https://",
        id="recording-over-http",
    ),
    pytest.param(
        lambda d: d["hold_words"]["ja"]["messages"][0].append({"play": "../secrets.mp3"}),
        "a .mp3/.wav file name under config/audio/",
        id="recording-outside-the-audio-folder",
    ),
    pytest.param(
        lambda d: d["hold_words"]["ja"]["messages"][0].append({"text": "x", "play": "a.mp3"}),
        "give exactly one of 'text' or 'play'",
        id="text-and-play",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_a_sentence_twilio_cannot_say_is_refused_naming_the_prompt(change, message) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(edited(change))
    assert message in str(refused.value)


def test_a_recording_is_played_from_our_audio_folder_or_its_url(tmp_path: Path) -> None:
    (tmp_path / "audio" / "ne").mkdir(parents=True)
    (tmp_path / "audio" / "ne" / "hold.mp3").write_bytes(b"ID3")
    data = edited(lambda d: d["hold_words"]["ne"].update(messages=[[{"play": "ne/hold.mp3"}]]))
    data["hold_words"]["ja"]["messages"] = [[{"play": "https://cdn.example/hold.mp3"}]]
    (tmp_path / "menus.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    cfg = load(tmp_path / "menus.yaml")
    r = Renderer(cfg, Urls("https://h.example"), 5)
    ne = ET.fromstring(r.hold(Hold("foreign", "ne", 1)).to_xml())
    ja = ET.fromstring(r.hold(Hold("loneliness", None, 2)).to_xml())
    assert [p.text for p in ne.iter("Play")] == ["https://h.example/audio/ne/hold.mp3"]
    assert ne[0].tag == "Gather"  # a key works while the recording plays
    assert [p.text for p in ja.iter("Play")] == ["https://cdn.example/hold.mp3"]


def test_a_missing_recording_is_refused_naming_the_prompt(tmp_path: Path) -> None:
    data = edited(lambda d: d["hold_words"]["ne"].update(messages=[[{"play": "ne/hold.mp3"}]]))
    (tmp_path / "menus.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=r"hold_words\.ne\.messages\.0\.0\.play: no file"):
        load(tmp_path / "menus.yaml")


def test_hold_music_from_our_audio_folder_must_be_there(tmp_path: Path) -> None:
    data = edited(lambda d: d["hold"].update(music={"play": "music/calm.mp3"}))
    (tmp_path / "menus.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=r"hold\.music\.play: no file"):
        load(tmp_path / "menus.yaml")
    (tmp_path / "audio" / "music").mkdir(parents=True)
    (tmp_path / "audio" / "music" / "calm.mp3").write_bytes(b"ID3")
    cfg = load(tmp_path / "menus.yaml")
    r = Renderer(cfg, Urls("https://h.example"), 5)
    doc = ET.fromstring(r.hold(Hold("loneliness", None, 2, music=True)).to_xml())
    assert [p.text for p in doc.iter("Play")] == ["https://h.example/audio/music/calm.mp3"]
