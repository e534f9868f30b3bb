"""Who answers: the lines of menus.yaml or an operator's staffing plan, and the policies.

A policy is a routing table for the real engine and the organisation each line shows it:

- `pooled`: this router, the table `hotline.routing.store.routing_table` builds from config;
- `silos`: each option only its primary organisations, as the trials ran; a plan's line
  given to one option (its `desk`) serves that option alone;
- `bound`: every staffed line may take any caller (work-conserving bound).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hotline.config import TOKYO, HotlineConfig
from hotline.hours.schedule import scheduled
from hotline.routing import engine
from hotline.routing.store import routing_table

POLICIES = ("pooled", "silos", "bound")
ANY = "*"  # the bound's one organisation: every line


@dataclass(frozen=True, slots=True)
class SimLine:
    line_id: str
    org: str
    languages: frozenset[str]
    # Whether the line is staffed at a moment (Asia/Tokyo).
    on_duty: Callable[[dt.datetime], bool]
    desk: str | None = None  # a plan's line kept for one option under `silos`

    def org_for(self, policy: str) -> str:
        if policy == "bound":
            return ANY
        if policy == "silos" and self.desk is not None:
            return desk_org(self.org, self.desk)
        return self.org


@dataclass(frozen=True, slots=True)
class Supply:
    lines: list[SimLine]
    # Times of day (Asia/Tokyo) at which some line's duty may change.
    changes: tuple[dt.time, ...]
    source: str


def desk_org(org: str, option: str) -> str:
    return f"{org}/{option}"


def _always(_: dt.datetime) -> bool:
    return True


def _in_hours(hours: frozenset[int], now: dt.datetime) -> bool:
    return now.astimezone(TOKYO).hour in hours


def from_config(cfg: HotlineConfig) -> Supply:
    """The configured lines, staffed by their `hours` as the service reads them."""
    lines: list[SimLine] = []
    changes: set[dt.time] = set()
    for org, line in cfg.lines():
        hours = line.hours if line.hours is not None else org.hours
        langs = frozenset(line.languages or org.languages)
        if hours == "24h":
            lines.append(SimLine(line.id, org.id, langs, _always))
            continue
        changes.update(t for w in hours for t in (w.start, w.end))
        lines.append(SimLine(line.id, org.id, langs, functools.partial(scheduled, org, line)))
    return Supply(lines, tuple(sorted(changes)), "lines of menus.yaml")


@dataclass(frozen=True, slots=True)
class PlanRow:
    org: str
    desk: str | None
    per_hour: tuple[int, ...]  # staffed lines in each hour 0-23, Asia/Tokyo


def read_plan(text: str, cfg: HotlineConfig) -> list[PlanRow]:
    """A staffing plan: `org,option,00,...,23` (option may be empty); one row per org/desk."""
    rows = []
    orgs = {o.id for o in cfg.organisations}
    options = {o.id for o in cfg.options}
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        org, desk = (row.get("org") or "").strip(), (row.get("option") or "").strip() or None
        if org not in orgs:
            raise ValueError(f"staffing plan line {n}: unknown organisation {org!r}")
        if desk is not None and desk not in options:
            raise ValueError(f"staffing plan line {n}: unknown option {desk!r}")
        try:
            per_hour = tuple(int(row[f"{h:02d}"] or 0) for h in range(24))
        except (KeyError, ValueError):
            raise ValueError(
                f"staffing plan line {n}: give whole numbers of lines in columns 00 to 23"
            ) from None
        if min(per_hour) < 0:
            raise ValueError(f"staffing plan line {n}: a negative number of lines")
        rows.append(PlanRow(org, desk, per_hour))
    return rows


def write_plan(rows: Iterable[PlanRow]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["org", "option", *(f"{h:02d}" for h in range(24))])
    for r in rows:
        w.writerow([r.org, r.desk or "", *r.per_hour])
    return out.getvalue()


def from_plan(rows: list[PlanRow], cfg: HotlineConfig, source: str = "staffing plan") -> Supply:
    """Line k of a row is staffed in the hours that have more than k lines."""
    lines = []
    for r in rows:
        org = cfg.org(r.org)
        stem = f"{r.org}-{r.desk}" if r.desk else r.org
        for k in range(max(r.per_hour, default=0)):
            hours = frozenset(h for h in range(24) if r.per_hour[h] > k)

            def duty(now: dt.datetime, hours=hours) -> bool:
                return now.astimezone(TOKYO).hour in hours

            lines.append(
                SimLine(f"{stem}-{k + 1:02d}", org.id, frozenset(org.languages), duty, r.desk)
            )
    return Supply(lines, tuple(dt.time(h) for h in range(24)), source)


def table_for(
    cfg: HotlineConfig, policy: str, lines: list[SimLine]
) -> dict[str, engine.OptionRouting]:
    """The routing table the engine gets under a policy."""
    pooled = routing_table(cfg)  # the service's own table
    if policy == "pooled":
        return pooled
    if policy == "bound":
        every = engine.TierRule(0, 0, frozenset({ANY}), require_language=False)
        return {k: engine.OptionRouting(k, o.priority, (every,)) for k, o in pooled.items()}
    if policy != "silos":
        raise ValueError(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")
    desks = {(ln.org, ln.desk) for ln in lines if ln.desk is not None}
    return {k: _silo(o, desks) for k, o in pooled.items()}


def _silo(option: engine.OptionRouting, desks: set[tuple[str, str]]) -> engine.OptionRouting:
    primary = next(t for t in option.tiers if t.level == 0)
    own = {desk_org(org, option.option) for org, d in desks if d == option.option}
    # Desks of the option's own organisations only: a desk elsewhere is not a primary partner.
    own = {o for o in own if o.split("/", 1)[0] in primary.orgs}
    tier = engine.TierRule(0, 0, primary.orgs | own, primary.require_language)
    return engine.OptionRouting(option.option, option.priority, (tier,))


def may_serve(option: engine.OptionRouting, line: SimLine, policy: str, language: str) -> bool:
    org = line.org_for(policy)
    return any(
        org in t.orgs and (not t.require_language or language in line.languages)
        for t in option.tiers
    )
