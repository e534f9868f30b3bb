"""The operators' file, config/menus.yaml: its schema, its cross-checks and its loader.

A bad file stops the service at start-up with `ConfigError`, whose message names the field
(as a dotted path into the YAML) and says what is wrong.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hotline.config.checks import (
    audio_problems,
    check_number,
    check_play,
    check_sip_uri,
    voice_problems,
)
from hotline.config.hours import (
    DAY_TYPES,
    DAYS,
    Calendar,
    Hours,
    HoursSpec,
    Referral,
)

__all__ = ["DAYS", "DAY_TYPES", "Calendar", "Hours", "HoursSpec", "Referral"]

TOKYO = ZoneInfo("Asia/Tokyo")
KEY_RE = re.compile(r"^[0-9*#]$")
ID_RE = r"^[a-z0-9][a-z0-9_\-]*$"
Id = Annotated[str, Field(pattern=ID_RE, max_length=48)]


class ConfigError(ValueError):
    """menus.yaml is unreadable or invalid; the message names the field."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

WHEN_FIELDS = {"month", "day", "hour", "minute"}


class ClosedWords(Model):
    """The closed message in one caller language. Each part is said only when it has
    something to say: `closed` always; `opens` ({when}) when the option opens later by its
    hours; `others` ({options}) when other keys of the menu are open now; `lines`, then one
    `line` ({name}, {number}) for each other line open now; `emergency` last. `when` formats
    the opening time ({month} {day} {hour} {minute}, the minute as two digits);
    `when_on_the_hour`, if given, is used instead at minute 00."""

    closed: Prompt
    opens: list[Speech] = []
    when: str = "{month}/{day} {hour}:{minute}"
    when_on_the_hour: str | None = None
    others: list[Speech] = []
    key_item: str = "{key}: {name}"  # one key open now, in {options}
    separator: str = ", "
    lines: list[Speech] = []
    line: list[Speech] = []
    emergency: list[Speech] = []

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


CLOSED_PARTS = ("closed", "opens", "others", "lines", "line", "emergency")
CLOSED_PLACEHOLDERS = {"opens": {"when"}, "others": {"options"}, "line": {"name", "number"}}


class HoldWords(Model):
    """What a holding caller hears, in one caller language (`ja` for Japanese).

    `messages`: the hold messages, varied: segment n says messages[(n-1) % len]. The place in
    line: `position` ({ahead}), `position_next` (nobody ahead), `position_many` ({cap}: more
    than that many ahead). The callback: `callback_offer` ({key}), `callback_confirm` ({until},
    {number}, {key}), `callback_booked` ({until}), `callback_kept`, `callback_withheld`,
    `callback_unavailable`. After the option's maximum wait, `choice` ({minutes}); the lines
    open now: `lines_now`, one `line` ({name}, {number}) each, or `no_lines`. When we call the
    caller back: `callback_greeting` (neutral: someone else may answer), `callback_retry`,
    `callback_last`. `when` and `when_on_the_hour` format {until} as in ClosedWords."""

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
    choice: Prompt
    lines_now: Prompt
    line: Prompt
    no_lines: Prompt
    callback_greeting: Prompt
    callback_retry: Prompt
    callback_last: Prompt
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
    # The longest the music plays in one segment: an upper bound of the track's length. A
    # holding caller polls at least this often, so the router waits this long before taking a
    # silent caller for gone (hotline/app.py `_hold_timing`).
    music_seconds: int = Field(default=300, ge=5, le=1800)
    position_cap: int = Field(default=20, ge=1, le=999)


class CallbackConfig(Model):
    """Callbacks: a holding caller presses `key`, hears what it means and confirms with
    `confirm_key`; their place in line is kept and we call them when it is their turn, from
    `number` (default: the config's caller_id). A caller not reached is tried `retries`
    more times, `retry_after_minutes` apart, ringing `ring_seconds`. A request expires at the
    end of the option's hours, or after `expire_after_minutes` for an option open around the
    clock."""

    enabled: bool = True
    key: str = "1"
    confirm_key: str = "1"
    retries: int = Field(default=2, ge=0, le=10)
    retry_after_minutes: int = Field(default=5, ge=1, le=240)
    ring_seconds: int = Field(default=25, ge=5, le=120)
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


