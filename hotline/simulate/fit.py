"""Calibration against the trials, and the least staffing that reaches a target.

The unknowns are line-hours per day for each option (a desk: kept for that option under
`silos`, spread over the option's primary organisations; whole lines around the clock, as
the trials ran, and one more line for some hours spread over the day, so that a few lines
are not forced to whole numbers). Under
`silos` options share no line, so each option's lines are found alone, by bisection on its
own callers (the same people as in the whole run: common random numbers). Under `pooled`
and `bound` options share lines, so the least staffing is found by taking lines away from
the silo answer, option by option, while every option still reaches the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hotline.config import HotlineConfig
from hotline.simulate.demand import Demand
from hotline.simulate.model import SimModel
from hotline.simulate.results import summarise
from hotline.simulate.run import simulate
from hotline.simulate.supply import PlanRow, from_plan

MAX_LINE_HOURS = 24 * 256


def per_hour(line_hours: int) -> tuple[int, ...]:
    """Lines in each hour for this many line-hours a day: the extra hours spread evenly."""
    whole, extra = divmod(line_hours, 24)
    spread = {(i * 24) // extra for i in range(extra)} if extra else set()
    return tuple(whole + (h in spread) for h in range(24))


def desk_plan(cfg: HotlineConfig, line_hours: dict[str, int]) -> list[PlanRow]:
    """Each option's line-hours, spread over its primary organisations hour by hour."""
    rows = []
    for option, m in line_hours.items():
        orgs = cfg.option(option).tiers.primary
        hours = per_hour(m)
        for i, org in enumerate(orgs):
            split = tuple(n // len(orgs) + (i < n % len(orgs)) for n in hours)
            if any(split):
                rows.append(PlanRow(org, option, split))
    return rows


def option_rates(
    cfg: HotlineConfig,
    model: SimModel,
    demand: Demand,
    lines: dict[str, int],
    policy: str,
    seed: int,
) -> dict[str, Any]:
    supply = from_plan(desk_plan(cfg, lines), cfg, "desks per option")
    return summarise(simulate(cfg, model, demand, supply, policy, seed=seed))


def _only(demand: Demand, option: str) -> Demand:
    return replace(demand, callers=[c for c in demand.callers if c.option == option], no_option=0)


def _least(reaches: Callable[[int], bool], hi: int = MAX_LINE_HOURS) -> int:
    """The least n in [0, hi] with reaches(n), assuming it holds from some n on."""
    lo = 0
    if not reaches(hi):
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def silo_lines(
    cfg: HotlineConfig,
    model: SimModel,
    demand: Demand,
    targets: dict[str, float],
    seed: int,
    *,
    nearest: bool,
) -> dict[str, int]:
    """Line-hours per option under silos: the least reaching each target, or the nearest."""
    found = {}
    for option, target in sorted(targets.items()):
        alone = _only(demand, option)

        def rate(n: int, option: str = option, alone: Demand = alone) -> float:
            got = option_rates(cfg, model, alone, {option: n}, "silos", seed)["options"]
            return float(got.get(option, {"answer_rate": 0.0})["answer_rate"])

        def reaches(n: int, rate: Callable[[int], float] = rate, target: float = target) -> bool:
            return rate(n) >= target

        n = _least(reaches)
        if nearest and n > 0 and abs(rate(n - 1) - target) < abs(rate(n) - target):
            n -= 1
        found[option] = n
    return found


def fit(
    cfg: HotlineConfig, model: SimModel, demand: Demand, targets: dict[str, float], seed: int
) -> dict[str, Any]:
    """The silo staffing that gives the published rates, and what each policy does with it
    (with the callers waiting over time, for the chart's lower panel)."""
    lines = silo_lines(cfg, model, demand, targets, seed, nearest=True)
    supply = from_plan(desk_plan(cfg, lines), cfg, "desks per option")
    results = [
        simulate(cfg, model, demand, supply, p, seed=seed) for p in ("silos", "pooled", "bound")
    ]
    return {
        "targets": targets,
        "lines": lines,
        "runs": [summarise(r) for r in results],
        "samples": {r.policy: r.waiting for r in results},
    }


def least_staffing(
    cfg: HotlineConfig, model: SimModel, demand: Demand, target: float, policy: str, seed: int
) -> dict[str, int]:
    """Least line-hours per option so that every option reaches `target`% under `policy`."""
    options = sorted({c.option for c in demand.callers})
    lines = silo_lines(cfg, model, demand, dict.fromkeys(options, target), seed, nearest=False)
    if policy == "silos":
        return lines

    def every_option_reaches(trial: dict[str, int]) -> bool:
        got = option_rates(cfg, model, demand, trial, policy, seed)["options"]
        return all(got.get(o, {"answer_rate": 0.0})["answer_rate"] >= target for o in options)

    if not every_option_reaches(lines):
        return lines  # sharing did not help here: the silo answer stands
    for option in sorted(options, key=lambda o: -lines[o]):
        keep = dict(lines)

        def still(n: int, option: str = option, keep: dict[str, int] = keep) -> bool:
            return every_option_reaches({**keep, option: n})

        lines[option] = _least(still, hi=lines[option])
    return lines
