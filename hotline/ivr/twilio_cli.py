"""`hotline twilio setup`: every option's Twilio queue created or updated with its MaxSize.

The same runs at start-up (`hotline.ivr.queues.set_up_at_start`); the command is for an
operator who changed `hold.queue_max_size` or the options, or wants to see the queues. It
prints each queue's name, SID, MaxSize and what was done; never a credential."""

from __future__ import annotations

import argparse
import asyncio
import sys

from hotline.ivr import queues
from hotline.ivr.rest import QUEUE_MAX_SIZE, TwilioFailure
from hotline.ivr.upkeep import rest_client
from hotline.startup import settings_and_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("twilio", help="Twilio's account: set up the options' queues")
    ts = t.add_subparsers(dest="twilio_command", required=True)
    s = ts.add_parser(
        "setup",
        help="create or update every option's queue with hold.queue_max_size (idempotent)",
    )
    s.set_defaults(func=lambda a: asyncio.run(_setup()))


async def _setup() -> int:
    settings, cfg = settings_and_config()
    rest = rest_client(settings)
    if rest is None:
        print(
            "hotline: TWILIO_ACCOUNT_SID is not set: no Twilio account to set up", file=sys.stderr
        )
        return 2
    if not rest.pushes:  # development without an account: its own stand-in holds no queue
        size = max(1, min(cfg.hold.queue_max_size, QUEUE_MAX_SIZE))
        for name in queues.option_queues(cfg):
            print(f"{name}\tMaxSize {size}\tnot set up: no Twilio account (development)")
        return 0
    try:
        done = await queues.set_up(cfg, rest)
    except TwilioFailure as e:
        print(f"hotline: Twilio did not set the queues up: {e}", file=sys.stderr)
        return 1
    finally:
        await rest.aclose()
    for q in done:
        print(f"{q.name}\t{q.sid}\tMaxSize {q.max_size}\t{q.done}")
    return 0