class EntryNumber(Model):
    id: Literal["9999", "0120"] | Id  # metric label: keep it short and bounded
    label: str
    numbers: list[str] = Field(min_length=1)

    @field_validator("numbers")
    @classmethod
    def _e164(cls, numbers: list[str]) -> list[str]:
        for n in numbers:
            check_number(n)
        return numbers


class SipAuth(Model):
    """Credentials of a SIP line (`<Sip username password>`); the password stays out of
    menus.yaml: `password_env` names the environment variable that holds it."""

    username: str = Field(min_length=1, max_length=128)
    password_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: object) -> object:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a password never goes in menus.yaml: put it in an environment variable "
                "and name that variable in password_env"
            )
        return data


class Line(Model):
    id: Id
    target: str  # E.164 number, or a SIP URI with Twilio's parameters (;transport=tls ...)
    sip: SipAuth | None = None
    languages: list[str] | None = None  # None: the organisation's languages
    hours: list[Hours] | None = None  # None: the organisation's hours
    _password: str | None = PrivateAttr(default=None)

    @field_validator("target")
    @classmethod
    def _target(cls, target: str) -> str:
        if target.startswith("sip:"):
            check_sip_uri(target)
        elif target.startswith("+"):
            check_number(target)
        else:
            raise ValueError(f"{target!r} is neither an E.164 number nor a sip: URI")
        return target

    @model_validator(mode="after")
    def _credentials(self) -> Line:
        if self.sip is None:
            return self
        if not self.target.startswith("sip:"):
            raise ValueError(f"line {self.id!r}: 'sip' credentials go with a sip: target")
        # Read once at start-up: a missing variable stops the service, naming the line,
        # rather than failing the first caller put through to it.
        password = os.environ.get(self.sip.password_env)
        if not password:
            raise ValueError(
                f"line {self.id!r}: environment variable {self.sip.password_env} "
                "(its SIP password) is not set"
            )
        self._password = password
        return self

    @property
    def sip_password(self) -> str | None:
        return self._password


class Organisation(Model):
    id: Id
    name: str
    # Shown to this organisation's lines instead of the hotline's number (see caller_id).
    caller_id: str | None = None
    languages: list[str] = ["ja"]
    hours: list[Hours] | Literal["24h"] = "24h"
    lines: list[Line] = Field(min_length=1)
    # Presence (None: the `staffing` defaults): see Staffing.
    staffed_by_schedule: bool | None = None
    wrap_up_seconds: int | None = Field(default=None, ge=0, le=3600)
    wrap_up_max_seconds: int | None = Field(default=None, ge=0, le=7200)
    missed_limit: int | None = Field(default=None, ge=1, le=20)


class Staffing(Model):
    """How lines are staffed, for every organisation that does not say otherwise.

    `by_schedule`: a desk that is always manned within its hours is ready from the start;
    otherwise a line is offline until its counsellor signs in. `wrap_up_seconds`: after each
    conversation the line rests while the counsellor writes the record (ended early by the
    saved record or "ready"; extendable up to `wrap_up_max_seconds`). `missed_limit`: offers
    in a row not accepted before the line goes away (reason: missed calls).
    """

    by_schedule: bool = False
    wrap_up_seconds: int = Field(default=120, ge=0, le=3600)
    wrap_up_max_seconds: int = Field(default=600, ge=0, le=7200)
    missed_limit: int = Field(default=2, ge=1, le=20)


class Tier(Model):
    after_seconds: int = Field(default=0, ge=0)
    orgs: list[Id] = Field(min_length=1)
    any_language: bool = False  # True: serves callers of every language (interpreters)


class Tiers(Model):
    primary: list[Id] = Field(min_length=1)
    overflow: Tier | None = None
    backup: Tier | None = None


