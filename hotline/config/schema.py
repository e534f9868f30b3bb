"""menus.yaml's schema: entry numbers, organisations and their lines, staffing, options and
their tiers, menus, periods, records, and the whole file (`HotlineConfig`) with the lookups
used everywhere. What is said to callers is in hotline.config.words, hours in
hotline.config.hours; the checks across sections in hotline.config.crosschecks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hotline.config.base import KEY_RE, TOKYO, Id, Model
from hotline.config.care import Care, CareOverride, merged
from hotline.config.checks import check_number
from hotline.config.crosschecks import cross_problems
from hotline.config.directory import (
    DirectLine,
    Directory,
    DirectoryEntry,
    DirectoryKind,
    Prefecture,
    Service,
    Supervisor,
    entries,
)
from hotline.config.hours import Calendar, Hours, HoursSpec, Referral, is_open
from hotline.config.targets import Dialled
from hotline.config.words import (
    CallbackConfig,
    ClosedWords,
    HoldSettings,
    HoldWords,
    Language,
    Messages,
    Prompt,
    Speech,
    Voice,
)


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


class Line(Dialled):
    languages: list[str] | None = None  # None: the organisation's languages
    hours: list[Hours] | None = None  # None: the organisation's hours


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
    # Looking after its counsellors (None: the file's `care`): see hotline.config.care.
    care: CareOverride | None = None
    # The default prefecture of an emergency escalation from its lines (長野県), and the
    # supervisors a counsellor's help request reaches: see hotline.config.directory.
    prefecture: Prefecture | None = None
    supervisors: list[Supervisor] = []


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
    # A caller whose number is withheld (非通知), on choosing this option: `accept` them as
    # any caller, `ask_186` (ask them to call again with 186 before the number, then end),
    # or `refuse` (politely, with the other lines open now and the emergency numbers).
    withheld: Literal["accept", "ask_186", "refuse"] = "accept"


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
    # The number every forwarded leg shows (<Dial callerId>): a Twilio number of the account,
    # never the caller's (a Japanese one for Japanese numbers). Default: the first entry
    # number.
    caller_id: str | None = None
    # Numbers verified in Twilio but not Twilio's (a number you own elsewhere): Twilio does not
    # keep them as the caller ID on calls to Japanese numbers, so the config refuses one as
    # the caller ID of any call to a Japanese number (hotline.config.crosschecks).
    verified_caller_ids: list[str] = []
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
    care: Care = Care()  # every organisation's, unless it gives its own
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
    # Who a counsellor can bring into a call: hotline.config.directory.
    directory: Directory = Directory()

    @model_validator(mode="after")
    def _cross_checks(self) -> HotlineConfig:
        problems = list(cross_problems(self))
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

    def care_of(self, org: Organisation) -> Care:
        """The organisation's care of its counsellors: its own keys over the file's."""
        return merged(self.care, org.care)

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)

    def directory_entry(self, kind: DirectoryKind, entry_id: str) -> DirectoryEntry | None:
        """A partner, support organisation, interpreter or supervisor by its id."""
        return next((e for e in entries(self, kind) if e.id == entry_id), None)

    def open_targets(self, kind: DirectoryKind, now: dt.datetime) -> list[DirectoryEntry]:
        """The entries of a kind open now by their hours (Asia/Tokyo, the file's calendar);
        supervisors have no hours (whether one is on duty is stored, not configured)."""
        return [
            e
            for e in entries(self, kind)
            if isinstance(e, Supervisor) or is_open(e.hours, now, self.calendar)
        ]

    def emergency_line(self, prefecture: str, service: Service) -> DirectLine | None:
        """The prefecture's fire or police command centre's direct line (None: none set)."""
        return self.directory.emergency_line(prefecture, service)

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
