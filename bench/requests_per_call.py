"""Requests per connected call: the webhooks Twilio sends and the REST requests the service
makes, counted over complete calls through the real service.

Not a test: a script that prints a table. It starts `hotline serve` (uvicorn) on a fresh
PostgreSQL database (or --database-url) with a REST account on the local stand-in of Twilio's
API (`hotline.testing.twilio_api`, in this process), and plays Twilio's part over HTTP for
--calls callers, one after the other: each dials #9999, presses 8 (loneliness), is put
through to a counsellor who presses 1 in the whisper, talks, and hangs up. Every webhook is
signed and counted by route; every REST request the service makes is read from the
stand-in's request log, attributed to the call during which it arrived (calls run one at a
time, and the log is read once the service's pushes have settled).

    .venv/bin/python bench/requests_per_call.py --calls 10

What this process does as Twilio is one function per call topology (`FLOWS`), chosen from the
TwiML the service answers, as Twilio would: `<Dial><Sip url=whisper>` is the two-leg bridge
(`bridge`: the counsellor's leg is dialled by the Dial itself, so no REST request);
`<Dial><Conference>` is the conference (`conference`: the caller waits in the call's room,
the counsellor's leg is placed by REST and joins it from the whisper, and Twilio posts the
conference's and the legs' status callbacks). A dequeue pushed by the service (a REST member
update) is followed as Twilio would: the caller is in the stand-in's queue from its
`<Enqueue>`, and leaves it for the URL the service gave.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from hotline.testing.databases import PostgresUnavailable, fresh_postgres
from hotline.testing.secrets import TEST_TOKEN
from hotline.testing.servers import ServerFailed, hotline_serve
from hotline.testing.twilio_api import Created, TwilioApi, twilio_api
from hotline.testing.twilio_requests import Signer, inbound_params, numbered_caller

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "AC" + "7" * 32  # the stand-in's made-up account
SETTLE = 0.3  # s without a new REST request before a call's count is read
SETTLE_AT_MOST = 5.0
WAIT_POLLS = 20  # hold polls before giving up on a line (the bench needs connected calls)
SIDS = re.compile(r"\b(CA|QU|CF)[0-9a-f]{32}\b")
ACCOUNT_PREFIX = re.compile(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}")


def rest_kind(request: str) -> str:
    """`POST /2010-04-01/Accounts/AC.../Queues/QU.../Members/CA....json` ->
    `POST Queues/{QU}/Members/{CA}.json`: the request's resource, not its instance."""
    method, _, target = request.partition(" ")
    path = ACCOUNT_PREFIX.sub("", target.split("?", 1)[0]).lstrip("/")
    return f"{method} {SIDS.sub(lambda m: '{' + m.group(1) + '}', path)}"


@dataclass
class Ledger:
    """What one call cost: webhooks by route, REST requests by resource."""

    flow: str = "?"
    connected: bool = False
    webhooks: Counter[str] = field(default_factory=Counter)
    rest: Counter[str] = field(default_factory=Counter)
    trace: list[str] = field(default_factory=list)  # webhooks and REST requests, in order
    problems: list[str] = field(default_factory=list)