class Option(Model):
    id: Id
    name: str  # read to the counsellor in the whisper and shown in reports
    priority: int = 0
    tiers: Tiers
    # When callers may choose it (Asia/Tokyo, see hotline.config.hours); a period may give
    # its own. `language_hours`: a language under it with other hours (foreign: {ne: ...}).
    hours: HoursSpec = "24h"
    language_hours: dict[str, HoursSpec] = {}
    # After this long on hold the caller is offered a choice: keep waiting, a callback, or
    # the other lines open now (None: never).
    max_wait_seconds: int | None = Field(default=None, ge=30, le=24 * 3600)
    callback: bool = True  # may this option's callers ask to be called back


class Choice(Model):
    """What a key does: select an option (with a language), or open another menu."""

    option: Id | None = None
    language: str | None = None
    menu: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> Choice:
        if (self.option is None) == (self.menu is None):
            raise ValueError("give exactly one of 'option' or 'menu'")
        if self.menu is not None and self.language is not None:
            raise ValueError("'language' goes with 'option', not with 'menu'")
        return self


class Menu(Model):
    prompt: Prompt
    keys: dict[str, Choice] = Field(min_length=1)
    repeat_key: str = "9"
    retries: int = Field(default=3, ge=1, le=10)
    timeout_seconds: int = Field(default=6, ge=1, le=30)
    default: Choice

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, keys: object) -> object:
        if isinstance(keys, dict):
            for key in keys:
                if not isinstance(key, str | int) or not KEY_RE.fullmatch(str(key)):
                    raise ValueError(f"key {key!r} is not a single digit 0-9, * or #")
            seen = [str(k) for k in keys]
            if len(seen) != len(set(seen)):
                raise ValueError("duplicate key")
            return {str(k): v for k, v in keys.items()}
        return keys

    @field_validator("repeat_key", mode="before")
    @classmethod
    def _repeat(cls, key: object) -> str:
        if not KEY_RE.fullmatch(str(key)):
            raise ValueError(f"repeat_key {key!r} is not a single digit 0-9, * or #")
        return str(key)

    @model_validator(mode="after")
    def _repeat_free(self) -> Menu:
        if self.repeat_key in self.keys:
            raise ValueError(f"repeat_key {self.repeat_key!r} is also a choice key")
        return self


class Period(Model):
    """A trial period: half-open [start, end), to the minute, in Asia/Tokyo. A plain date
    means its midnight; a time without a zone is Tokyo's."""

    id: Id
    name: str
    start: dt.datetime
    end: dt.datetime  # exclusive
    menu: Id
    # Options (or `option/language`) with other hours than their own during this period.
    hours: dict[str, HoursSpec] = {}

    @field_validator("start", "end", mode="before")
    @classmethod
    def _tokyo(cls, value: object) -> object:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time(), TOKYO)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return dt.datetime.combine(dt.date.fromisoformat(value.strip()), dt.time(), TOKYO)
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=TOKYO) if value.tzinfo is None else value.astimezone(TOKYO)

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.end <= self.start:
            raise ValueError("end must be after start (end is exclusive)")
        return self

    def covers(self, when: dt.datetime) -> bool:
        return self.start <= when < self.end

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        """The last Tokyo day with a minute inside the period."""
        return (self.end - dt.timedelta(microseconds=1)).date()


class Messages(Model):
    greeting: Prompt
    invalid: Prompt
    no_input: Prompt
    default_chosen: Prompt
    closed: Prompt
    apology: Prompt
    whisper: Prompt  # {option}, {language}, {waited}: said to the counsellor
    whisper_declined: Prompt
    # The whisper of a fallback dial (no database: no option, language or wait to tell).
    fallback_whisper: Prompt
    goodbye: Prompt
    # The counsellor's side of a callback (defaults, so that older files still load).
    # {option}, {language}, {waited} as in the whisper.
    callback_whisper: Prompt = [
        Speech(
            text="折り返しのご依頼です。{option}で{waited}お待ちいただいた方です。"
            "{language}1を押すと相談者に発信します。"
        )
    ]
    callback_calling: Prompt = [Speech(text="相談者に発信しています。そのままお待ちください。")]
    callback_no_answer: Prompt = [
        Speech(text="相談者が応答しませんでした。後ほど改めて発信します。ありがとうございました。")
    ]
    callback_gone: Prompt = [Speech(text="このご依頼は終了しました。失礼します。")]


