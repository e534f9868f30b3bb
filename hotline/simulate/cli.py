"""`hotline simulate`: a period under policies side by side, a fit to the trials, a what-if."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.config import HotlineConfig
from hotline.reports.chart import LANGS, MISSING, available
from hotline.simulate import LATEST_DIR
from hotline.simulate.supply import POLICIES, Supply

if TYPE_CHECKING:  # numpy, which demand needs, is imported only when a simulation runs
    from hotline.simulate.demand import Demand
    from hotline.simulate.model import SimModel


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this room's subcommand to the `hotline` parser."""
    s = sub.add_parser(
        "simulate",
        help="capacity simulation of a period on the real routing engine: answer rates per "
        "option under pooled routing, per-option silos and the work-conserving bound",
        description="Demand: synthetic from the published figures (trials.yaml) or the stored "
        "calls (--replay). Supply: the lines of menus.yaml or a staffing plan (--plan). "
        "Assumptions: model.yaml of hotline.simulate, or --model.",
    )
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--period", help="a period id of menus.yaml, e.g. year_end_2022")
    which.add_argument(
        "--fit",
        metavar="PERIOD",
        help="find the silo staffing that gives the period's published answer rates, and "
        "what pooled routing gives with the same counsellors",
    )
    s.add_argument("--policy", action="append", choices=POLICIES, help="repeat; default: all three")
    s.add_argument("--replay", action="store_true", help="the period's stored calls as demand")
    s.add_argument("--calls", type=int, help="attempts in the period (default: as published)")
    s.add_argument("--plan", type=Path, help="staffing plan CSV: org,option,00,...,23")
    s.add_argument(
        "--write-plan",
        type=Path,
        metavar="CSV",
        help="write the staffing of menus.yaml on the period's first day as a plan to edit, "
        "and stop",
    )
    s.add_argument("--model", type=Path, help="assumptions file (default: the shipped one)")
    s.add_argument(
        "--target",
        type=float,
        help="what-if: the least line-hours per option that reach this answer rate (%%)",
    )
    s.add_argument("--seed", type=int, default=1, help="same seed, same result (default 1)")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.add_argument(
        "--out",
        type=Path,
        default=LATEST_DIR,
        help=f"folder for latest.json, latest.csv and latest.png (default {LATEST_DIR})",
    )
    s.add_argument("--lang", choices=LANGS, default="ja", help="chart labels (default ja)")
    s.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from hotline.startup import settings_and_config

    settings, cfg = settings_and_config()
    if args.write_plan:
        return _write_plan(args.write_plan, cfg, args.fit or args.period)
    started = time.perf_counter()
    try:
        doc = _document(args, cfg, settings.database_url)
    except (KeyError, ValueError) as e:
        sys.exit(f"hotline simulate: {e.args[0] if e.args else e}")
    doc["seconds"] = round(time.perf_counter() - started, 2)
    _write(args, cfg, doc)
    return 0


def _document(args: argparse.Namespace, cfg: HotlineConfig, url: str) -> dict[str, Any]:
    from hotline.simulate import fit, model, report

    sim_model = model.load_model(args.model)
    period = args.fit or args.period
    demand = _demand(args, cfg, sim_model, period, url)
    policies = args.policy or list(POLICIES)
    if args.fit:
        return report.fitted(cfg, sim_model, demand, period, args.seed)
    doc = report.runs(cfg, sim_model, demand, _supply(args, cfg), policies, args.seed, period)
    if args.target is not None:
        doc["what_if"] = {
            "target": args.target,
            "line_hours": {
                p: fit.least_staffing(cfg, sim_model, demand, args.target, p, args.seed)
                for p in policies
            },
        }
    return doc


def _demand(
    args: argparse.Namespace, cfg: HotlineConfig, sim_model: SimModel, period: str, url: str
) -> Demand:
    from hotline.simulate import demand, model

    if args.replay:
        return asyncio.run(_replayed(cfg, period, url))  # the one step that needs the database
    trials = model.load_trials()
    if period not in trials or not trials[period].get("calls"):
        raise KeyError(f"trials.yaml publishes no calls for {period!r}; use --replay")
    t = trials[period]
    return demand.synthetic(
        cfg,
        sim_model,
        period_id=period,
        calls=args.calls or t["calls"],
        rates=model.published_rates(sim_model, trials, period),
        overall=t["answer_rate"],
        seed=args.seed,
    )


async def _replayed(cfg: HotlineConfig, period: str, url: str) -> Demand:
    from hotline.db import check_at_head, make_engine, session_factory
    from hotline.simulate import demand, store

    start, end = demand.period_bounds(cfg, period)
    engine = make_engine(url)
    try:
        await check_at_head(engine)
        async with session_factory(engine)() as session:
            rows = await store.period_calls(session, period)
    finally:
        await engine.dispose()
    return demand.replayed(rows, start, end, f"replay of the {len(rows)} stored calls of {period}")


def _supply(args: argparse.Namespace, cfg: HotlineConfig) -> Supply:
    from hotline.simulate import supply

    if args.plan is None:
        return supply.from_config(cfg)
    rows = supply.read_plan(args.plan.read_text(encoding="utf-8"), cfg)
    return supply.from_plan(rows, cfg, f"staffing plan {args.plan}")


def _write_plan(path: Path, cfg: HotlineConfig, period: str) -> int:
    import datetime as dt

    from hotline.simulate import demand, supply

    try:
        start, _ = demand.period_bounds(cfg, period)
    except KeyError as e:
        sys.exit(f"hotline simulate: {e.args[0]}")
    lines = supply.from_config(cfg).lines
    hours = [start + dt.timedelta(hours=h) for h in range(24)]
    orgs = dict.fromkeys(line.org for line in lines)
    rows = [
        supply.PlanRow(
            org, None, tuple(sum(ln.org == org and ln.on_duty(t) for ln in lines) for t in hours)
        )
        for org in orgs
    ]
    path.write_text(supply.write_plan(rows), encoding="utf-8")
    print(f"staffing of menus.yaml on {start.date()} written to {path}", file=sys.stderr)
    return 0


def _write(args: argparse.Namespace, cfg: HotlineConfig, doc: dict[str, Any]) -> None:
    from hotline.simulate import chart, report, results

    runs = doc["runs"]
    if args.format == "json":
        sys.stdout.write(results.to_json(doc))
    elif args.format == "csv":
        sys.stdout.write(results.to_csv(runs))
    else:
        sys.stdout.write(report.text(doc))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(results.to_json(doc), encoding="utf-8")
    (out / "latest.csv").write_text(results.to_csv(runs), encoding="utf-8")
    names = {o.id: o.name for o in cfg.options}
    written = "latest.json, latest.csv"
    if available():
        (out / "latest.png").write_bytes(chart.png(doc, names, args.lang))
        written += ", latest.png"
    else:  # the figures without their chart: say so in one line, how to add it
        (out / "latest.png").unlink(missing_ok=True)  # an older run's chart is not this one's
    sys.stdout.flush()
    print(f"written to {out}/{written}", file=sys.stderr)
    if not available():
        print(f"hotline simulate: no latest.png: {MISSING}", file=sys.stderr)
