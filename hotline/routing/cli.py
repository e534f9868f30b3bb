"""`hotline calls end CALL_SID` and `hotline lines free LINE_ID`: an operator's hand on a call
whose end was never heard (audited as the console user running the command)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from hotline.common.audit import Actor
from hotline.db import make_engine, session_factory
from hotline.errors import NotFound
from hotline.routing import operator
from hotline.routing.store import Router
from hotline.startup import settings_and_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("calls", help="calls: end one by hand")
    cs = c.add_subparsers(dest="calls_command", required=True)
    end = cs.add_parser("end", help="end a call now (its line is freed and offered again)")
    end.add_argument("call_sid")
    end.set_defaults(func=lambda a: _run(a, "end"))
    lines = sub.add_parser("lines", help="lines: free one by hand")
    ls = lines.add_subparsers(dest="lines_command", required=True)
    free = ls.add_parser("free", help="free a line: end the call that holds it")
    free.add_argument("line_id")
    free.set_defaults(func=lambda a: _run(a, "free"))


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
            if what == "end":
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