Label = Annotated[str, Field(min_length=1, max_length=64)]
Labels = Annotated[list[Label], Field(min_length=1)]

# Statuses the code gives meaning to (a new case opens as `open`; `linked` counts as つなぎ
# in reports). Operators may add others and relabel these, never remove them.
CASE_STATUSES = ("open", "in_progress", "linked", "closed", "unreachable")


class RecordsExport(Model):
    # Aggregate counts below this are shown as "<min_cell>": a cell of 1 or 2 callers could
    # point at a person.
    min_cell: int = Field(default=5, ge=1, le=100)


class Records(Model):
    """The shared record form's lists (共通の相談記録票): stored and exported as written here."""

    age_groups: Labels = ["10代以下", "20代", "30代", "40代", "50代", "60代", "70代以上", "不明"]
    genders: Labels = ["男性", "女性", "その他", "回答なし"]
    categories: Labels = [
        "心の病気や不調",
        "自分の悩みを話せる場所がない",
        "暮らし・お金",
        "家庭や家族",
        "同居人との関係",
        "死にたい・消えたい気持ち",
        "孤独・孤立",
        "その他",
    ]
    support: Labels = ["気持ちの整理", "支援制度等の情報提供", "その他"]
    seriousness: Labels = ["低い", "中程度", "高い", "緊急"]
    destination_types: Labels = [
        "自治体",
        "自立相談支援機関",
        "福祉事務所",
        "警察",
        "地域の支援団体",
        "その他",
    ]
    action_kinds: Labels = ["連絡", "面談", "同行支援", "その他"]
    case_statuses: dict[Id, Label] = {
        "open": "未着手",
        "in_progress": "対応中",
        "linked": "つなぎ完了",
        "closed": "終了",
        "unreachable": "連絡がつかない",
    }
    export: RecordsExport = RecordsExport()

    @field_validator(
        "age_groups",
        "genders",
        "categories",
        "support",
        "seriousness",
        "destination_types",
        "action_kinds",
    )
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        seen: set[str] = set()
        for label in labels:
            if label in seen:
                raise ValueError(f"duplicate value {label!r}")
            seen.add(label)
        return labels

    @field_validator("case_statuses")
    @classmethod
    def _statuses(cls, statuses: dict[str, str]) -> dict[str, str]:
        missing = [s for s in CASE_STATUSES if s not in statuses]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} (these may be relabelled, not removed)")
        return statuses


