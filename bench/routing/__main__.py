"""Routing at scale on PostgreSQL: one assignment pass, and the hold under thousands of callers.

Not a test: a script that prints figures. Two parts, each on its own fresh PostgreSQL database
(created, migrated to head and dropped afterwards, as the tests make them):

1. The assignment pass (`Router.assign`), in this process, with --calls waiting calls and
   --lines lines built from config/menus.yaml (its organisations, languages and options, the
   lines multiplied). Each pass runs in a transaction that is rolled back, so every pass
   starts from the same state (the commit is not timed):
     steady state: all lines but 10 talking, 10 free (a few reservations per pass);
     cold start:   every line free (a reservation for nearly every line).
   The pure engine (`engine.assign`) is timed alone on the same calls and lines, and each
   pass is split into its steps (expire, free lines, waiting calls, engine, updates).

2. The hold: `hotline serve` as a subprocess on a free loopback port, every line talking,
   --callers calls waiting. Each simulated caller polls POST /voice/wait signed as Twilio
   signs it, follows the hold's <Redirect>, and waits one hold segment (the <Pause>) before
   the next poll, starting at a random moment of the first segment. A caller that gets an
   error (no answer within Twilio's 15 s, a status other than 200, TwiML that is neither a
   hold nor <Leave>) polls no more: Twilio would send it to the fallback URL. Then a burst:
   every caller polls once, all at the same moment. The load generator is one
   httpx.AsyncClient whose connections are spread over small pools (see ShardedTransport).

    .venv/bin/python -m bench.routing                      # full size, about 90 seconds
    .venv/bin/python -m bench.routing --calls 1000 --lines 100 --callers 200 --duration 10

The parts: assignment.py (the pass) and hold.py (the hold), each with its scenarios.

Targets: one pass p99 < 20 ms (10,000 calls, 1,000 lines), a cold start p50 < 100 ms; hold
p99 < 100 ms with no error while 2,000 callers poll; a freed line's push p99 < 1 s. The
service, PostgreSQL and the load generator share this machine's CPUs, with whatever else runs
on it: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hotline.testing.databases import PG_ADMIN, PostgresUnavailable
from hotline.testing.servers import ServerFailed

from . import assignment, hold, push
from .assignment import STEADY_FREE
from .figures import (
    TARGET_COLD_P50_MS,
    TARGET_HOLD_P99_MS,
    TARGET_PASS_P99_MS,
    TARGET_PUSH_P99_MS,
    spread,
)
from .load import POOL_SIZE, HoldStats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10_000, help="waiting calls in the pass")
    p.add_argument("--lines", type=int, default=1_000, help="lines in the pass")
    p.add_argument("--passes", type=int, default=50, help="timed passes per scenario")
    p.add_argument("--callers", type=int, default=2_000, help="callers polling the hold")
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="seconds of hold polling (default: three segments as answered, at least 30)",
    )
    p.add_argument(
        "--poll-only",
        action="store_true",
        help="the service without a REST account: no pushes, 5 s segments (the baseline)",
    )
    p.add_argument(
        "--tick", type=float, help="the service's HOTLINE_TICK_SECONDS (default: its own, 2 s)"
    )
    p.add_argument("--frees", type=int, default=50, help="lines freed in the push part")
    p.add_argument("--push-callers", type=int, default=200, help="callers holding, push part")
    p.add_argument(
        "--pg",
        default=PG_ADMIN,  # HOTLINE_TEST_PG, as the tests
        help="an admin URL of the PostgreSQL server: databases are made and dropped there",
    )
    p.add_argument("--only", choices=("pass", "hold", "push"), help="run one part only")
    p.add_argument(
        "--pools",
        type=int,
        default=0,
        help=f"connection pools of the load generator (default: one per {POOL_SIZE} callers)",
    )
    p.add_argument("--seed", type=int, default=9999, help="random seed of the waiting calls")
    p.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM (untimed) between rolled-back passes",
    )
    args = p.parse_args(argv)
    if min(args.calls, args.lines, args.passes, args.callers) < 1:
        p.error("--calls, --lines, --passes and --callers must be at least 1")
    if not 0 <= args.duration <= 3600:
        p.error("--duration must be in [0, 3600] seconds")
    if min(args.frees, args.push_callers) < 1:
        p.error("--frees and --push-callers must be at least 1")

    print(f"PostgreSQL at {args.pg.rsplit('@', 1)[-1]}; {os.cpu_count()} CPUs on this machine")
    pass_result = sustained = burst = pushes = None
    try:
        if args.only in (None, "pass"):
            pass_result = assignment.run(args)
        if args.only in (None, "hold"):
            sustained, burst = hold.run(args)
        if args.only in (None, "push"):
            pushes = push.run(args)
    except PostgresUnavailable as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG or --pg)")
    except ServerFailed as e:
        sys.exit(str(e))
    summary(args, pass_result, sustained, burst, pushes)
    return 0


def summary(
    args: argparse.Namespace,
    pass_result: dict[str, Any] | None,
    sustained: HoldStats | None,
    burst: HoldStats | None,
    pushes: push.PushStats | None = None,
) -> None:
    print("\n== summary ==")
    print(f"  {'figure':<64} {'measured':>12}  target")

    def row(label: str, value: float, target: float | None, ok: bool | None = None) -> None:
        if target is None:
            verdict = "(no target)"
        else:
            good = value < target if ok is None else ok
            verdict = f"< {target:.0f} ms: " + ("ok" if good else "MISSED")
        print(f"  {label:<64} {value:>9.2f} ms  {verdict}")

    if pass_result:
        size = f"{args.calls} calls x {args.lines} lines"
        steady, cold = pass_result["steady"], pass_result["cold"]
        target = TARGET_PASS_P99_MS
        row(f"pass p99, steady ({STEADY_FREE} free; {size})", spread(steady.totals)["p99"], target)
        cold_start = f"cold start ({args.lines} free)"
        row(f"pass p50, {cold_start}", spread(cold.totals)["p50"], TARGET_COLD_P50_MS)
        row(f"  pass p99, {cold_start}", spread(cold.totals)["p99"], None)
        engine_steady, engine_cold = pass_result["engine"]
        row(
            f"  pure engine alone, all {args.calls} calls, steady, p99",
            spread(engine_steady[0])["p99"],
            None,
        )
        row(
            f"  pure engine alone, all {args.calls} calls, cold start, p99",
            spread(engine_cold[0])["p99"],
            None,
        )
    if sustained:
        errors = sum(sustained.errors.values())
        p99 = spread(sustained.latencies)["p99"]
        row(
            f"hold p99, {args.callers} callers ({sustained.timeouts} timeouts, {errors} errors)",
            p99,
            TARGET_HOLD_P99_MS,
            p99 < TARGET_HOLD_P99_MS and errors == 0,
        )
    if burst:
        errors = sum(burst.errors.values())
        row(
            f"hold webhook p99, burst of {args.callers} ({errors} errors)",
            spread(burst.latencies)["p99"],
            None,
        )
    if pushes:
        how = "pushed" if pushes.pushed else "poll only"
        row(
            f"line free -> caller sent, p99 ({how}; tick {pushes.tick}; {pushes.missed} missed)",
            spread(pushes.latencies)["p99"],
            TARGET_PUSH_P99_MS,
            spread(pushes.latencies)["p99"] < TARGET_PUSH_P99_MS and not pushes.missed,
        )


if __name__ == "__main__":
    sys.exit(main())
