"""The document of a simulation (what latest.json holds) and its printed form."""

from __future__ import annotations

import re
from typing import Any

from hotline.config import HotlineConfig
from hotline.simulate import fit as fitting
from hotline.simulate.demand import Demand
from hotline.simulate.model import SimModel, load_trials, published_rates
from hotline.simulate.results import summarise, table
from hotline.simulate.run import simulate
from hotline.simulate.supply import Supply


def _head(cfg: HotlineConfig, model: SimModel, demand: Demand, period: str, seed: int) -> dict:
    name = next((p.name for p in cfg.periods if p.id == period), period)
    notes = model.notes()
    notes.update(demand.notes)
    return {
        "period": period,
        "period_name": name,
        "seed": seed,
        "demand": demand.source,
        "callers": len(demand.callers),
        "no_option": demand.no_option,
        "notes": notes,
    }


def runs(
    cfg: HotlineConfig,
    model: SimModel,
    demand: Demand,
    supply: Supply,
    policies: list[str],
    seed: int,
    period: str,
) -> dict[str, Any]:
    """Each policy over the same demand and supply (common random numbers)."""
    doc = _head(cfg, model, demand, period, seed)
    doc["supply"] = supply.source
    results = [simulate(cfg, model, demand, supply, p, seed=seed) for p in policies]
    doc["runs"] = [summarise(r) for r in results]
    doc["samples"] = {r.policy: r.waiting for r in results}
    return doc


def fitted(
    cfg: HotlineConfig, model: SimModel, demand: Demand, period: str, seed: int
) -> dict[str, Any]:
    """The silo staffing that reproduces the published rates, and the other policies with it."""
    trials = load_trials()
    overall = trials[period]["answer_rate"]
    published = published_rates(model, trials, period)
    options = sorted({c.option for c in demand.callers})
    # An option whose rate was not published is fitted to the period's overall rate.
    targets = {o: published.get(o, overall) for o in options}
    found = fitting.fit(cfg, model, demand, targets, seed)
    doc = _head(cfg, model, demand, period, seed)
    doc["supply"] = "fitted desks per option (line-hours a day)"
    doc["published"] = {"answer_rate": overall, "options": published}
    doc["fit"] = {"targets": targets, "line_hours": found["lines"]}
    doc["runs"] = found["runs"]
    doc["samples"] = found["samples"]
    return doc


def text(doc: dict[str, Any]) -> str:
    out = [
        f"{doc['period_name']} ({doc['period']}), seed {doc['seed']}: {doc['demand']}; "
        f"{doc.get('supply', '')}",
        "",
    ]
    out += _calls_line(doc)
    if "fit" in doc:
        out += _fit_lines(doc)
    out.append(table(doc["runs"]))
    if "what_if" in doc:
        w = doc["what_if"]
        out.append(f"least line-hours a day per option to reach {w['target']:.1f}%:")
        for policy, hours in w["line_hours"].items():
            parts = ", ".join(f"{o} {h} ({h / 24:.1f} lines)" for o, h in hours.items())
            out.append(f"  {policy}: {parts}; total {sum(hours.values())}")
        out.append("")
    out.append(f"simulated in {doc.get('seconds', 0):.1f} s (wall clock)")
    return "\n".join(out) + "\n"


def _calls_line(doc: dict[str, Any]) -> list[str]:
    """Why the table's calls are not the header's: the demand gives first calls; redials
    (after giving up) depend on how many each policy puts through, and the published count
    was made with the trials' staffing, not the one simulated here."""
    totals = ", ".join(f"{r['policy']} {r['total']['calls']}" for r in doc["runs"])
    if str(doc["demand"]).startswith("replay"):
        why = "each stored call once"
    else:
        why = (
            f"{doc['callers']} callers' first calls, {doc.get('no_option', 0)} who chose no "
            "option, and the redials of those who gave up: fewer where a policy puts more "
            "through"
        )
    return [f"calls simulated ({why}): {totals}", ""]


def _fit_lines(doc: dict[str, Any]) -> list[str]:
    runs = {r["policy"]: r for r in doc["runs"]}
    hours = doc["fit"]["line_hours"]
    out = ["option          published            line-hours/day   silos  pooled   bound"]
    for option, target in doc["fit"]["targets"].items():
        mark = "" if option in doc["published"]["options"] else " (overall)"
        got = [runs[p]["options"].get(option, {}).get("answer_rate", 0.0) for p in POLICY_ORDER]
        out.append(_fit_row(option, target, mark, hours[option], got))
    got = [runs[p]["total"]["answer_rate"] for p in POLICY_ORDER]
    out.append(_fit_row("total", doc["published"]["answer_rate"], "", sum(hours.values()), got))
    connected = ", ".join(f"{p} {runs[p]['total']['connected']}" for p in POLICY_ORDER)
    out += [f"connected: {connected}", ""]
    return out


def _fit_row(name: str, target: float, mark: str, hours: int, got: list[float]) -> str:
    rates = "".join(f"{r:>7.1f}%" for r in got)
    return f"{name:<15} {target:>8.1f}%{mark:<10} {hours:>6} ({hours / 24:>4.1f} lines){rates}"


POLICY_ORDER = ("silos", "pooled", "bound")


POLICY_JA = {
    "pooled": "プール型（本ルーター）",
    "silos": "選択肢別（試行の方式）",
    "bound": "上限（全回線が全相談）",
}


def in_japanese(doc: dict[str, Any]) -> dict[str, str]:
    """The run's demand and supply as the console says them (the document keeps English,
    as the printout does); anything not recognised is shown as written."""
    demand, supply = str(doc.get("demand", "")), str(doc.get("supply", ""))
    calls = re.search(r"(\d+) calls to reproduce, seed (\d+)", demand)
    stored = re.match(r"replay of the (\d+) stored calls", demand)
    if calls:
        demand = f"試行の公表値から作った呼出（{calls[1]}件を再現、乱数の種 {calls[2]}）"
    elif stored:
        demand = f"保存された{stored[1]}件の呼出の再生"
    plan = re.match(r"staffing plan (.+)", supply)
    supply = {
        "lines of menus.yaml": "menus.yaml の回線",
        "fitted desks per option (line-hours a day)": (
            "公表値に合わせた選択肢別の回線（1日あたりの回線時間）"
        ),
    }.get(supply, f"配置計画 {plan[1]}" if plan else supply)
    return {"demand": demand, "supply": supply}