class Twilio:
    """Twilio's side of the calls: signed webhooks to the service, the stand-in's REST state."""

    def __init__(self, client: httpx.AsyncClient, api: TwilioApi, *, late: bool = False) -> None:
        self.client, self.api, self.signer = client, api, Signer(TEST_TOKEN)
        self.base = ""  # the service's URL: a relative URL in TwiML is resolved against it
        self.late = late  # a caller joins Twilio's queue only after its first hold poll
        self.seen = 0  # REST requests already in a trace

    def rest_since(self, ledger: Ledger) -> None:
        """The REST requests that came since the last look, into the call's trace."""
        with self.api.lock:
            new, self.seen = self.api.requests[self.seen :], len(self.api.requests)
        ledger.trace += [f"  REST {rest_kind(r)}" for r in new]

    async def post(self, ledger: Ledger, url: str, params: dict[str, str]) -> ET.Element | None:
        """One webhook, counted by route; its TwiML, or None (an error, noted)."""
        self.rest_since(ledger)
        url = urljoin(self.base + "/", url)
        ledger.webhooks[urlsplit(url).path] += 1
        extra = (
            params.get("Digits") or params.get("QueueResult") or params.get("StatusCallbackEvent")
        )
        ledger.trace.append(f"webhook {urlsplit(url).path}" + (f" ({extra})" if extra else ""))
        resp = await self.client.post(url, data=params, headers=self.signer.headers(url, params))
        if resp.status_code == 204 or not resp.content:
            return None
        if resp.status_code != 200 or "xml" not in resp.headers.get("content-type", ""):
            ledger.problems.append(f"{urlsplit(url).path}: {resp.status_code} {resp.text[:120]}")
            return None
        return ET.fromstring(resp.content)

    def finished(self, sid: str) -> None:
        """Twilio says the call is over, if the service asks."""
        with self.api.lock:
            self.api.statuses[sid] = "completed"

    async def dequeued(self, sid: str, within: float) -> str | None:
        """The URL the service sent this caller to by a REST dequeue, if one comes in time."""
        deadline = time.monotonic() + within
        while True:
            with self.api.lock:
                url = next((u for _, s, u in self.api.dequeued if s == sid), None)
            if url is not None or time.monotonic() >= deadline:
                return url
            await asyncio.sleep(0.02)

    async def placed(self, since: int, within: float = 5.0) -> Created | None:
        """The first call the service placed by REST after `since` calls had been."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.api.lock:
                if len(self.api.created) > since:
                    return self.api.created[since]
            await asyncio.sleep(0.02)
        return None


@dataclass
class Call:
    """One inbound call as Twilio plays it: its parameters and what it cost."""

    twilio: Twilio
    params: dict[str, str]
    ledger: Ledger = field(default_factory=Ledger)
    seq: int = 0
    placed: int = 0  # calls the service had placed by REST before this one began

    @property
    def sid(self) -> str:
        return self.params["CallSid"]

    async def post(self, url: str, extra: dict[str, str] | None = None) -> ET.Element | None:
        return await self.twilio.post(self.ledger, url, {**self.params, **(extra or {})})

    async def leg(
        self, url: str, leg: dict[str, str], extra: dict[str, str] | None = None
    ) -> ET.Element | None:
        """A webhook of another leg of this call (the counsellor's), counted with it."""
        return await self.twilio.post(self.ledger, url, {**leg, **(extra or {})})

    async def status(self, url: str) -> None:
        """The number's status callback: the call is over."""
        self.seq += 1
        extra = {"CallStatus": "completed", "CallDuration": "60", "SequenceNumber": str(self.seq)}
        await self.post(url, extra)


# -- the caller's side: TwiML followed as Twilio does --------------------------------------
async def play(call: Call, base: str, presses: list[str]) -> None:
    """From the first webhook to the end of the caller's last document, then the final
    status callback."""
    call.placed = len(call.twilio.api.created)
    doc = await call.post(f"{base}/voice/incoming")
    call.params["CallStatus"] = "in-progress"
    while doc is not None:
        doc = await execute(call, doc, presses)
    await call.status(f"{base}/voice/status")
    call.twilio.finished(call.sid)


async def execute(call: Call, doc: ET.Element, presses: list[str]) -> ET.Element | None:
    for verb in doc:
        if verb.tag == "Gather":
            key = presses.pop(0) if presses else ""
            if key:
                return await call.post(verb.get("action") or "", {"Digits": key})
        elif verb.tag == "Redirect":
            return await call.post(verb.text or "")
        elif verb.tag == "Enqueue":
            return await hold(call, verb)
        elif verb.tag == "Dial":
            noun = next(iter(verb), None)
            flow = FLOWS.get(noun.tag if noun is not None else "")
            if noun is None or flow is None:
                call.ledger.problems.append(f"a Dial this bench cannot play: {ET.tostring(verb)!r}")
                return None
            return await flow(call, verb, noun)
        elif verb.tag in {"Hangup", "Reject"}:
            return None
    return None


async def hold(call: Call, enqueue: ET.Element) -> ET.Element | None:
    """In Twilio's queue (the stand-in's, so that a REST dequeue finds the caller) until the
    hold says `<Leave/>` or the service dequeues the caller."""
    api, name = call.twilio.api, (enqueue.text or "").strip()
    members = api.members[api.queue(name)]
    if not call.twilio.late:
        with api.lock:
            members.append(call.sid)
    action, wait_url, queue_time = enqueue.get("action") or "", enqueue.get("waitUrl"), 0
    try:
        for _ in range(WAIT_POLLS):
            info = {"QueuePosition": "1", "QueueTime": str(queue_time), "CurrentQueueSize": "1"}
            doc = await call.post(wait_url or "", info) if wait_url else None
            with api.lock:
                if call.sid not in members:
                    members.append(call.sid)  # --late: in the queue from now
            if doc is None or any(v.tag == "Leave" for v in doc):
                return await call.post(action, {"QueueResult": "leave", "QueueTime": "0"})
            pause = sum(int(p.get("length") or 1) for p in doc.iter("Pause"))
            pushed = await call.twilio.dequeued(call.sid, within=min(pause, 2))
            if pushed is not None:
                return await call.post(pushed, {"QueueResult": "redirected"})
            queue_time += pause
            wait_url = next((v.text for v in doc if v.tag == "Redirect"), wait_url)
        call.ledger.problems.append("never left the hold: is a line staffed for loneliness?")
        return None
    finally:
        with api.lock:
            if call.sid in members:
                members.remove(call.sid)


def leg_params(call: Call, sid: str, to: str, direction: str) -> dict[str, str]:
    """What Twilio posts for the counsellor's leg: never the caller's number."""
    return {
        **call.params,
        "CallSid": sid,
        "From": call.params["To"],
        "Caller": call.params["To"],
        "To": to,
        "Called": to,
        "Direction": direction,
        "CallStatus": "in-progress",
    }


async def whisper(call: Call, url: str, leg: dict[str, str]) -> ET.Element | None:
    """The counsellor hears the whisper and presses 1; the document after the key."""
    doc = await call.leg(url, leg)
    gather = doc.find("Gather") if doc is not None else None
    if gather is None:
        call.ledger.problems.append("the whisper asked for no key")
        return None
    return await call.leg(gather.get("action") or "", leg, {"Digits": "1"})


# -- the topologies ------------------------------------------------------------------------
async def bridge(call: Call, dial: ET.Element, noun: ET.Element) -> ET.Element | None:
    """Today's two-leg bridge: Twilio dials the line itself (`<Sip url=whisper>`); the
    counsellor accepts; they talk; the counsellor hangs up; the Dial's action."""
    call.ledger.flow = "bridge"
    leg = leg_params(call, "CA" + uuid.uuid4().hex, (noun.text or "").strip(), "outbound-dial")
    leg["ParentCallSid"] = call.sid
    if noun.get("url"):
        await whisper(call, noun.get("url") or "", leg)
    call.ledger.connected = True
    extra = {"DialCallStatus": "completed", "DialCallSid": leg["CallSid"]}
    extra |= {"DialCallDuration": "60", "DialBridged": "true"}
    return await call.post(dial.get("action") or "", extra) if dial.get("action") else None


async def conference(call: Call, dial: ET.Element, noun: ET.Element) -> ET.Element | None:
    """The conference (the shared design's topology; not served yet when this was written):
    the caller waits in the call's room hearing its waitUrl (ringback); the service places the
    counsellor's leg by REST after its commit; the leg's whisper, the key, the leg's
    `<Dial><Conference>`; the room's status callbacks (join, start, leave, end, by the
    events asked for) and the leg's own (its StatusCallbackEvent); the counsellor hangs up,
    which ends the room (endConferenceOnExit), and the caller's Dial action."""
    call.ledger.flow = "conference"
    room = Room(call, noun)
    if noun.get("waitUrl"):
        await call.post(noun.get("waitUrl") or "")  # the ringback document, once
    await room.event("join", "caller", call.params)
    created = await call.twilio.placed(call.placed)  # after the commit: maybe already
    if created is None:
        call.ledger.problems.append("no counsellor's leg was placed by REST")
        return None
    leg = leg_params(call, created.sid, created.to, "outbound-api")
    await legs_status(call, created, leg, ("initiated", "ringing", "answered"))
    with call.twilio.api.lock:
        call.twilio.api.statuses[created.sid] = "in-progress"
    doc = await whisper(call, created.url, leg)
    inner = doc.find("Dial/Conference") if doc is not None else None
    if inner is None:
        call.ledger.problems.append("the counsellor's accepted leg joined no conference")
        return None
    room.merge(inner)
    await room.event("start", None, leg)
    await room.event("join", "counsellor", leg)
    call.ledger.connected = True
    await room.event("leave", "counsellor", leg)
    await room.event("leave", "caller", call.params)
    await room.event("end", None, call.params)
    call.twilio.finished(created.sid)
    await legs_status(call, created, leg, ("completed",))
    extra = {"DialCallStatus": "completed", "DialCallSid": created.sid}
    return await call.post(dial.get("action") or "", extra) if dial.get("action") else None


class Room:
    """The conference's status callbacks, as Twilio posts them for the events asked for."""

    NAMES = {"start": "conference-start", "end": "conference-end"}
    NAMES |= {"join": "participant-join", "leave": "participant-leave"}

    def __init__(self, call: Call, noun: ET.Element) -> None:
        self.call, self.name = call, (noun.text or "").strip()
        self.sid, self.seq = "CF" + uuid.uuid4().hex, 0
        self.callbacks: dict[str, str] = {}  # event -> URL
        self.merge(noun)

    def merge(self, noun: ET.Element) -> None:
        url = noun.get("statusCallback")
        for event in (noun.get("statusCallbackEvent") or "").split():
            if url:
                self.callbacks.setdefault(event, url)

    async def event(self, event: str, label: str | None, leg: dict[str, str]) -> None:
        url = self.callbacks.get(event)
        if url is None:
            return
        self.seq += 1
        extra = {"ConferenceSid": self.sid, "FriendlyName": self.name}
        extra |= {"StatusCallbackEvent": self.NAMES[event], "SequenceNumber": str(self.seq)}
        if label is not None:
            extra |= {"ParticipantLabel": label, "CallSid": leg["CallSid"]}
        await self.call.leg(url, leg, extra)


async def legs_status(
    call: Call, created: Created, leg: dict[str, str], events: tuple[str, ...]
) -> None:
    """The status callbacks of a leg placed by REST, for the events it asked for (Twilio's
    default: completed only)."""
    asked = set(created.status_callback_event or ["completed"])
    for event in events:
        if created.status_callback and event in asked:
            status = {"answered": "in-progress"}.get(event, event)
            await call.leg(created.status_callback, leg, {"CallStatus": status})


Flow = Callable[[Call, ET.Element, ET.Element], Awaitable[ET.Element | None]]
FLOWS: dict[str, Flow] = {"Sip": bridge, "Number": bridge, "Conference": conference}


# -- the run -------------------------------------------------------------------------------
async def settled(api: TwilioApi, quiet: float = SETTLE) -> int:
    """The request log's length once no new REST request came for `quiet` seconds."""
    deadline, last, since = time.monotonic() + SETTLE_AT_MOST, -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(api.requests)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        await asyncio.sleep(min(quiet, 0.05))
    return last


async def run_calls(
    base: str, api: TwilioApi, calls: int, late: bool
) -> tuple[list[Ledger], Counter[str]]:
    """`calls` connected calls, one at a time, over HTTP to the service at `base`."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await drive(Twilio(client, api, late=late), base, calls)


async def drive(
    twilio: Twilio, base: str, calls: int, quiet: float = SETTLE
) -> tuple[list[Ledger], Counter[str]]:
    """The calls' ledgers, and the REST requests made before the first (start-up: the
    queues looked up)."""
    api = twilio.api
    twilio.base = base
    start = twilio.seen = await settled(api, quiet)
    before = Counter(rest_kind(r) for r in api.requests[:start])
    ledgers = []
    for i in range(calls):
        call = Call(twilio, inbound_params("CA" + uuid.uuid4().hex, numbered_caller(i)))
        with api.lock:
            api.statuses[call.sid] = "in-progress"  # Twilio knows its own call
        await play(call, base, ["8"])
        end = await settled(api, quiet)
        twilio.rest_since(call.ledger)
        call.ledger.rest.update(rest_kind(r) for r in api.requests[start:end])
        start = end
        ledgers.append(call.ledger)
    return ledgers, before


@contextmanager
def serving(database_url: str, tmp: Path, *, rest: bool) -> Iterator[tuple[str, TwilioApi]]:
    """`hotline serve` with a REST account on the stand-in (without `rest`, no account at
    all: HOTLINE_ENV=test, as development holds one of its own), wrap-up 0 (a freed line
    takes the next caller at once: the calls run one after the other, each on a line), hold
    music off (a pause, whose length the TwiML says)."""
    menus = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    menus["hold"]["music"] = None
    menus["staffing"]["wrap_up_seconds"] = 0
    config = tmp / "menus.yaml"
    config.write_text(yaml.safe_dump(menus, allow_unicode=True), encoding="utf-8")
    env = {"HOTLINE_CONFIG_PATH": str(config), "HOTLINE_LOG_LEVEL": "WARNING"}
    with ExitStack() as stack:
        api = stack.enter_context(twilio_api(ACCOUNT, TEST_TOKEN))  # the service's token
        if rest:
            env.update(TWILIO_ACCOUNT_SID=ACCOUNT, HOTLINE_TWILIO_API_BASE=api.base_url)
        else:
            env["HOTLINE_ENV"] = "test"
        live = stack.enter_context(
            hotline_serve(database_url, tmp / "hotline.log", cwd=ROOT, **env)
        )
        yield live.url, api


def table(ledgers: list[Ledger], before: Counter[str]) -> str:
    """Per connected call: each webhook route and REST resource, mean (min-max)."""
    done = [x for x in ledgers if x.connected and not x.problems]
    flows = Counter(x.flow for x in done)
    lines = [f"{len(done)} of {len(ledgers)} calls connected cleanly; topology: {dict(flows)}"]
    for title, part in (("webhooks Twilio sends", "webhooks"), ("REST requests we make", "rest")):
        counts = [getattr(x, part) for x in done]
        keys = sorted({k for c in counts for k in c})
        lines += [
            "",
            f"{title}, per connected call:",
            f"  {'':<52} {'mean':>6} {'min':>4} {'max':>4}",
        ]
        for key in [*keys, "total"]:
            values = [sum(c.values()) if key == "total" else c[key] for c in counts] or [0]
            mean = sum(values) / len(values)
            lines.append(f"  {key:<52} {mean:>6.2f} {min(values):>4} {max(values):>4}")
    if before:
        lines += ["", f"REST requests at start-up, before any call: {dict(before)}"]
    for x in ledgers:
        lines += [f"problem: {p}" for p in x.problems[:3]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10, help="connected calls, one at a time")
    p.add_argument("--database-url", default=None, help="a migrated database URL")
    p.add_argument(
        "--late",
        action="store_true",
        help="the caller joins Twilio's queue after its first hold poll, not before: the "
        "service's dequeue, pushed after the menu's commit, finds nobody in the queue",
    )
    p.add_argument(
        "--no-rest",
        action="store_true",
        help="no Twilio REST account: the hold's poll takes the caller out of the queue",
    )
    p.add_argument("--trace", action="store_true", help="print the first call's requests in order")
    args = p.parse_args(argv)
    if args.calls < 1:
        p.error("--calls must be at least 1")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp,
            fresh_postgres(prefix="hotline_bench")
            if args.database_url is None
            else _given(args.database_url) as url,
            serving(url, Path(tmp), rest=not args.no_rest) as (base, api),
        ):
            ledgers, before = asyncio.run(run_calls(base, api, args.calls, args.late))
    except (PostgresUnavailable, ServerFailed) as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG or --database-url)")
    print(table(ledgers, before))
    if args.trace and ledgers:
        print("\nthe first call, in order:", *ledgers[0].trace, sep="\n  ")
    return 0 if all(x.connected and not x.problems for x in ledgers) else 1


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
