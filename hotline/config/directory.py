"""Who a counsellor can bring into a call (menus.yaml `directory:` and each organisation's
`supervisors`): the emergency services' direct lines per prefecture, partner
organisations' desks, local support organisations (つなぎ支援), interpreters.

Twilio cannot place 119/110 calls in Japan (docs/configuration.md, "The directory"), so an
emergency escalation dials a direct line of the prefecture's fire or police command centre,
configured here with who checked the number and when: a number nobody has called for a year
is a start-up warning (`stale_checks`), since an emergency number that has moved would ring a
stranger at the worst moment. The shipped menus.yaml configures none.

Hours are as everywhere in the file (hotline.config.hours); whether an entry is open now is
asked of the calendar (`HotlineConfig.open_targets`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from hotline.config.base import Id, Model
from hotline.config.checks import check_number
from hotline.config.hours import HoursSpec
from hotline.config.targets import Dialled, SipAuth, check_target

if TYPE_CHECKING:
    from hotline.config.schema import HotlineConfig

# The 47 prefectures as they are written (都道府県名), so that 長野 or 長野縣 is refused.
PREFECTURES = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
]
# A direct line checked longer ago than this is a start-up warning.
CHECK_VALID_DAYS = 365

Service = Literal["fire", "police"]
SERVICES: tuple[Service, ...] = ("fire", "police")
DirectoryKind = Literal["partner", "support", "interpreter", "supervisor"]
KINDS: tuple[DirectoryKind, ...] = ("partner", "support", "interpreter", "supervisor")


def _prefecture(name: str) -> str:
    if name not in PREFECTURES:
        raise ValueError(f"{name!r} is not a prefecture as written in Japanese (長野県, 東京都)")
    return name


Prefecture = Annotated[str, AfterValidator(_prefecture)]


class DirectLine(Model):
    """A command centre's direct line: an E.164 number someone called to check, and when."""

    number: str
    checked_by: str = Field(min_length=1, max_length=64)
    checked_on: dt.date

    @field_validator("number")
    @classmethod
    def _e164(cls, number: str) -> str:
        check_number(number)
        return number


class EmergencyLines(Model):
    """The fire (消防) and police (警察) command centres' direct lines of one prefecture."""

    prefecture: Prefecture
    fire: DirectLine | None = None
    police: DirectLine | None = None

    @model_validator(mode="after")
    def _some(self) -> EmergencyLines:
        if self.fire is None and self.police is None:
            raise ValueError("give fire, police or both")
        return self

    def line(self, service: Service) -> DirectLine | None:
        return self.fire if service == "fire" else self.police


class Entry(Model):
    """A desk a counsellor may bring into a call, while it is open by its hours: an E.164
    number, or a sip: URI as the lines' targets (without credentials)."""

    sip: ClassVar[SipAuth | None] = None

    id: Id
    name: str = Field(min_length=1, max_length=128)
    number: str
    hours: HoursSpec = "24h"

    @field_validator("number")
    @classmethod
    def _number(cls, number: str) -> str:
        check_target(number)
        return number

    @property
    def target(self) -> str:
        return self.number

    @property
    def sip_password(self) -> str | None:
        return None


class Partner(Entry):
    """A partner organisation's desk, for a warm or cold transfer. `org`: its organisation
    in `organisations`, when it is one of the hotline's."""

    org: Id | None = None


class SupportOrg(Entry):
    """A local support organisation (地域の支援団体) a caller may be linked to."""

    prefecture: Prefecture


class Interpreter(Entry):
    """An interpreter service, for the caller languages it interprets."""

    languages: list[str] = Field(min_length=1)


class Supervisor(Dialled):
    """A supervisor of an organisation, rung into a call (listen, coach, join, or a help
    request): an E.164 number or a SIP URI, like the lines."""

    noun: ClassVar[str] = "supervisor"
    name: str = Field(min_length=1, max_length=128)


DirectoryEntry = Partner | SupportOrg | Interpreter | Supervisor


class Directory(Model):
    emergency: list[EmergencyLines] = []
    partners: list[Partner] = []
    support: list[SupportOrg] = []
    interpreters: list[Interpreter] = []

    def emergency_line(self, prefecture: str, service: Service) -> DirectLine | None:
        lines = next((e for e in self.emergency if e.prefecture == prefecture), None)
        return lines.line(service) if lines is not None else None


def entries(cfg: HotlineConfig, kind: DirectoryKind) -> Sequence[DirectoryEntry]:
    """Every entry of a kind, in the file's order (supervisors: of every organisation)."""
    if kind == "partner":
        return cfg.directory.partners
    if kind == "support":
        return cfg.directory.support
    if kind == "interpreter":
        return cfg.directory.interpreters
    if kind == "supervisor":
        return [s for o in cfg.organisations for s in o.supervisors]
    raise ValueError(f"unknown directory kind {kind!r}")


def stale_checks(directory: Directory, today: dt.date) -> list[str]:
    """The direct lines whose last check is older than CHECK_VALID_DAYS, or in the future."""
    found = []
    for n, lines in enumerate(directory.emergency):
        for service in SERVICES:
            line = lines.line(service)
            if line is None:
                continue
            where = f"directory.emergency.{n}.{service} ({lines.prefecture})"
            age = (today - line.checked_on).days
            if age > CHECK_VALID_DAYS:
                found.append(
                    f"{where}: last checked {line.checked_on} by {line.checked_by}, {age} days "
                    f"ago (more than {CHECK_VALID_DAYS}): call the number to check it is still "
                    "the command centre's, then update checked_on"
                )
            elif age < 0:
                found.append(f"{where}: checked_on {line.checked_on} is in the future")
    return found


def directory_problems(cfg: HotlineConfig) -> Iterable[str]:
    """Ids given twice, prefectures listed twice, unknown organisations and languages."""
    d = cfg.directory
    for kind in KINDS:
        seen: set[str] = set()
        for entry in entries(cfg, kind):
            if entry.id in seen:
                yield f"directory: duplicate {kind} id {entry.id!r}"
            seen.add(entry.id)
    prefectures = [e.prefecture for e in d.emergency]
    for name in sorted({p for p in prefectures if prefectures.count(p) > 1}):
        yield f"directory.emergency: {name} is listed twice"
    org_ids = {o.id for o in cfg.organisations}
    for n, partner in enumerate(d.partners):
        if partner.org is not None and partner.org not in org_ids:
            yield f"directory.partners.{n}.org: unknown organisation {partner.org!r}"
    spoken = {"ja", *cfg.languages}
    for n, interpreter in enumerate(d.interpreters):
        for lang in interpreter.languages:
            if lang not in spoken:
                yield f"directory.interpreters.{n}.languages: unknown language {lang!r}"
