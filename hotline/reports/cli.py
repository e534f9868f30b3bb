"""`hotline report`: a trial period's published table, from the stored calls."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from hotline.config import HotlineConfig
from hotline.db import SchemaNotAtHead, check_at_head, make_engine, session_factory
from hotline.reports.chart import LANGS, MISSING
from hotline.reports.chart import available as chart_available
from hotline.startup import settings_and_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this room's subcommands to the `hotline` parser."""
    r = sub.add_parser(
        "report",
        help="a period's calls, connected and answer rates (応答率), from the stored calls",
        description="Figures as defined in docs/metrics.md; periods are those of menus.yaml, "
        "and `none` holds the calls outside every period.",
    )
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--period", help="a period id from menus.yaml (e.g. period_5), or none")
    which.add_argument("--all", action="store_true", help="every period side by side")
    r.add_argument("--format", choices=["table", "csv", "json"], default="table")
    r.add_argument("--chart", type=Path, help="also write the period's chart to this PNG file")
    r.add_argument(
        "--lang",
        choices=LANGS,
        default="ja",
        help="labels of the chart: Japanese (default) or English with option ids",
    )
    r.set_defaults(func=cmd_report)
    t = sub.add_parser(
        "tallies",
        help="add the ended calls up for the reports (they also catch up as they are read)",
        description="The reports read ended calls from per-day tallies; this tallies the calls "
        "ended since the last read, or with --rebuild, empties them and tallies every call again.",
    )
    t.add_argument("--rebuild", action="store_true", help="start again from the calls table")
    t.set_defaults(func=cmd_tallies)


def cmd_report(args: argparse.Namespace) -> int:
    settings, cfg = settings_and_config()
    if args.chart and args.all:
        sys.exit("hotline report: --chart goes with --period (one chart per period)")
    if args.chart and not chart_available():
        sys.exit(f"hotline report: {MISSING}")
    return asyncio.run(_run(args, settings.database_url, cfg))


async def _run(args: argparse.Namespace, url: str, cfg: HotlineConfig) -> int:
    from hotline.reports import render, report, tallies

    engine = make_engine(url)
    try:
        await check_at_head(engine)
        sessions = session_factory(engine)
        await tallies.catch_up(sessions)
        async with sessions() as session:
            if args.all:
                reports = await report.build_all(session, cfg)
            else:
                reports = [await report.build(session, cfg, args.period, sessions=sessions)]
    except SchemaNotAtHead as e:
        print(f"hotline report: {e}", file=sys.stderr)
        return 1
    except report.UnknownPeriod as e:
        print(f"hotline report: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if args.format == "json":
        sys.stdout.write(render.to_json(reports if args.all else reports[0]))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(reports))
    else:
        sys.stdout.write(render.table_all(reports) if args.all else render.table(reports[0]))
    if args.chart:
        _write_chart(args.chart, reports[0], args.lang)
    return 0


def _write_chart(path: Path, data: dict[str, Any], lang: str) -> None:
    from hotline.reports import chart

    path.write_bytes(chart.png(data, lang))
    print(f"chart written to {path}", file=sys.stderr)


def cmd_tallies(args: argparse.Namespace) -> int:
    settings, _ = settings_and_config()
    return asyncio.run(_tally(settings.database_url, rebuild=args.rebuild))


async def _tally(url: str, *, rebuild: bool) -> int:
    from hotline.reports import tallies

    engine = make_engine(url)
    try:
        await check_at_head(engine)
        sessions = session_factory(engine)
        run = tallies.rebuild if rebuild else tallies.catch_up
        n = await run(sessions)
    except SchemaNotAtHead as e:
        print(f"hotline tallies: {e}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"tallied {n:,} ended calls" + (" (rebuilt)" if rebuild else ""))
    return 0
