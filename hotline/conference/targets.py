"""Who a party may be: the directory of config/menus.yaml (`directory:`, read through
`HotlineConfig`'s helpers) as this room needs it, and each organisation's supervisors and
default prefecture. A number is read here only to be handed to `ConferenceControl.add_party`
as `to`: it is never stored, logged or shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from hotline.config import HotlineConfig
from hotline.config.directory import DirectLine, DirectoryEntry, DirectoryKind, Service, Supervisor
from hotline.errors import Conflict, Invalid, not_allowed

# Kinds of a third party the counsellor brings in from the directory.
DIRECTORY_KINDS = ("partner", "support", "interpreter")
SERVICES = ("fire", "police")
# Said when no direct line of the prefecture's command centre is configured.
WHAT_TO_DO = (
    "No direct line of this command centre is configured for the prefecture. Call 119 (fire, "
    "ambulance) or 110 (police) from your own phone, stay on this call with the caller, and "
    "tell the caller that help has been called; then record the escalation on the call's "
    "consultation record."
)
WHAT_TO_DO_JA = (
    "この都道府県の指令センター直通番号は登録されていません。ご自身の電話から119（消防・救急）"
    "または110（警察）に通報し、相談者との通話は切らずに、通報したことを相談者に伝えてください。"
    "通話の後、相談記録に緊急対応を記入してください。"
)


@dataclass(frozen=True, slots=True)
class Target:
    """A party to dial: its kind, its id (stored as the party's target), name (shown) and
    `to` (handed to Twilio, never kept)."""

    kind: str
    id: str
    name: str
    to: str


def entry(cfg: HotlineConfig, kind: str, target_id: str) -> Target:
    """A partner, support organisation or interpreter of the directory, by id."""
    if kind not in DIRECTORY_KINDS:
        raise not_allowed("kind", DIRECTORY_KINDS)
    found = cfg.directory_entry(cast(DirectoryKind, kind), target_id)
    if found is None:
        raise Invalid("target_id", f"no {kind} with this id in the directory")
    return Target(kind, found.id, found.name, found.target)


def entry_open(cfg: HotlineConfig, kind: str, target_id: str, now: dt.datetime) -> Target:
    """`entry`, open at `now` by its hours: a desk that is closed would ring nobody (or a
    night porter) while the caller waits on hold."""
    target = entry(cfg, kind, target_id)
    if target.id not in {e.id for e in open_now(cfg, kind, now)}:
        raise Conflict(f"this {kind} is closed now (its hours): choose one that is open")
    return target


def open_now(cfg: HotlineConfig, kind: str, now: dt.datetime) -> list[DirectoryEntry]:
    """The directory's entries of a kind open at `now` (their hours)."""
    return cfg.open_targets(cast(DirectoryKind, kind), now)


def emergency(cfg: HotlineConfig, prefecture: str, service: str) -> DirectLine | None:
    """The configured direct line of the prefecture's fire or police command centre."""
    if service not in SERVICES:
        raise not_allowed("service", SERVICES)
    return cfg.emergency_line(prefecture, cast(Service, service))


def prefecture_of(cfg: HotlineConfig, org_id: str | None) -> str | None:
    """The organisation's default prefecture for an emergency escalation, if it has one."""
    org = next((o for o in cfg.organisations if o.id == org_id), None)
    return None if org is None else org.prefecture


def supervisors_of(cfg: HotlineConfig, org_id: str | None) -> list[Supervisor]:
    """The organisation's configured supervisors (whose phones a supervision dials)."""
    org = next((o for o in cfg.organisations if o.id == org_id), None)
    return [] if org is None else list(org.supervisors)


def supervisor(cfg: HotlineConfig, org_id: str | None, supervisor_id: str) -> Supervisor:
    found = next((s for s in supervisors_of(cfg, org_id) if s.id == supervisor_id), None)
    if found is None:
        raise Invalid("supervisor_id", "not one of the organisation's supervisors")
    return found
