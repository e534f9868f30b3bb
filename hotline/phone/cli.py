"""`hotline call`: runs one or several terminal phones against a running service."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hotline.config import HotlineConfig
from hotline.phone.callback import (
    MACHINE_HEARD_NOTHING,
    NoStandIn,
    NotPlaced,
    PlacedCalls,
    callback_loop,
)
from hotline.phone.client import CallEnded, Phone, Script
from hotline.phone.console import GivenKey, Keys
from hotline.phone.plans import Plan, check, describe
from hotline.phone.scenes import Console
from hotline.settings import DEV_ACCOUNT_SID, Settings


def dialled_number(cfg: HotlineConfig, to: str) -> str:
    for entry in cfg.entry_numbers:
        if to in {entry.id, entry.label}:
            return entry.numbers[0]
    return to


def _printer(prefix: str) -> Callable[[str], None]:
    def out(line: str) -> None:
        print(f"{prefix}{line}", flush=True)

    return out


async def run_calls(
    args: argparse.Namespace, settings: Settings, cfg: HotlineConfig, keys: Keys | None = None
) -> int:
    if getattr(args, "callback", False):
        return await run_callback(args, settings, cfg)
    plan: Plan | None = getattr(args, "transfer", None) or getattr(args, "supervise", None)
    if plan is not None:
        return await run_console_call(args, settings, cfg, plan, keys)
    return await run_phones(args, settings, cfg)


async def run_phones(args: argparse.Namespace, settings: Settings, cfg: HotlineConfig) -> int:
    """One or several callers, each as far as the script takes them."""
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
                    music_seconds=cfg.hold.music_seconds,
                ),
                out=_printer(f"caller {i + 1}: " if args.callers > 1 else ""),
            )
            for i in range(args.callers)
        ]
        # With several callers, watch the lines go through ringing, talking, wrap-up, ready.
        calls_over = asyncio.Event()
        watcher = (
            asyncio.create_task(watch_lines(client, base, _printer("[lines] "), calls_over))
            if args.callers > 1 and not args.fallback
            else None
        )
        try:
            if args.fallback:
                outcomes = [await _fallback(p) for p in phones]
            else:
                outcomes = await asyncio.gather(*(p.run() for p in phones))
            if watcher is not None and getattr(args, "watch_wrap_up", False):
                print("[lines] the calls are over; watching until every wrap-up has ended")
                calls_over.set()
                await asyncio.wait_for(asyncio.shield(watcher), timeout=WATCH_AT_MOST)
        except httpx.HTTPError as e:
            print(f"hotline call: cannot reach the service at {base}: {e}", file=sys.stderr)
            return 1
        finally:
            if watcher is not None:
                watcher.cancel()
    connected = sum(o == "connected to a counsellor" for o in outcomes)
    print(f"[summary] {len(outcomes)} call(s), {connected} connected to a counsellor")
    return 0


STAND_IN_ONLY = (
    "hotline call {flag}: the service at {base} places its calls through a Twilio account "
    "of its own, not its development stand-in: the terminal phone cannot answer them (start "
    "it with HOTLINE_ENV=development and no TWILIO_ACCOUNT_SID)"
)
SHOWN = ("ready", "reserved", "ringing", "talking", "wrap_up", "away")
BUSY = ("reserved", "ringing", "talking", "wrap_up")
WATCH_AT_MOST = 900.0  # seconds after the calls; longer than any wrap-up may be extended


async def watch_lines(
    client: httpx.AsyncClient,
    base: str,
    out: Callable[[str], None],
    calls_over: asyncio.Event | None = None,
    every: float = 0.5,
) -> None:
    """Print each organisation's lines by presence whenever they change, from /metrics
    (`hotline_lines_presence`): what a supervisor would watch on the dashboard. Returns
    once `calls_over` is set and no line is busy or in wrap-up any more."""
    last: dict[str, str] = {}
    while True:
        counts: dict[str, dict[str, int]] = {}
        try:
            text = (await client.get(f"{base}/metrics")).text
            for family in text_string_to_metric_families(text):
                if family.name != "hotline_lines_presence":
                    continue
                for sample in family.samples:
                    org, state = sample.labels["org"], sample.labels["presence"]
                    counts.setdefault(org, {})[state] = int(sample.value)
            for org, by_state in sorted(counts.items()):
                if not any(by_state.get(s, 0) for s in SHOWN[1:]) and org not in last:
                    continue  # idle all along: not worth a line on the screen
                summary = ", ".join(f"{s} {by_state.get(s, 0)}" for s in SHOWN if by_state.get(s))
                if last.get(org) != summary:
                    last[org] = summary
                    out(f"{org}: {summary or 'offline'}")
        except (httpx.HTTPError, ValueError):
            pass  # the next look may work; the calls go on regardless
        busy = any(by.get(s, 0) for by in counts.values() for s in BUSY)
        if calls_over is not None and calls_over.is_set() and counts and not busy:
            return
        await asyncio.sleep(every)  # a display's refresh, in real time


def _caller(base: str, i: int, n: int) -> str:
    if n == 1 or not base.startswith("+"):
        return base
    return f"{base[:-4]}{(int(base[-4:]) + i) % 10000:04d}"


async def _fallback(phone: Phone) -> str:
    """What a caller hears when Twilio cannot reach the primary webhook."""
    doc: ET.Element | None = await phone.fetch(
        "/voice/fallback", {"ErrorCode": "11205", "ErrorUrl": "/voice/incoming"}
    )
    try:
        while doc is not None:
            doc = await phone.execute(doc)
    except CallEnded:
        pass
    return phone.settle()  # the backup organisation's counsellor accepted: connected


async def run_callback(args: argparse.Namespace, settings: Settings, cfg: HotlineConfig) -> int:
    """One caller asks for a callback; the phone answers the calls the service places through
    its own stand-in of Twilio's REST API (see hotline.phone.callback)."""
    base = (args.url or settings.public_base).rstrip("/")
    out = _printer("")
    keys = [cfg.callback.key, cfg.callback.confirm_key]
    script = Script(
        presses=list(args.press or ["8"]),
        hold_segments=args.hold if args.hold is not None else 20,
        hold_presses=keys,
    )
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            api = PlacedCalls(client, base, DEV_ACCOUNT_SID, settings.auth_token)
            await api.all()  # before the caller dials: is there a stand-in to read?
            phone = Phone(
                client,
                base_url=base,
                public_url=settings.public_url or base,
                token=settings.auth_token,
                caller=args.caller,
                to=dialled_number(cfg, args.to),
                script=script,
                out=out,
            )
            await phone.run()
            if script.hold_presses:
                print("[summary] the hold never offered a callback (is a line free?)")
                return 1
            try:
                outcome = await callback_loop(
                    phone, api, args.callback_miss, out, args.callback_answered_by
                )
            except NotPlaced:
                print("[summary] the hotline placed no call in time: is every line busy?")
                return 1
    except NoStandIn:
        print(STAND_IN_ONLY.format(base=base, flag="--callback"), file=sys.stderr)
        return 2
    except httpx.HTTPError as e:
        print(f"hotline call: cannot reach the service at {base}: {e}", file=sys.stderr)
        return 1
    print(f"[summary] {outcome}")
    # What the phone set out to show: the caller joined, or a machine that heard nothing.
    return 0 if outcome in {"callback connected", MACHINE_HEARD_NOTHING} else 1


