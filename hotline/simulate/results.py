"""A run's figures, as the reports define them (docs/metrics.md), and their table, CSV, JSON.

Per option: calls (attempts), connected, answer rate per attempt and per unique caller
((caller, Tokyo day) pairs with a connected attempt / all pairs), abandoned, closed, wait
p50/p90 of connected calls; per organisation: line utilisation (busy / staffed time, busy
counting ring, conversation and wrap-up).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from typing import Any

import numpy as np

from hotline.simulate.model import NO_OPTION
from hotline.simulate.run import RunResult

TOTAL = "total"


def rate(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def summarise(result: RunResult) -> dict[str, Any]:
    """The figures of one run, JSON-ready."""
    by_option: dict[str, list] = defaultdict(list)
    for a in result.attempts:
        by_option[a.caller.option].append(a)
    options = {k: _option(v) for k, v in sorted(by_option.items())}
    if result.no_option:
        options[NO_OPTION] = _empty(result.no_option, result.no_option_people)
    total = _option([a for v in by_option.values() for a in v])
    total["calls"] += result.no_option
    total["people"] += result.no_option_people
    total["answer_rate"] = rate(total["connected"], total["calls"])
    total["answer_rate_people"] = rate(total["people_connected"], total["people"])
    utilisation = {
        org: round(100 * result.busy[org] / s, 1) if s else 0.0
        for org, s in sorted(result.staffed.items())
    }
    return {
        "policy": result.policy,
        "options": options,
        TOTAL: total,
        "utilisation": utilisation,
        "staffed_hours": {k: round(v / 3600, 1) for k, v in sorted(result.staffed.items())},
    }


def _option(attempts: list) -> dict[str, Any]:
    connected = [a for a in attempts if a.outcome == "connected"]
    pairs, helped = set(), set()
    for a in attempts:
        # Periods start at a Tokyo midnight, so whole days from the start are Tokyo days.
        key = (a.caller.person, int(a.arrival // 86400))
        pairs.add(key)
        if a.outcome == "connected":
            helped.add(key)
    waits = np.array([a.wait for a in connected]) if connected else np.zeros(1)
    return {
        "calls": len(attempts),
        "connected": len(connected),
        "answer_rate": rate(len(connected), len(attempts)),
        "people": len(pairs),
        "people_connected": len(helped),
        "answer_rate_people": rate(len(helped), len(pairs)),
        "abandoned": sum(1 for a in attempts if a.outcome == "abandoned"),
        "closed": sum(1 for a in attempts if a.outcome == "closed"),
        "wait_p50": round(float(np.percentile(waits, 50)), 1),
        "wait_p90": round(float(np.percentile(waits, 90)), 1),
    }


def _empty(calls: int, people: int) -> dict[str, Any]:
    return {
        "calls": calls,
        "connected": 0,
        "answer_rate": 0.0,
        "people": people,
        "people_connected": 0,
        "answer_rate_people": 0.0,
        "abandoned": 0,
        "closed": 0,
        "wait_p50": 0.0,
        "wait_p90": 0.0,
    }


COLUMNS = (
    "calls",
    "connected",
    "answer_rate",
    "answer_rate_people",
    "abandoned",
    "closed",
    "wait_p50",
    "wait_p90",
)
HEAD = ("policy", "option", *COLUMNS)


def rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for run in runs:
        for option, f in [*run["options"].items(), (TOTAL, run[TOTAL])]:
            out.append([run["policy"], option, *(f[c] for c in COLUMNS)])
    return out


def table(runs: list[dict[str, Any]]) -> str:
    """A plain-text table: options under each policy, then line utilisation."""
    body = [[str(x) for x in r] for r in rows(runs)]
    head = [
        "policy",
        "option",
        "calls",
        "conn",
        "rate%",
        "people%",
        "aband",
        "closed",
        "p50s",
        "p90s",
    ]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), *(fmt.format(*r) for r in body), ""]
    orgs = sorted({o for run in runs for o in run["utilisation"]})
    lines.append("line utilisation (%): " + "  ".join(run["policy"] for run in runs))
    for org in orgs:
        vals = "  ".join(f"{run['utilisation'].get(org, 0.0):>5.1f}" for run in runs)
        lines.append(f"  {org:<24} {vals}")
    return "\n".join(lines) + "\n"


def to_csv(runs: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEAD)
    w.writerows(rows(runs))
    return out.getvalue()


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
