"""The TwiML documents Twilio plays to callers, as rendered by hotline.ivr.twiml."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from twilio.twiml.voice_response import VoiceResponse

from hotline.config import TOKYO, HotlineConfig, parse
from hotline.ivr.fallback import static_fallback
from hotline.ivr.twiml import Renderer, Urls
from hotline.voice.flow import Ask, Closed, Enqueue, Hold, Notice

BASE = "https://h.example"
KANA = re.compile(r"[\u3040-\u30ff]")  # hiragana or katakana: Japanese, not Chinese


@pytest.fixture
def render(cfg: HotlineConfig) -> Renderer:
    return Renderer(cfg, Urls(BASE), hold_seconds=5)


def xml(doc: VoiceResponse) -> ET.Element:
    return ET.fromstring(doc.to_xml().encode("utf-8"))


def says(el: ET.Element) -> list[str]:
    return [s.text or "" for s in el.iter("Say")]


def sisc_lines(cfg: HotlineConfig) -> list[str]:
    return [line.target for line in cfg.org(cfg.backup_org).lines]


def test_a_menu_gathers_one_key_in_the_japanese_voice_then_comes_back(render) -> None:
    doc = xml(render.ask(Ask("period-5", attempt=2)))
    gather = doc.find("Gather")
    assert gather is not None
    action = f"{BASE}/voice/menu?m=period-5&t=2"
    assert (gather.get("numDigits"), gather.get("input"), gather.get("action")) == (
        "1",
        "dtmf",
        action,
    )
    say = gather.find("Say")
    assert say is not None and "8を押してください" in (say.text or "")
    assert (say.get("language"), say.get("voice")) == ("ja-JP", "Polly.Mizuki")
    assert [el.tag for el in doc] == ["Gather", "Redirect"]
    assert doc[-1].text == action


def test_only_the_first_menu_of_a_call_greets_the_caller(render) -> None:
    greeted = xml(render.ask(Ask("period-5", attempt=1, greet=True)))
    assert greeted[0].tag == "Say" and "シャープ9999" in (greeted[0].text or "")
    again = xml(render.ask(Ask("period-5", attempt=2)))
    assert not any("シャープ9999" in s for s in says(again))


def test_the_notice_is_said_before_the_menu_is_read_again(render) -> None:
    doc = xml(render.ask(Ask("period-5", attempt=2, notice=Notice.INVALID)))
    assert [el.tag for el in doc] == ["Say", "Gather", "Redirect"]
    assert "その番号は選べません" in (doc[0].text or "")


@pytest.mark.parametrize(
    "decision",
    [
        Ask("languages", attempt=2, notice=Notice.INVALID),
        Ask("languages", attempt=2, notice=Notice.NO_INPUT),
        Enqueue("foreign", "en", 0, notice=Notice.DEFAULT_CHOSEN),
    ],
    ids=["invalid", "no-input", "default-chosen"],
)
def test_japanese_text_is_never_read_in_a_foreign_voice(render, decision) -> None:
    doc = render.ask(decision) if isinstance(decision, Ask) else render.enqueue(decision)
    japanese = [s for s in xml(doc).iter("Say") if KANA.search(s.text or "")]
    assert japanese and all(s.get("language") == "ja-JP" for s in japanese)


def test_queueing_names_the_option_queue_and_keeps_option_and_language(render) -> None:
    doc = xml(render.enqueue(Enqueue("foreign", "pt", priority=0)))
    enqueue = doc.find("Enqueue")
    assert enqueue is not None and enqueue.text == "hotline-foreign"
    assert enqueue.get("waitUrl") == f"{BASE}/voice/wait?o=foreign&l=pt&n=1"
    assert enqueue.get("action") == f"{BASE}/voice/queue-result?o=foreign&l=pt"


def test_a_foreign_language_caller_on_hold_hears_only_their_language(render) -> None:
    doc = xml(render.hold(Hold("foreign", "en", segment=1, ahead=3, offer_callback=True)))
    assert {s.get("language") for s in doc.iter("Say")} == {"en-US"}
    assert says(doc) == [
        render.cfg.hold_words["en"].messages[0][0].text,
        "Callers waiting before you: 3.",
        "To be called back when it is your turn instead of waiting, press 1.",
    ]
    assert not any(KANA.search(s) for s in says(doc))


@pytest.mark.parametrize(
    ("ahead", "heard", "not_heard"),
    [
        (0, ["次はあなたの番"], ["人の方"]),
        (3, ["前に3人"], ["次はあなたの番"]),
        (20, ["前に20人の方"], ["より多く"]),
        (21, ["前に20人より多くの方"], ["21"]),
        (None, [], ["人の方", "次はあなたの番"]),
    ],
)
def test_a_japanese_caller_on_hold_hears_their_place_when_given_up_to_the_cap(
    render, ahead, heard, not_heard
) -> None:
    doc = xml(render.hold(Hold("loneliness", None, segment=1, ahead=ahead)))
    spoken = "".join(says(doc))
    assert "お待たせしています" in spoken
    assert all(h in spoken for h in heard)
    assert not any(n in spoken for n in not_heard)
    assert [el.tag for el in doc] == ["Gather", "Redirect"]
    assert doc[0][-1].tag == "Pause"
    assert doc[-1].text == f"{BASE}/voice/wait?o=loneliness&n=2"


def test_the_hold_gathers_one_key_for_the_callback_while_it_plays(render) -> None:
    doc = xml(render.hold(Hold("foreign", "pt", segment=4, offer_callback=True)))
    gather = doc.find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("timeout"), gather.get("input")) == (
        "1",
        "1",
        "dtmf",
    )
    assert gather.get("action") == f"{BASE}/voice/hold-key?o=foreign&l=pt&n=4"
    assert "tecle 1" in says(gather)[-1]


def test_hold_messages_vary_from_segment_to_segment(render, cfg) -> None:
    variants = [prompt[0].text for prompt in cfg.hold_words["ja"].messages]
    assert len(variants) == 3
    heard = [says(xml(render.hold(Hold("women", None, n, message=n - 1))))[0] for n in range(1, 5)]
    assert heard == [*variants, variants[0]]


def test_music_plays_only_where_a_freed_line_interrupts_it(render, cfg) -> None:
    pushed = xml(render.hold(Hold("women", None, 2, music=True)))
    assert [p.text for p in pushed.iter("Play")] == [cfg.hold.music.url]
    assert "twilio" in cfg.hold.music.url
    assert pushed.find("Gather/Pause") is None
    polled = xml(render.hold(Hold("women", None, 2, music=False)))
    assert list(polled.iter("Play")) == []
    assert polled.find("Gather/Pause").get("length") == "5"


def test_without_music_in_config_the_hold_pauses(cfg) -> None:
    quiet = cfg.model_copy(update={"hold": cfg.hold.model_copy(update={"music": None})})
    doc = xml(Renderer(quiet, Urls(BASE), 5).hold(Hold("women", None, 2, music=True)))
    assert list(doc.iter("Play")) == [] and doc.find("Gather/Pause") is not None


def test_the_choice_after_the_maximum_wait_is_answered_apart_and_offered_once(render) -> None:
    d = Hold("loneliness", None, 7, waited=610, choice=True, offer_callback=False, chose=True)
    doc = xml(render.hold(d))
    gather = doc.find("Gather")
    assert gather.get("action") == f"{BASE}/voice/hold-key?o=loneliness&n=7&step=choice&x=1"
    spoken = "".join(says(doc))
    assert "10分ほどお待たせしています" in spoken and "2を" in spoken and "3を" in spoken
    assert "ご希望の方は" not in spoken  # no callback offer line beside the choice
    assert doc[-1].text == f"{BASE}/voice/wait?o=loneliness&n=8&x=1"
    d = Hold("women", None, 7, waited=610, choice=True, choice_callback=False, chose=True)
    spoken = "".join(says(xml(render.hold(d))))  # no callback for this caller: no key 2
    assert "1を" in spoken and "3を" in spoken
    assert "2を" not in spoken and "お電話する" not in spoken


def test_a_callback_is_explained_then_confirmed_with_a_key(render, cfg) -> None:
    until = dt.datetime(2024, 1, 3, 21, 0, tzinfo=TOKYO)
    doc = xml(render.callback_confirm(None, "loneliness", 5, until, cfg.callback_number))
    gather = doc.find("Gather")
    assert gather.get("action") == f"{BASE}/voice/hold-key?o=loneliness&n=5&step=confirm"
    (text,) = says(gather)
    assert "050-5555-9999から" in text and "1月3日午後9時までに" in text and "1を押して" in text
    assert "非通知" in text
    # A time promised only as a condition, and what to do when it is not met.
    assert "順番が1月3日午後9時までに来たら" in text and "来なかった場合は" in text
    assert "までにいたします" not in text
    assert doc[-1].tag == "Redirect"
    assert doc[-1].text == f"{BASE}/voice/wait?o=loneliness&n=6"
    en = says(xml(render.callback_confirm("en", "foreign", 5, until, "+815055559999")))
    assert "before 21:00 on 1/3, Japan time" in en[0] and "050-5555-9999" in en[0]


def test_booked_refused_and_kept_callbacks(render) -> None:
    until = dt.datetime(2024, 1, 3, 21, 30, tzinfo=TOKYO)
    booked = xml(render.callback_booked("en", until))
    assert [el.tag for el in booked] == ["Say", "Hangup"]
    assert "before 21:30 on 1/3" in says(booked)[0]
    withheld = xml(render.callback_refused(None, "withheld", "women", 2))
    assert "非通知" in says(withheld)[0]
    assert [el.tag for el in withheld][-1] == "Redirect"
    assert withheld[-1].text == f"{BASE}/voice/wait?o=women&n=3"
    closing = xml(render.callback_refused("ko", "closing", "foreign", 2, chose=True))
    assert closing[-1].text == f"{BASE}/voice/wait?o=foreign&l=ko&n=3&x=1"
    assert {s.get("language") for s in closing.iter("Say")} == {"ko-KR"}
    foreign = xml(render.callback_refused(None, "not_callable", "loneliness", 2))
    assert "日本国内の携帯電話と固定電話" in says(foreign)[0] and foreign[-1].tag == "Redirect"
    ja_booked = says(xml(render.callback_booked(None, until)))[0]
    assert "来たら" in ja_booked and "来なかった場合は" in ja_booked
    kept = xml(render.callback_kept("es", "foreign", 9))
    assert "lugar en la fila" in says(kept)[0] and kept[-1].tag == "Redirect"


def test_the_lines_open_now_or_none_then_back_to_the_hold_with_the_choice_kept(render, cfg) -> None:
    (yorisoi,) = [r for r in cfg.referrals if r.id == "yorisoi-foreign"]
    doc = xml(render.lines_now("en", [yorisoi], "foreign", 4))
    assert says(doc) == [
        "In an emergency, call 119 for an ambulance or 110 for the police. "
        "You can call these lines now.",
        "Yorisoi Hotline, 0120-279-338, 2.",
    ]
    assert doc[-1].text == f"{BASE}/voice/wait?o=foreign&l=en&n=5&x=1"
    none = xml(render.lines_now(None, [], "women", 4))
    assert "ほかの窓口はありません" in says(none)[0]


# Words that would tell whoever answers a callback what it is about, in the menu's languages.
NAMING = ("9999", "シャープ", "相談", "折り返し", "孤独", "hotline", "counsel", "咨询", "热线",
          "상담", "tư vấn", "conselh", "consej", "tagapayo", "callback", "call back")  # fmt: skip


def test_the_callback_leg_asks_a_neutral_question_and_says_nothing_without_a_key(
    render, cfg
) -> None:
    doc = xml(render.callback_greeting(None, f"{BASE}/voice/callback-accept"))
    gather = doc.find("Gather")
    assert (gather.get("numDigits"), gather.get("timeout")) == ("1", "8")
    assert gather.get("action") == f"{BASE}/voice/callback-accept"
    assert says(gather) == ["お申し込みいただいたお電話です。ご本人でしたら1を押してください。"]
    assert [el.tag for el in doc] == ["Gather", "Hangup"]  # no key: not a word more
    for language in [None, *cfg.languages]:
        (question,) = says(xml(render.callback_greeting(language, "u")))
        assert not [w for w in NAMING if w.lower() in question.lower()], (language, question)
    assert [el.tag for el in xml(render.hang_up())] == ["Hangup"]


def test_the_counsellor_hears_a_callback_whisper_and_what_follows(render) -> None:
    doc = xml(render.callback_whisper("孤独・孤立でお悩みの方", "en", 600, "https://a"))
    text = says(doc.find("Gather"))[0]
    assert "折り返しのご依頼です" in text and "約10分" in text and "英語でのご相談です" in text
    assert doc[-1].tag == "Hangup"
    assert [el.tag for el in xml(render.counsellor_calling())] == ["Say"]
    assert [el.tag for el in xml(render.counsellor_no_answer())] == ["Say", "Hangup"]
    assert "終了しました" in says(xml(render.counsellor_gone()))[0]


WAIT_VERBS = {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}


def test_every_hold_and_callback_document_uses_only_verbs_allowed_in_a_wait_url(render) -> None:
    until = dt.datetime(2024, 1, 3, 21, 0, tzinfo=TOKYO)
    docs = [
        render.hold(Hold("women", None, 1, ahead=2, offer_callback=True, music=True)),
        render.hold(Hold("foreign", "vi", 3, choice=True, waited=900, chose=True)),
        render.callback_confirm("tl", "foreign", 3, until, "+815055559999"),
        render.callback_refused(None, "unavailable", "women", 3),
        render.callback_kept(None, "women", 3),
        render.callback_booked("zh", until),
        render.lines_now("pt", [], "foreign", 3),
    ]
    for doc in docs:
        root = xml(doc)
        assert {el.tag for el in root} <= WAIT_VERBS
        for gather in root.iter("Gather"):
            assert {el.tag for el in gather} <= {"Say", "Play", "Pause"}


def test_the_fallback_apologises_and_rings_the_backup_lines_one_at_a_time(render, cfg) -> None:
    doc = xml(render.fallback())
    assert "申し訳ありません" in says(doc)[0]
    (dial,) = doc.findall("Dial")
    assert dial.get("action") == f"{BASE}/voice/fallback?step=after-dial&i=0"
    (called,) = list(dial)  # one line: rung together, the first voicemail would take the call
    assert called.text == sisc_lines(cfg)[0]
    assert called.get("url") == f"{BASE}/voice/fallback-whisper"


def test_the_fallback_dial_goes_on_to_the_next_line_then_other_numbers(render, cfg) -> None:
    second = xml(render.fallback_dial(1))
    assert [el.text for el in second.iter("Sip")] == [sisc_lines(cfg)[1]]
    assert second.find("Dial").get("action") == f"{BASE}/voice/fallback?step=after-dial&i=1"
    assert not says(second)  # the apology was said once, before the first line
    past = xml(render.fallback_dial(len(sisc_lines(cfg))))
    # Without the database there is no clock we trust: only a line open round the clock.
    assert past.find("Dial") is None and "0120-279-338" in says(past)[0]
    assert "0120-783-556" not in " ".join(says(past))
    assert past[-1].tag == "Hangup"


def test_the_fallback_whisper_asks_the_counsellor_to_press_1(render) -> None:
    doc = xml(render.fallback_whisper())
    gather = doc.find("Gather")
    assert (
        gather is not None and gather.get("action") == f"{BASE}/voice/fallback-whisper?step=accept"
    )
    assert "1を押して" in "".join(says(gather))
    assert doc[-1].tag == "Hangup"


def test_the_fallback_menu_gathers_a_key_for_the_fallback_url(render) -> None:
    doc = xml(render.fallback_menu())
    gather = doc.find("Gather")
    assert gather is not None and gather.get("action") == f"{BASE}/voice/fallback?step=chosen"
    assert "8を押してください" in "".join(says(gather))


@pytest.mark.parametrize(
    ("target", "noun"), [("+81312345678", "Number"), ("sip:a01@x.example.invalid", "Sip")]
)
def test_dialling_a_line_plays_the_whisper_to_the_counsellor(render, target, noun) -> None:
    doc = xml(render.dial(target, line_id="mca-01", call_sid="CA1", language=None))
    dial = doc.find("Dial")
    assert dial is not None and dial.get("action") == f"{BASE}/voice/dial-result?line=mca-01"
    (called,) = list(dial)
    assert (called.tag, called.text) == (noun, target)
    assert called.get("url") == f"{BASE}/voice/whisper?call=CA1&line=mca-01"


@pytest.mark.parametrize("language", [None, "en", "zh", "ne"])
def test_nothing_is_promised_before_a_counsellor_accepts(render, language) -> None:
    # Offered to three lines in turn, a caller would hear a promise three times: the
    # ringback continues the hold, in Japan's ringback tone.
    doc = xml(render.dial("sip:l@x.example.invalid", line_id="l", call_sid="C", language=language))
    assert [el.tag for el in doc] == ["Dial"]
    assert doc.find("Dial").get("ringTone") == "jp"


PROMISES = ("相談員におつなぎします", "直接おつなぎします")  # said before anyone accepted


def test_no_document_says_a_counsellor_is_on_the_way(render, cfg) -> None:
    for doc in _documents(render):
        spoken = "".join(says(xml(doc)))
        assert not any(p in spoken for p in PROMISES), doc.to_xml()


def test_every_forwarded_leg_shows_the_hotline_number(render, cfg) -> None:
    dials = [
        d
        for doc in [*_documents(render), render.fallback_dial(1), static_fallback(cfg)]
        for d in xml(doc).iter("Dial")
    ]
    assert len(dials) >= 3 + 1  # the static fallback: one sequential <Dial>
    assert {d.get("callerId") for d in dials} == {cfg.entry_numbers[0].numbers[0]}


def test_an_organisation_may_show_its_own_caller_id(cfg) -> None:
    orgs = [o.model_copy(update={"caller_id": "+81312345678"}) if o.id == "inochi" else o
            for o in cfg.organisations]  # fmt: skip
    render = Renderer(cfg.model_copy(update={"organisations": orgs}), Urls(BASE), 5)
    inochi = xml(render.dial("sip:line01@inochi.example.invalid", line_id="inochi-01",
                             call_sid="C", language=None))  # fmt: skip
    other = xml(render.dial("sip:line01@mca.example.invalid", line_id="mca-01",
                            call_sid="C", language=None))  # fmt: skip
    assert inochi.find("Dial").get("callerId") == "+81312345678"
    assert other.find("Dial").get("callerId") == cfg.caller_id_for(None)


@pytest.mark.parametrize(
    ("language", "name"), [("en", "英語"), ("zh", "中国語"), ("ne", "ネパール語")]
)
def test_the_whisper_names_the_language_in_japanese_in_the_japanese_voice(
    render, language, name
) -> None:
    doc = xml(
        render.whisper(option="外国語での相談", language=language, waited=200, accept_url="u")
    )
    (say,) = doc.iter("Say")
    assert f"{name}でのご相談です" in (say.text or "")
    assert (say.get("language"), say.get("voice")) == ("ja-JP", "Polly.Mizuki")


def test_the_static_fallback_needs_nothing_of_ours(cfg) -> None:
    doc = xml(static_fallback(cfg, ring_seconds=15))
    urls = [v for el in doc.iter() for v in el.attrib.values() if "://" in v or v.startswith("/")]
    assert urls == []  # no action, no whisper, no recording of ours: it works while we are down
    assert "申し訳ありません" in says(doc)[0]
    (dial,) = doc.findall("Dial")
    assert [t.text for t in dial] == sisc_lines(cfg)
    assert (dial.get("timeout"), dial.get("sequential")) == ("15", "true")
    assert doc[-1].tag == "Hangup"


def test_closed_says_when_it_opens_the_keys_and_the_lines_open_now(render, cfg) -> None:
    yorisoi = next(r for r in cfg.referrals if r.id == "yorisoi")
    opens = dt.datetime(2022, 12, 28, 16, 0, tzinfo=TOKYO)
    d = Closed(None, opens, (("8", "孤独・孤立でお悩みの方"),), (yorisoi,), why="hours")
    text = " ".join(says(xml(render.closed(d))))
    assert "受付時間外です" in text and "12月28日午後4時から受け付けます" in text
    assert "孤独・孤立でお悩みの方は8番です。おかけ直しのうえ" in text
    assert "よりそいホットライン、0120-279-338" in text and "119番" in text
    assert xml(render.closed(d))[-1].tag == "Hangup"


def test_a_paused_key_says_so_and_the_menu_comes_again(render) -> None:
    """An operator's closure is said as a pause, not as hours; the caller who has just
    pressed the key hears the keys open now, the emergency numbers, then the menu itself."""
    d = Closed(None, None, (("8", "孤独・孤立でお悩みの方"),), why="paused", menu_id="period-5")
    doc = xml(render.closed(d))
    text = " ".join(says(doc))
    assert "受付を一時停止しています" in text and "受付時間外" not in text
    assert "8番です。続けてメニューをお聞きください" in text and "おかけ直し" not in text
    assert "119番" in text and doc.find("Hangup") is None
    gather = doc.find("Gather")
    assert gather.get("action") == f"{BASE}/voice/menu?m=period-5&t=1"
    assert "孤独・孤立でお悩みの方は8を" in says(gather)[0]


def test_closed_names_nothing_that_is_not_open(render) -> None:
    text = " ".join(says(xml(render.closed(Closed()))))
    assert "受け付けます" not in text and "番を押して" not in text
    assert "0120" not in text and "119番" in text


def test_an_opening_time_off_the_hour_says_its_minutes(render) -> None:
    d = Closed("en", dt.datetime(2024, 1, 3, 21, 30, tzinfo=TOKYO))
    assert "It opens at 21:30 on 1/3, Japan time." in says(xml(render.closed(d)))


def _documents(render: Renderer) -> list[VoiceResponse]:
    return [
        render.ask(Ask("languages", attempt=1, greet=True)),
        render.enqueue(Enqueue("women", None, 0, notice=Notice.DEFAULT_CHOSEN)),
        render.hold(Hold("foreign", "ne", segment=4, ahead=1)),
        render.hold(Hold("women", None, segment=1, ahead=2, offer_callback=True, music=True)),
        render.hold(Hold("women", None, segment=9, choice=True, waited=700, chose=True)),
        render.callback_confirm("en", "women", 2, dt.datetime(2024, 1, 1, tzinfo=TOKYO), "+8150"),
        render.callback_refused("en", "withheld", "women", 2),
        render.callback_kept(None, "women", 2),
        render.callback_booked(None, dt.datetime(2024, 1, 1, 21, tzinfo=TOKYO)),
        render.lines_now(None, [], "women", 2),
        render.callback_greeting("ko", "https://h.example/a"),
        render.hang_up(),
        render.callback_whisper("x", None, 30, "https://h.example/a"),
        render.counsellor_calling(),
        render.counsellor_no_answer(),
        render.counsellor_gone(),
        render.leave(),
        render.closed(),
        render.closed(Closed("zh", dt.datetime(2024, 1, 1, 9, 0, tzinfo=TOKYO))),
        render.fallback(),
        render.fallback_menu(),
        render.after_fallback_dial(),
        render.fallback_whisper(),
        render.dial("sip:x@y.example.invalid", line_id="l", call_sid="CA1", language="zh"),
        render.dial("+81312345678", line_id="mca-01", call_sid="CA1", language=None),
    ]


def test_every_document_is_a_response_with_no_stray_text(render) -> None:
    for doc in _documents(render):
        root = xml(doc)
        assert root.tag == "Response"
        for el in root.iter():
            assert not (el.tail or "").strip(), ET.tostring(root)
        assert not (root.text or "").strip()


def test_a_foreign_language_caller_hears_the_closed_message_in_their_language(render, cfg) -> None:
    tell = next(r for r in cfg.referrals if r.id == "tell")
    doc = xml(render.closed(Closed("en", None, (), (tell,))))
    languages = {say.get("language") for say in doc.iter("Say")}
    assert languages == {"en-US"}  # nothing in Japanese to a caller who chose English
    assert "TELL Lifeline, 03-5774-0992." in says(doc)
    assert doc[-1].tag == "Hangup"


def test_a_language_without_its_own_words_hears_its_sentence_then_japanese(cfg) -> None:
    data = cfg.model_dump(exclude_none=True)
    data["closed"].pop("ko")
    data["languages"]["ko"]["closed"] = [{"text": "죄송합니다."}]
    render = Renderer(parse(data), Urls(BASE), hold_seconds=5)
    languages = [say.get("language") for say in xml(render.closed(Closed("ko"))).iter("Say")]
    assert languages[0] == "ko-KR" and "ja-JP" in languages


def test_goodbye_is_said_in_the_callers_language(render) -> None:
    """After a conversation the caller hears goodbye in their own language, not silence."""
    for language, tts, words in (
        ("en", "en-US", "Thank you for calling. Goodbye."),
        ("es", "es-MX", "Gracias por llamar. Hasta luego."),
        (None, "ja-JP", "お電話ありがとうございました。"),
    ):
        doc = xml(render.goodbye(language))
        assert [el.tag for el in doc] == ["Say", "Hangup"]
        assert (doc[0].get("language"), doc[0].text) == (tts, words)