def _not_with(args: argparse.Namespace) -> str | None:
    """What `--transfer` and `--supervise` cannot be played with."""
    if args.callback or args.fallback:
        return "--transfer and --supervise play a call put through to a counsellor, not " + (
            "--callback" if args.callback else "--fallback"
        )
    if args.callers > 1:
        return "--transfer and --supervise play one caller's call: leave out --callers"
    return None


def _console_script(args: argparse.Namespace, cfg: HotlineConfig) -> Script:
    scripted = args.press is not None or not sys.stdin.isatty()
    return Script(
        presses=list(args.press or []),
        interactive=not scripted,
        hold_segments=args.hold if args.hold is not None else 20,
        counsellors=itertools.cycle(args.counsellor.split(",")),
        speed=args.speed or 0.0,
        talk_seconds=args.talk,
        music_seconds=cfg.hold.music_seconds,
        # Waiting for a line in its wrap-up takes real time: the plan needs a counsellor.
        hold_speed=args.speed if args.speed is not None else 1.0,
    )


NO_KEY = (
    "hotline call: the console needs an API key of the organisation whose line takes the "
    "call: set HOTLINE_API_KEY (hotline keys create --org ORG --role supervisor); a "
    "development service's phone (HOTLINE_ENV=development) makes its own"
)


async def run_console_call(
    args: argparse.Namespace,
    settings: Settings,
    cfg: HotlineConfig,
    plan: Plan,
    keys: Keys | None,
) -> int:
    """One caller put through to a counsellor, then the console plays `plan` (a transfer, a
    supervision) against a development service: its own stand-in places every leg, which the
    phone plays (hotline.phone.scenes)."""
    problem = _not_with(args) or check(cfg, plan)
    if problem:
        print(f"hotline call: {problem}", file=sys.stderr)
        return 2
    secret = os.environ.get("HOTLINE_API_KEY", "").strip()
    chosen = GivenKey(secret) if secret else keys
    if chosen is None:
        print(NO_KEY, file=sys.stderr)
        return 2
    base = (args.url or settings.public_base).rstrip("/")
    console = Console(plan, chosen, cfg, _printer(""))
    script = _console_script(args, cfg)
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            await PlacedCalls(client, base, DEV_ACCOUNT_SID, settings.auth_token).all()
            phone = Phone(
                client,
                base_url=base,
                public_url=settings.public_url or base,
                token=settings.auth_token,
                caller=args.caller,
                to=dialled_number(cfg, args.to),
                script=script,
                out=_printer(""),
            )
            phone.console = console
            print(f"[plan] {describe(plan)}, once a counsellor accepts")
            outcome = await phone.run()
            await console.report(client, base)
    except NoStandIn:
        print(STAND_IN_ONLY.format(base=base, flag="--transfer/--supervise"), file=sys.stderr)
        return 2
    except httpx.HTTPError as e:
        print(f"hotline call: cannot reach the service at {base}: {e}", file=sys.stderr)
        return 1
    finally:
        await chosen.close()
    played = console.done and console.failed is None
    print(f"[summary] 1 call(s), {outcome}; the plan {'played' if played else 'NOT played'}")
    return 0 if played else 1