class HotlineConfig(Model):
    voice: Voice = Voice()
    entry_numbers: list[EntryNumber] = Field(min_length=1)
    # The number every forwarded leg shows (<Dial callerId>): a Twilio number of the account
    # or a verified caller ID, never the caller's. Default: the first entry number.
    caller_id: str | None = None
    languages: dict[str, Language] = {}
    organisations: list[Organisation] = Field(min_length=1)
    backup_org: Id
    options: list[Option] = Field(min_length=1)
    menus: dict[Id, Menu] = Field(min_length=1)
    default_menu: Id
    periods: list[Period] = []
    messages: Messages
    records: Records = Records()
    staffing: Staffing = Staffing()
    calendar: Calendar = Calendar()
    # Other lines a caller hears of when an option is closed, only while they are open.
    referrals: list[Referral] = []
    # The closed message per caller language (`ja` for Japanese); without one, a language
    # hears its `languages.X.closed` and then messages.closed.
    closed: dict[str, ClosedWords] = {}
    hold: HoldSettings = HoldSettings()
    # What a holding caller hears, per caller language: `ja` and every `languages` id.
    hold_words: dict[str, HoldWords]
    callback: CallbackConfig = CallbackConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> HotlineConfig:
        problems = list(_cross_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # Lookups used everywhere; cheap enough to compute on demand.
    def org(self, org_id: str) -> Organisation:
        return next(o for o in self.organisations if o.id == org_id)

    def staffing_of(self, org: Organisation) -> Staffing:
        """The organisation's staffing rules: its own values over the defaults."""
        d = self.staffing
        return Staffing(
            by_schedule=d.by_schedule
            if org.staffed_by_schedule is None
            else org.staffed_by_schedule,
            wrap_up_seconds=d.wrap_up_seconds
            if org.wrap_up_seconds is None
            else org.wrap_up_seconds,
            wrap_up_max_seconds=(
                d.wrap_up_max_seconds
                if org.wrap_up_max_seconds is None
                else org.wrap_up_max_seconds
            ),
            missed_limit=d.missed_limit if org.missed_limit is None else org.missed_limit,
        )

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)

    def has_option(self, option_id: str) -> bool:
        return any(o.id == option_id for o in self.options)

    def period_at(self, when: dt.datetime) -> Period | None:
        return next((p for p in self.periods if p.covers(when)), None)

    def menu_at(self, when: dt.datetime) -> str:
        period = self.period_at(when)
        return period.menu if period else self.default_menu

    def entry_for(self, to_number: str) -> str:
        for entry in self.entry_numbers:
            if to_number in entry.numbers:
                return entry.id
        return "other"

    def lines(self) -> Iterable[tuple[Organisation, Line]]:
        for org in self.organisations:
            for line in org.lines:
                yield org, line

    def line(self, line_id: str) -> tuple[Organisation, Line] | None:
        return next(((o, li) for o, li in self.lines() if li.id == line_id), None)

    def caller_id_for(self, org: Organisation | None) -> str:
        """What a forwarded leg shows the counsellor: never the caller's own number."""
        if org is not None and org.caller_id:
            return org.caller_id
        return self.caller_id or self.entry_numbers[0].numbers[0]

    @property
    def callback_number(self) -> str:
        """The number a callback comes from (and that the caller is told): E.164."""
        return self.callback.number or self.caller_id_for(None)

    def hold_words_for(self, language: str | None) -> tuple[HoldWords, str | None]:
        """The hold words of a caller language and the language to say them in (None:
        Japanese); a language without its own (validation forbids it) hears Japanese."""
        words = self.hold_words.get(language) if language else None
        if words is None:
            return self.hold_words["ja"], None
        return words, None if language == "ja" else language

    def speaker(self, speech: Speech, lang_id: str | None) -> tuple[str, str | None]:
        """The <Say> language and voice of a sentence said to a caller of `lang_id`."""
        lang = self.languages.get(lang_id) if lang_id else None
        tts = speech.language or (lang.tts if lang else self.voice.language)
        voice = speech.voice or (lang.voice if lang and tts == lang.tts else None)
        if voice is None and tts == self.voice.language:
            voice = self.voice.voice
        return tts, voice

    def prompts(self) -> Iterable[tuple[str, Sequence[Speech], str | None]]:
        """Every prompt with its place in the file and the caller language it is said in."""
        for name in Messages.model_fields:
            yield f"messages.{name}", getattr(self.messages, name), None
        for menu_id, menu in self.menus.items():
            yield f"menus.{menu_id}.prompt", menu.prompt, None
        for lang_id, lang in self.languages.items():
            yield f"languages.{lang_id}.closed", lang.closed, lang_id
        for lang_id, hold in self.hold_words.items():
            for part, prompt in hold.parts().items():
                yield f"hold_words.{lang_id}.{part}", prompt, None if lang_id == "ja" else lang_id
        for lang_id, words in self.closed.items():
            for part, prompt in words.parts().items():
                yield f"closed.{lang_id}.{part}", prompt, None if lang_id == "ja" else lang_id


