"""`hotline calls end CALL_SID` and `hotline lines free LINE_ID`: an operator's hand on a call
whose end was never heard (audited as the console user running the command). `hotline lines
ready --missed` (or LINE_ID...): lines back to ready, as their counsellors would sign in
again, after the missed offers that put them away (the terminal phone's `--counsellor refuse`
or `silent` does that to most lines)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.common.audit import Actor
from hotline.db import make_engine, session_factory
from hotline.errors import NotFound
from hotline.lines.lines import change_status
from hotline.lines.models import AwayReason, Line, Presence
from hotline.routing import operator
from hotline.routing.store import Router
from hotline.startup import settings_and_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("calls", help="calls: end one by hand")
    cs = c.add_subparsers(dest="calls_command", required=True)
    end = cs.add_parser("end", help="end a call now (its line is freed and offered again)")
    end.add_argument("call_sid")
    end.set_defaults(func=lambda a: _run(a, "end"))
    lines = sub.add_parser("lines", help="lines: free one by hand, or make lines ready again")
    ls = lines.add_subparsers(dest="lines_command", required=True)
    free = ls.add_parser("free", help="free a line: end the call that holds it")
    free.add_argument("line_id")
    free.set_defaults(func=lambda a: _run(a, "free"))
    ready = ls.add_parser(
        "ready", help="make lines ready again (as their counsellors signing in would)"
    )
    ready.add_argument("line_ids", nargs="*", metavar="LINE_ID")
    ready.add_argument("--missed", action="store_true", help="every line away after missed calls")
    ready.set_defaults(func=lambda a: _run(a, "ready"))


def _run(args: argparse.Namespace, what: str) -> int:
    return asyncio.run(_act(args, what))


async def _act(args: argparse.Namespace, what: str) -> int:
    settings, cfg = settings_and_config()
    engine = make_engine(settings.database_url)
    router = Router(
        cfg,
        reservation_timeout=settings.reservation_timeout_seconds,
        cooldown=settings.line_cooldown_seconds,
    )
    now, who = dt.datetime.now(dt.UTC), Actor.console()
    try:
        async with session_factory(engine).begin() as session:
            if what == "ready":
                await _ready(session, router, args, now)
            elif what == "end":
                state = await operator.end_call(
                    session, router, call_sid=args.call_sid, who=who, now=now
                )
                print(f"call {args.call_sid}: {state}")
            else:
                sid = await operator.free_line(
                    session, router, line_id=args.line_id, who=who, now=now
                )
                print(f"line {args.line_id}: free" + (f" (call {sid} ended)" if sid else ""))
    except NotFound as e:
        print(f"hotline: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 0


async def _ready(
    session: AsyncSession, router: Router, args: argparse.Namespace, now: dt.datetime
) -> None:
    """Each named line (and with --missed, each line away after missed calls) to ready."""
    ids = list(args.line_ids)
    if args.missed:
        away = select(Line.id).where(
            Line.status == Presence.AWAY, Line.away_reason == AwayReason.MISSED
        )
        found = set((await session.execute(away)).scalars())
        ids += [i for i in router.lines if i in found and i not in ids]  # config order
    if not ids:
        print("no line to make ready (name lines, or --missed: none is away after missed calls)")
    for line_id in ids:
        view = await change_status(
            session, router, line_id=line_id, status=Presence.READY, org_id=None, now=now
        )
        print(f"line {line_id}: {view.presence}")
