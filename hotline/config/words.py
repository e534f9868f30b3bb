"""What callers and counsellors hear, as menus.yaml gives it: sentences and recordings, the
closed message, the hold's words and music, callbacks, voices, caller languages and the
messages, with the placeholders each may use."""

from __future__ import annotations

import re
import string
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hotline.config.base import KEY_RE, Model
from hotline.config.checks import check_number, check_play


class Speech(Model):
    """One spoken sentence (`text`, in a language and voice that default to the file's
    `voice` section) or a recording (`play`: a file in config/audio/, or an https URL)."""

    text: str | None = Field(default=None, min_length=1, max_length=3000)
    play: str | None = None
    language: str | None = None
    voice: str | None = None

    @model_validator(mode="after")
    def _text_or_play(self) -> Speech:
        if (self.text is None) == (self.play is None):
            raise ValueError("give exactly one of 'text' or 'play'")
        if self.play is not None:
            check_play(self.play)
        return self


Prompt = Annotated[list[Speech], Field(min_length=1)]

# {ampm} is 午前 or 午後 and {hour12} the hour on a 12-hour clock (0-11: 午後0時 is noon), for
# Japanese, where a time without 午前/午後 is ambiguous to the ear (4時: 4 a.m. or p.m.?).
WHEN_FIELDS = {"month", "day", "hour", "minute", "ampm", "hour12"}


class ClosedWords(Model):
    """The closed message in one caller language. Each part is said only when it has
    something to say: `closed` always, or instead `after_hours` outside the option's hours
    or `paused` when an operator closed it, if given; `opens` ({when}) when the option opens
    later by its hours; `others` ({options}) when other keys of the menu are open now and
    the menu follows (the caller has just pressed the key), `others_redial` ({options}) when
    they are open but the caller is not in the menu (their option closed as they held);
    `lines`, then one
    `line` ({name}, {number}) for each other line open now; `emergency` last. `when` formats
    the opening time ({month} {day} {hour} {minute}, the minute as two digits);
    `when_on_the_hour`, if given, is used instead at minute 00."""

    closed: Prompt
    after_hours: list[Speech] = []
    paused: list[Speech] = []
    opens: list[Speech] = []
    when: str = "{month}/{day} {hour}:{minute}"
    when_on_the_hour: str | None = None
    others: list[Speech] = []
    others_redial: list[Speech] = []
    key_item: str = "{key}: {name}"  # one key open now, in {options}
    separator: str = ", "
    lines: list[Speech] = []
    line: list[Speech] = []
    emergency: list[Speech] = []
    # Said instead of `closed` when the option's queue is full (Twilio's queue-full): the
    # lines are very busy; then the other keys and lines open now, and `emergency`.
    full: list[Speech] = []
    # Said instead of `closed` to a caller the service does not take (hotline/flags, the
    # options' `withheld` policy), then the other lines and `emergency`. Empty: the Japanese
    # words' part, then the `messages` default.
    blocked: list[Speech] = []  # a caller flagged as abusive
    withheld_186: list[Speech] = []  # a withheld number: call again with 186 (then end)
    withheld_refused: list[Speech] = []  # a withheld number the option does not take

    @field_validator("when", "when_on_the_hour", "key_item")
    @classmethod
    def _patterns(cls, pattern: str | None, info: ValidationInfo) -> str | None:
        allowed = {"key", "name"} if info.field_name == "key_item" else WHEN_FIELDS
        if pattern is not None:
            fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
            for bad in sorted(fields - allowed):
                ok = ", ".join(sorted(allowed))
                raise ValueError(f"unknown placeholder {{{bad}}} (allowed: {ok})")
        return pattern

    def parts(self) -> dict[str, list[Speech]]:
        return {name: getattr(self, name) for name in CLOSED_PARTS}