def _unique(kind: str, ids: list[str]) -> Iterable[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            yield f"{kind}: duplicate id {i!r}"
        seen.add(i)


def _cross_problems(cfg: HotlineConfig) -> Iterable[str]:
    org_ids = {o.id for o in cfg.organisations}
    option_ids = {o.id for o in cfg.options}
    yield from _unique("organisations", [o.id for o in cfg.organisations])
    yield from _unique("options", [o.id for o in cfg.options])
    yield from _unique("periods", [p.id for p in cfg.periods])
    yield from _unique("lines", [line.id for _, line in cfg.lines()])
    if cfg.backup_org not in org_ids:
        yield f"backup_org: unknown organisation {cfg.backup_org!r}"
    for o in cfg.options:
        tiers = [("primary", o.tiers.primary)]
        tiers += [
            (n, t.orgs)
            for n, t in (("overflow", o.tiers.overflow), ("backup", o.tiers.backup))
            if t
        ]
        for name, orgs in tiers:
            for org in orgs:
                if org not in org_ids:
                    yield f"options.{o.id}.tiers.{name}: unknown organisation {org!r}"
    yield from _menu_problems(cfg, option_ids)
    for p in cfg.periods:
        if p.menu not in cfg.menus:
            yield f"periods.{p.id}.menu: unknown menu {p.menu!r}"
    yield from _placeholder_problems(cfg)
    yield from _hours_problems(cfg, option_ids)
    yield from _staffing_problems(cfg)
    yield from voice_problems(cfg)
    yield from _caller_id_problems(cfg)


def _caller_id_problems(cfg: HotlineConfig) -> Iterable[str]:
    places = [("caller_id", cfg.caller_id)]
    places += [(f"organisations.{o.id}.caller_id", o.caller_id) for o in cfg.organisations]
    for where, number in places:
        if number is None:
            continue
        try:
            check_number(number)
        except ValueError as e:
            yield f"{where}: {e}"


def _staffing_problems(cfg: HotlineConfig) -> Iterable[str]:
    """Mistakes that would silently leave a line unused or a call in the wrong period."""
    spoken = {"ja", *cfg.languages}
    for org in cfg.organisations:
        for lang in org.languages:
            if lang not in spoken:
                yield f"organisations.{org.id}.languages: unknown language {lang!r}"
        for line in org.lines:
            for lang in line.languages or []:
                if lang not in spoken:
                    yield f"organisations.{org.id}.lines.{line.id}.languages: unknown {lang!r}"
    periods = sorted(cfg.periods, key=lambda p: p.start)
    for a, b in zip(periods, periods[1:], strict=False):
        if b.start < a.end:
            yield f"periods.{b.id}: overlaps periods.{a.id} (a call belongs to one period)"
    numbers = [n for e in cfg.entry_numbers for n in e.numbers]
    for n in sorted({n for n in numbers if numbers.count(n) > 1}):
        yield f"entry_numbers: {n} is listed under two entries"


def _menu_problems(cfg: HotlineConfig, option_ids: set[str]) -> Iterable[str]:
    if cfg.default_menu not in cfg.menus:
        yield f"default_menu: unknown menu {cfg.default_menu!r}"
    for menu_id, menu in cfg.menus.items():
        choices = [(f"keys.{k!r}", c) for k, c in menu.keys.items()] + [("default", menu.default)]
        for where, choice in choices:
            at = f"menus.{menu_id}.{where}"
            if choice.option is not None and choice.option not in option_ids:
                yield f"{at}.option: unknown option {choice.option!r}"
            if choice.menu is not None and choice.menu not in cfg.menus:
                yield f"{at}.menu: unknown menu {choice.menu!r}"
            if choice.language is not None and choice.language not in cfg.languages:
                yield f"{at}.language: unknown language {choice.language!r}"
        if menu.default.menu is not None:
            yield f"menus.{menu_id}.default: the default must be an option, not a menu"
    for lang_id, lang in cfg.languages.items():
        if not lang.tts:
            yield f"languages.{lang_id}.tts: missing"


# The placeholders each message may use; any other {name} is a mistake caught at start-up
# (it would otherwise fail when the message is first said, to a caller).
WHISPERED = {"option", "language", "waited"}
PLACEHOLDERS = {"whisper": WHISPERED, "callback_whisper": WHISPERED}


def _hours_problems(cfg: HotlineConfig, option_ids: set[str]) -> Iterable[str]:
    """Hours that name what does not exist, and closed messages in no caller language."""
    spoken = {"ja", *cfg.languages}
    for o in cfg.options:
        for lang in o.language_hours:
            if lang not in cfg.languages:
                yield f"options.{o.id}.language_hours: unknown language {lang!r}"
    for p in cfg.periods:
        for key in p.hours:
            option, _, lang = key.partition("/")
            if option not in option_ids:
                yield f"periods.{p.id}.hours: unknown option {option!r}"
            elif lang and lang not in cfg.languages:
                yield f"periods.{p.id}.hours: unknown language {lang!r} in {key!r}"
    yield from _unique("referrals", [r.id for r in cfg.referrals])
    for r in cfg.referrals:
        for lang in [*r.languages, *r.names]:
            if lang not in spoken:
                yield f"referrals.{r.id}: unknown language {lang!r}"
    for lang in cfg.closed:
        if lang not in spoken:
            yield f"closed.{lang}: unknown language {lang!r}"
    yield from _hold_problems(cfg, spoken)


def _hold_problems(cfg: HotlineConfig, spoken: set[str]) -> Iterable[str]:
    """Every caller language has its hold words, and no words are kept for none."""
    for lang in sorted(spoken - set(cfg.hold_words)):
        yield f"hold_words.{lang}: missing (every caller language needs its hold words)"
    for lang in cfg.hold_words:
        if lang not in spoken:
            yield f"hold_words.{lang}: unknown language {lang!r}"


def _placeholder_problems(cfg: HotlineConfig) -> Iterable[str]:
    for lang_id, words in cfg.closed.items():
        for part, prompt in words.parts().items():
            yield from _unknown_placeholders(
                f"closed.{lang_id}.{part}", prompt, CLOSED_PLACEHOLDERS.get(part, set())
            )
    for lang_id, hold in cfg.hold_words.items():
        for part, prompt in hold.parts().items():
            allowed = HOLD_PLACEHOLDERS.get(part, set())
            yield from _unknown_placeholders(f"hold_words.{lang_id}.{part}", prompt, allowed)
    for name in Messages.model_fields:
        allowed = PLACEHOLDERS.get(name, set())
        yield from _unknown_placeholders(f"messages.{name}", getattr(cfg.messages, name), allowed)


def _unknown_placeholders(where: str, prompt: Sequence[Speech], allowed: set[str]) -> Iterable[str]:
    for i, speech in enumerate(prompt):
        if speech.text is None:
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(speech.text) if f is not None}
        except ValueError as e:
            yield f"{where}.{i}.text: {e}"
            continue
        for bad in sorted(fields - allowed):
            ok = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            yield f"{where}.{i}.text: unknown placeholder {{{bad}}} (allowed: {ok})"


