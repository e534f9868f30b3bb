"""Closed label sets from menus.yaml: periods, options, entry numbers, organisations.

Metric labels only ever take these values (plus `none` / `other`), so the number of series
is bounded by the configuration, never by callers or by what a request carries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hotline.config import HotlineConfig
from hotline.reports.definitions import NONE

OTHER_ENTRY = "other"  # a call to a number that is not configured as #9999 or 0120
NONE_NAME = "期間外"


@dataclass(frozen=True, slots=True)
class PeriodInfo:
    id: str
    name: str
    start: dt.datetime | None  # None for `none`: outside every period; Asia/Tokyo
    end: dt.datetime | None  # exclusive
    menu: str


def periods(cfg: HotlineConfig) -> list[PeriodInfo]:
    """Every configured period, then `none` (calls outside every period)."""
    out = [PeriodInfo(p.id, p.name, p.start, p.end, p.menu) for p in cfg.periods]
    return [*out, PeriodInfo(NONE, NONE_NAME, None, None, cfg.default_menu)]


def period(cfg: HotlineConfig, period_id: str) -> PeriodInfo | None:
    return next((p for p in periods(cfg) if p.id == period_id), None)


def offered_options(cfg: HotlineConfig, menu_id: str) -> list[str]:
    """Options a caller can reach from a menu (keys, sub-menus, defaults), in key order."""
    seen: list[str] = []
    todo, visited = [menu_id], set()
    while todo:
        menu = cfg.menus.get(todo.pop(0))
        if menu is None or id(menu) in visited:
            continue
        visited.add(id(menu))
        for choice in [*menu.keys.values(), menu.default]:
            if choice.option is not None and choice.option not in seen:
                seen.append(choice.option)
            if choice.menu is not None:
                todo.append(choice.menu)
    return seen


def option_ids(cfg: HotlineConfig) -> list[str]:
    return [o.id for o in cfg.options]


def option_name(cfg: HotlineConfig, option_id: str) -> str:
    if cfg.has_option(option_id):
        return cfg.option(option_id).name
    return "選択なし" if option_id == NONE else option_id


def entries(cfg: HotlineConfig) -> list[str]:
    return [e.id for e in cfg.entry_numbers] + [OTHER_ENTRY]


def entry_name(cfg: HotlineConfig, entry_id: str) -> str:
    return next((e.label for e in cfg.entry_numbers if e.id == entry_id), entry_id)


def orgs(cfg: HotlineConfig) -> list[str]:
    return [o.id for o in cfg.organisations]


def serving_orgs(cfg: HotlineConfig, option_id: str) -> list[str]:
    """Organisations in any tier of the option: the only ones that can connect its calls."""
    tiers = cfg.option(option_id).tiers
    orgs_ = list(tiers.primary)
    for tier in (tiers.overflow, tiers.backup):
        if tier is not None:
            orgs_ += [o for o in tier.orgs if o not in orgs_]
    return orgs_


class Closed:
    """Maps any value onto the configured set, so a label can never open a new series."""

    def __init__(self, cfg: HotlineConfig) -> None:
        self.periods = {p.id for p in periods(cfg)}
        self.options = set(option_ids(cfg))
        self.entries = set(entries(cfg))
        self.orgs = set(orgs(cfg))

    def period(self, value: str | None) -> str:
        return value if value in self.periods else NONE

    def option(self, value: str | None) -> str:
        return value if value in self.options else NONE

    def entry(self, value: str | None) -> str:
        return value if value in self.entries else OTHER_ENTRY

    def org(self, value: str | None) -> str:
        return value if value in self.orgs else NONE