CLOSED_PARTS = (
    "closed",
    "after_hours",
    "paused",
    "opens",
    "others",
    "others_redial",
    "lines",
    "line",
    "emergency",
    "full",
)
CLOSED_PLACEHOLDERS = {
    "opens": {"when"},
    "others": {"options"},
    "others_redial": {"options"},
    "line": {"name", "number"},
}
# The words said instead of `closed` to a caller not taken (`flow.Closed.turned`).
TURNED_PARTS = ("blocked", "withheld_186", "withheld_refused")


class HoldWords(Model):
    """What a holding caller hears, in one caller language (`ja` for Japanese).

    `messages`: the hold messages, varied: segment n says messages[(n-1) % len]. The place in
    line: `position` ({ahead}), `position_next` (nobody ahead), `position_many` ({cap}: more
    than that many ahead). The callback: `callback_offer` ({key}), `callback_confirm` ({until},
    {number}, {key}), `callback_booked` ({until}), `callback_kept`, `callback_withheld`,
    `callback_unavailable`, `callback_not_callable` (a number we do not call back: not a
    Japanese mobile or geographic one). After the option's maximum wait, `choice`
    ({minutes}), or `choice_no_callback` where this caller may not ask for a callback; the
    lines open now: `lines_now`, one `line` ({name}, {number}) each, or `no_lines`. When we
    call the caller back: `callback_greeting`, a neutral question said before anything else
    (someone else, or a voicemail box, may answer: it names neither the hotline nor the
    request; no key and the leg hangs up without a word), then after their 1
    `callback_joining` (now it may name the hotline). `goodbye`: the last words after a
    conversation (default: the Japanese messages.goodbye). `on_hold`: what a caller the
    counsellor put on hold hears, again and again, until they are back (calm, never a
    promise of when; default: the Japanese on_hold, else the first hold message). `when`
    and `when_on_the_hour` format {until} as in ClosedWords."""

    messages: Annotated[list[Prompt], Field(min_length=1)]
    position: Prompt
    position_next: Prompt
    position_many: Prompt
    callback_offer: Prompt
    callback_confirm: Prompt
    callback_booked: Prompt
    callback_kept: Prompt
    callback_withheld: Prompt
    callback_unavailable: Prompt
    callback_not_callable: Prompt
    choice: Prompt
    choice_no_callback: Prompt  # the choice without key 2: no callback for this caller
    lines_now: Prompt
    line: Prompt
    no_lines: Prompt
    callback_greeting: Prompt
    callback_joining: Prompt  # after the 1: who is calling, now that it is the caller
    goodbye: list[Speech] = []
    on_hold: list[Speech] = []
    when: str = "{month}/{day} {hour}:{minute}"
    when_on_the_hour: str | None = None

    @field_validator("when", "when_on_the_hour")
    @classmethod
    def _patterns(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
            for bad in sorted(fields - WHEN_FIELDS):
                ok = ", ".join(sorted(WHEN_FIELDS))
                raise ValueError(f"unknown placeholder {{{bad}}} (allowed: {ok})")
        return pattern

    def parts(self) -> dict[str, list[Speech]]:
        """Every prompt by its place under `hold_words.<language>` (messages as messages.N)."""
        parts = {f"messages.{i}": prompt for i, prompt in enumerate(self.messages)}
        return parts | {name: getattr(self, name) for name in HOLD_PARTS}


HOLD_PARTS = tuple(
    name for name in HoldWords.model_fields if name not in {"messages", "when", "when_on_the_hour"}
)
HOLD_PLACEHOLDERS = {
    "position": {"ahead"},
    "position_many": {"cap"},
    "callback_offer": {"key"},
    "callback_confirm": {"until", "number", "key"},
    "callback_booked": {"until"},
    "choice": {"minutes"},
    "choice_no_callback": {"minutes"},
    "line": {"name", "number"},
}

# Twilio's own hold music: the track of the waitUrl example on Twilio's <Enqueue> page
# (https://www.twilio.com/docs/voice/twiml/enqueue; TwilioDevEd/api-snippets,
# twiml/voice/enqueue/enqueue-2), from the bucket of its default "classical playlist"
# (the holdmusic twimlet, Bucket=com.twilio.music.classical).
TWILIO_HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"


class Music(Model):
    """Hold music: a recording (`play`: a file in config/audio/, or an https URL, like a
    Speech) or any `url` Twilio can fetch (http or https, e.g. Twilio's own)."""

    play: str | None = None
    url: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _play_or_url(self) -> Music:
        if (self.play is None) == (self.url is None):
            raise ValueError("give exactly one of 'play' or 'url'")
        if self.play is not None:
            check_play(self.play)
        if self.url is not None and not re.fullmatch(r"https?://[^\s]+", self.url):
            raise ValueError(f"url {self.url!r}: give an http:// or https:// URL")
        return self


class HoldSettings(Model):
    """The hold: music between messages (`null`: silence) and the cap on the place in line
    said ("more than 20 callers")."""

    music: Music | None = Music(url=TWILIO_HOLD_MUSIC)
    # The track's length (an upper bound). Twilio cannot cut a <Play> short, so the music
    # plays only in a segment it fits before the next announcement is due, looped as many
    # times as fit (a short clip fills the time); a longer track is not played and the
    # segment is a pause (docs/hold-and-callback.md). A segment is therefore never longer
    # than `announce_every_seconds` plus what is said (hotline/app.py `_hold_timing`).
    music_seconds: int = Field(default=300, ge=5, le=1800)
    # Place in line, callback offer and the staffing check: every this many seconds of the
    # caller's time in the queue (Twilio's QueueTime), whatever the music.
    announce_every_seconds: int = Field(default=60, ge=15, le=600)
    # An unchanged place in line (「次はあなたの番です」 while nothing moves) is said again
    # only this often; a changed one at the next announcement.
    position_repeat_seconds: int = Field(default=180, ge=15, le=3600)
    position_cap: int = Field(default=20, ge=1, le=999)
    # Callers one option's Twilio queue holds (its MaxSize, set by `hotline twilio setup` and
    # at start-up): Twilio's maximum by default, which is also the most it allows. A caller
    # past it hears the full-queue message (`closed.<language>.full`).
    queue_max_size: int = Field(default=5000, ge=1, le=5000)

    @model_validator(mode="after")
    def _repeat_after_announcing(self) -> HoldSettings:
        if self.position_repeat_seconds < self.announce_every_seconds:
            raise ValueError(
                "position_repeat_seconds must be at least announce_every_seconds: the place "
                "in line is said only when announcements are due"
            )
        return self


# Less than the earliest Japanese voicemail (docomo's 留守番電話 answers after 15 s by default).
MAX_CALLER_RING_SECONDS = 14


class CallbackConfig(Model):
    """Callbacks: a holding caller presses `key`, hears what it means and confirms with
    `confirm_key`; their place in line is kept and we call them when it is their turn, from
    `number` (default: the config's caller_id). A caller not reached is tried `retries`
    more times, `retry_after_minutes` apart, ringing `ring_seconds` (the counsellor's leg
    `counsellor_ring_seconds`). A request expires at the end of the option's hours, or after
    `expire_after_minutes` for an option open around the clock. The offer is not made when
    the estimated wait (callers ahead x `minutes_per_caller_ahead`) passes that time.

    `ring_seconds` is at most 14: Japanese carriers' voicemail answers after about 15 s
    (docomo's default) to 20 s (au's), and a voicemail box must not pick up our call. The
    caller's leg also uses Twilio's answering-machine detection (hotline.ivr.pushes)."""

    enabled: bool = True
    key: str = "1"
    confirm_key: str = "1"
    retries: int = Field(default=2, ge=0, le=10)
    retry_after_minutes: int = Field(default=5, ge=1, le=240)
    ring_seconds: int = Field(default=12, ge=5, le=MAX_CALLER_RING_SECONDS)
    counsellor_ring_seconds: int = Field(default=25, ge=5, le=120)
    minutes_per_caller_ahead: int = Field(default=10, ge=0, le=240)
    expire_after_minutes: int = Field(default=240, ge=10, le=24 * 60)
    number: str | None = None

    @field_validator("key", "confirm_key", mode="before")
    @classmethod
    def _key(cls, key: object) -> str:
        if not KEY_RE.fullmatch(str(key)) or str(key) == "#":
            # "#" ends a Gather's input (Twilio's finishOnKey): it would arrive as no key.
            raise ValueError(f"{key!r} is not a single digit 0-9 or *")
        return str(key)

    @field_validator("number")
    @classmethod
    def _number(cls, number: str | None) -> str | None:
        if number is not None:
            check_number(number)
        return number


class Voice(Model):
    language: str = "ja-JP"
    voice: str = "Polly.Mizuki"


class Language(Model):
    """A language a caller may choose under the foreign-language key."""

    name: str
    name_ja: str = Field(min_length=1)  # read to the counsellor in the whisper: 英語
    tts: str  # Twilio <Say language=...>, e.g. en-US
    voice: str | None = None
    closed: list[Speech] = []  # said before the Japanese closed message, if given


class Messages(Model):
    greeting: Prompt
    invalid: Prompt
    no_input: Prompt
    default_chosen: Prompt
    closed: Prompt
    apology: Prompt
    whisper: Prompt  # {option}, {language}, {waited}: said to the counsellor
    whisper_declined: Prompt
    # Said first in the whisper when the caller is flagged as a repeat caller (hotline/flags):
    # a fact the counsellor can use, in neutral words; never the flag's reason.
    whisper_repeat: Prompt = [Speech(text="以前から、何度もお電話をいただいている方です。")]
    # The whisper of a fallback dial (no database: no option, language or wait to tell).
    fallback_whisper: Prompt
    goodbye: Prompt
    # The counsellor's side of a callback (defaults, so that older files still load).
    # {option}, {language}, {waited} as in the whisper.
    callback_whisper: Prompt = [
        Speech(
            text="折り返しのご依頼です。分野は{option}です。{language}待ち時間は{waited}でした。"
            "1を押すと相談者に発信します。"
        )
    ]
    callback_calling: Prompt = [Speech(text="相談者に発信しています。そのままお待ちください。")]
    callback_no_answer: Prompt = [
        Speech(text="相談者が応答しませんでした。後ほど改めて発信します。ありがとうございました。")
    ]
    callback_gone: Prompt = [Speech(text="このご依頼は終了しました。失礼します。")]
    # To a caller the service does not take (their language's `closed` words come first).
    # Neutral: no reason, no name of the hotline, nothing a person beside them would learn.
    blocked: Prompt = [
        Speech(text="申し訳ありません。このお電話は、ただいまおつなぎすることができません。")
    ]
    withheld_186: Prompt = [
        Speech(
            text="この窓口は、電話番号を通知しておかけいただいています。"
            "お手数ですが、番号の前に186をつけて、おかけ直しください。"
        )
    ]
    withheld_refused: Prompt = [
        Speech(text="申し訳ありません。この窓口では、番号を通知しないお電話はお受けしていません。")
    ]
    # After the static fallback's lines (hotline.ivr.fallback.static_fallback): said both when
    # a conversation has just ended and when nobody answered, so it names no hotline and
    # promises nothing.
    fallback_goodbye: Prompt = [
        Speech(
            text="おつなぎできなかった場合は、時間をおいておかけ直しください。"
            "お電話ありがとうございました。"
        )
    ]


# The placeholders each message may use; any other {name} is a mistake caught at start-up
# (it would otherwise fail when the message is first said, to a caller).
WHISPERED = {"option", "language", "waited"}
PLACEHOLDERS = {"whisper": WHISPERED, "callback_whisper": WHISPERED}