def _union_tag(part: object) -> bool:
    """pydantic's name of a union member in an error's place (`list[Hours]`, `literal['24h']`)."""
    return isinstance(part, str) and ("[" in part or "'" in part)


def _format(error: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    errors = error.errors()
    # A value fitting no member of a union (hours: a list of windows or "24h") gets one error
    # per member: keep the list's, which says what is wrong, and drop "should be '24h'".
    for err in errors:
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # cross-checks: each problem already names its field
            lines.extend(f"  {problem}" for problem in msg.split("; "))
            continue
        loc = err["loc"]
        if err["type"] == "literal_error" and _union_tag(loc[-1]) and len(errors) > 1:
            continue
        where = ".".join(str(p) for p in loc if not _union_tag(p))
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse(data: object, source: str = "menus.yaml") -> HotlineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source} is invalid: the top level must be a mapping")
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, source)) from None


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML keeps the last silently)."""


def _no_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[object, object]:
    keys: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if str(key) in keys:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"duplicate key {key!r} at line {line}")
        keys.add(str(key))
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(path: Path) -> HotlineConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 (byte {e.start}); save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as e:
        raise ConfigError(f"{path} is invalid: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    cfg = parse(data, str(path))
    problems = list(audio_problems(cfg, path.parent / "audio"))
    if problems:
        raise ConfigError("\n  ".join([f"{path} is invalid:", *problems]))
    return cfg
