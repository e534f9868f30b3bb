"""Smoke test of a live deployment through real Twilio: one test call, and what happened.

    TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... \\
    HOTLINE_SMOKE_FROM=+81xxxxxxxxxx HOTLINE_SMOKE_TO=+815055559999 \\
    .venv/bin/python scripts/twilio_smoke.py

It places a call from HOTLINE_SMOKE_FROM (a voice number of the same Twilio account) to the
hotline number HOTLINE_SMOKE_TO, waits through the greeting, presses HOTLINE_SMOKE_KEYS
(default 8, loneliness), stays on the line for HOTLINE_SMOKE_HOLD_SECONDS (default 90),
records its side of the call, then prints the call's progress, the hotline's inbound leg and
every leg the service forwarded (to which line, showing which caller ID). It costs a real
call and, when a counsellor line answers, rings a real person: tell them first. The test
command never runs it (there is no network there); exit status 0 means a forwarded leg was
placed and none showed the caller's own number.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "HOTLINE_SMOKE_FROM", "HOTLINE_SMOKE_TO")
FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


def caller_script(keys: str, hold_seconds: int) -> str:
    """What the test caller does: listen to the greeting, press keys, hold, hang up."""
    r = VoiceResponse()
    r.pause(length=10)  # the greeting; keys pressed during the menu's Gather are taken
    r.play(digits="w".join(keys))
    r.pause(length=hold_seconds)
    r.hangup()
    return r.to_xml()


def run(env: dict[str, str], out: Callable[[str], None], poll_seconds: float = 3.0) -> int:
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        out(f"twilio_smoke: set {', '.join(missing)} (see docs/twilio.md)")
        return 2
    stand_in = env.get("TWILIO_API_BASE_URL")  # a stand-in of Twilio's REST API, tests only
    # The service's region and edge (Japan's by default: docs/twilio.md); none for a stand-in.
    region = "" if stand_in else env.get("HOTLINE_TWILIO_REGION", "jp1")
    edge = "" if stand_in else env.get("HOTLINE_TWILIO_EDGE", "tokyo")
    client = Client(
        env["TWILIO_ACCOUNT_SID"],
        env["TWILIO_AUTH_TOKEN"],
        region=region or None,
        edge=edge or None,
    )
    if stand_in:
        client.api.base_url = stand_in.rstrip("/")
    caller, hotline = env["HOTLINE_SMOKE_FROM"], env["HOTLINE_SMOKE_TO"]
    hold = int(env.get("HOTLINE_SMOKE_HOLD_SECONDS", "90"))
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    try:
        call = client.calls.create(
            to=hotline,
            from_=caller,
            twiml=caller_script(env.get("HOTLINE_SMOKE_KEYS", "8"), hold),
            record=True,
        )
        out(f"[call] {call.sid}: {caller} -> {hotline}")
        status = _follow(client, call.sid, out, poll_seconds, deadline=hold + 120)
        return _report(client, caller, hotline, started, status, out)
    except TwilioRestException as e:
        out(f"[twilio] {e.status} error {e.code}: {e.msg}")
        return 1


def _follow(
    client: Client, sid: str, out: Callable[[str], None], every: float, deadline: int
) -> str:
    seen, waited = "", 0.0
    while True:
        call = client.calls(sid).fetch()
        if call.status != seen:
            seen = call.status
            out(f"[status] {seen}")
        if seen in FINAL or waited > deadline:
            return seen
        time.sleep(every)
        waited += every


def _report(
    client: Client,
    caller: str,
    hotline: str,
    started: dt.datetime,
    status: str,
    out: Callable[[str], None],
) -> int:
    inbound = client.calls.list(to=hotline, from_=caller, start_time_after=started, limit=1)
    if not inbound:
        out("[hotline] no inbound call reached the hotline number: check its voice URL")
        return 1
    leg = inbound[0]
    out(f"[hotline] inbound {leg.sid}: {leg.status}, {leg.duration or 0} s")
    forwarded = client.calls.list(parent_call_sid=leg.sid, limit=20)
    for child in forwarded:
        shown = child._from  # the caller ID the line was shown (`from` in the API)
        out(
            f"[forwarded] to {child.to}: {child.status}, {child.duration or 0} s, caller ID {shown}"
        )
    leaked = [c for c in forwarded if caller.lstrip("+") in (c._from or "")]
    for recording in client.recordings.list(call_sid=leg.sid, limit=5):
        out(f"[recording] {recording.sid} ({recording.duration} s) in the Twilio console")
    if leaked:
        out("[problem] a forwarded leg showed the caller's own number: set caller_id")
    if not forwarded:
        out("[problem] no leg was forwarded: was a line staffed? see the service log")
    ok = status == "completed" and forwarded and not leaked
    verdict = "ok" if ok else "problem"
    out(f"[summary] {verdict}: test call {status}, {len(forwarded)} forwarded leg(s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run(dict(os.environ), print))
