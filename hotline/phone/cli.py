"""`hotline call`: runs one or several terminal phones against a running service."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx

from hotline.config import HotlineConfig
from hotline.phone.client import Phone, Script
from hotline.settings import Settings


def dialled_number(cfg: HotlineConfig, to: str) -> str:
    for entry in cfg.entry_numbers:
        if to in {entry.id, entry.label}:
            return entry.numbers[0]
    return to


def _printer(prefix: str) -> Callable[[str], None]:
    def out(line: str) -> None:
        print(f"{prefix}{line}", flush=True)

    return out


async def run_calls(args: argparse.Namespace, settings: Settings, cfg: HotlineConfig) -> int:
    scripted = args.press is not None or not sys.stdin.isatty() or args.callers > 1
    presses = [p for p in (args.press or [])]
    hold = args.hold if args.hold is not None else (3 if scripted and args.callers == 1 else 20)
    base = (args.url or settings.public_base).rstrip("/")
    public = settings.public_url or base  # Twilio signs the URL it was given
    modes = itertools.cycle(args.counsellor.split(","))  # shared: each ringing line in turn
    speed = args.speed if args.speed is not None else (1.0 if args.callers > 1 else 0.0)
    async with httpx.AsyncClient(timeout=20) as client:
        phones = [
            Phone(
                client,
                base_url=base,
                public_url=public,
                token=settings.auth_token,
                caller=_caller(args.caller, i, args.callers),
                to=dialled_number(cfg, args.to),
                script=Script(
                    presses=list(presses),
                    interactive=not scripted,
                    hold_segments=hold,
                    counsellors=modes,
                    speed=speed,
                    talk_seconds=args.talk,
                ),
                out=_printer(f"caller {i + 1}: " if args.callers > 1 else ""),
            )
            for i in range(args.callers)
        ]
        try:
            if args.fallback:
                outcomes = [await _fallback(p) for p in phones]
            else:
                outcomes = await asyncio.gather(*(p.run() for p in phones))
        except httpx.HTTPError as e:
            print(f"hotline call: cannot reach the service at {base}: {e}", file=sys.stderr)
            return 1
    connected = sum(o == "connected to a counsellor" for o in outcomes)
    print(f"[summary] {len(outcomes)} call(s), {connected} connected to a counsellor")
    return 0


def _caller(base: str, i: int, n: int) -> str:
    if n == 1 or not base.startswith("+"):
        return base
    return f"{base[:-4]}{(int(base[-4:]) + i) % 10000:04d}"


async def _fallback(phone: Phone) -> str:
    """What a caller hears when Twilio cannot reach the primary webhook."""
    doc: ET.Element | None = await phone.fetch(
        "/voice/fallback", {"ErrorCode": "11205", "ErrorUrl": "/voice/incoming"}
    )
    while doc is not None:
        doc = await phone.execute(doc)
    return phone.outcome
