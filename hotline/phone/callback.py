"""`hotline call --callback`: the whole callback loop, with the phone as Twilio's REST API too.

The caller holds, presses the callback key and confirms, and hangs up. The service then places
calls through Twilio's REST API: a development service without an account holds a stand-in of it
in its own process (`hotline.ivr.dev_account`), so the service's own adapter is what runs. The
phone reads the calls placed there, at the service's own `/dev/twilio-api` (Basic auth with the
development account and token, as Twilio's API asks), and answers each by posting that call's
webhooks, signed: the counsellor's leg first (the whisper, 1 to accept), then the caller's (the
neutral question, 1 to join), then both final statuses. The caller's leg is placed with
answering-machine detection, so its webhooks carry `AnsweredBy`: "human" (the phone presses 1),
or with `--callback-answered-by machine_start` a voicemail box, which should hear nothing at all.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from hotline.phone.client import Phone, Printer, new_sid

WAIT_AT_MOST = 120.0  # seconds for the service to place a call; retries wait longer
POLL_EVERY = 0.2


MACHINE_HEARD_NOTHING = "the machine heard nothing"


class NotPlaced(Exception):
    """The service did not place the call it should have within the time allowed."""


class NoStandIn(Exception):
    """The service holds no stand-in of Twilio's REST API (it has an account of its own)."""


@dataclass(frozen=True)
class Created:
    """One call the service asked Twilio to place."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    params: dict[str, str]  # every parameter the service asked for (MachineDetection...)


class PlacedCalls:
    """The calls a development service placed, read from its own stand-in."""

    def __init__(self, client: httpx.AsyncClient, base: str, account: str, token: str) -> None:
        self.client, self.auth = client, (account, token)
        self.url = f"{base}/dev/twilio-api/2010-04-01/Accounts/{account}/Calls.json"

    async def redirected(self, sid: str, wait: float) -> str | None:
        """The first redirect the service asked of call `sid` (a REST update), within `wait`
        seconds; None if none came."""
        url = self.url.replace("/Calls.json", f"/Calls/{sid}.json")
        give_up = time.monotonic() + wait
        while time.monotonic() < give_up:
            resp = await self.client.get(url, auth=self.auth)
            redirects = resp.json().get("redirects", []) if resp.status_code == 200 else []
            if redirects:
                return str(redirects[0])
            await asyncio.sleep(POLL_EVERY)  # a poll interval, not a wait for anything timed
        return None

    async def all(self) -> list[Created]:
        resp = await self.client.get(self.url, auth=self.auth)
        if resp.status_code in {404, 405, 401}:
            raise NoStandIn(resp.status_code)
        resp.raise_for_status()
        return [
            Created(c["sid"], c["to"], c["from"], c["url"], c.get("status_callback"), c["params"])
            for c in resp.json()["calls"]
        ]


async def placed(
    api: PlacedCalls, seen: int, wanted: Callable[[Created], bool], wait: float
) -> tuple[Created, int]:
    """The next call the service placed (after the first `seen`) that `wanted` picks."""
    give_up = time.monotonic() + wait
    while time.monotonic() < give_up:
        fresh = (await api.all())[seen:]
        for n, created in enumerate(fresh, seen + 1):
            if wanted(created):
                return created, n
        await asyncio.sleep(POLL_EVERY)  # a poll interval, not a wait for anything timed
    raise NotPlaced


def _leg(phone: Phone, created: Created, answered_by: str = "human") -> dict[str, str]:
    """A leg's parameters as Twilio posts them. A leg placed with answering-machine detection
    (`MachineDetection`) carries its result, `AnsweredBy`, from its first request on."""
    detected = {"AnsweredBy": answered_by} if created.params.get("MachineDetection") else {}
    return {
        **detected,
        **phone.common,
        "CallSid": created.sid,
        "Direction": "outbound-api",
        "From": created.from_,
        "To": created.to,
        "Called": created.to,
        "Caller": created.from_,
        "CallStatus": "in-progress",
    }


async def _play(phone: Phone, url: str, leg: dict[str, str], who: str, key: str) -> ET.Element:
    """Post a leg's webhook, print what `who` hears, press `key` at its Gather; the document
    that follows the key (or the first one when it has no Gather)."""
    doc = ET.fromstring((await phone.post(url, common=leg)).content)
    gather = None
    for v in doc:  # up to the Gather: what follows it is only heard on silence
        for heard in [v] if v.tag != "Gather" else list(v):
            if heard.tag in {"Say", "Play"}:
                phone.out(f"[{who} hears] {(heard.text or '').strip()}")
        if v.tag == "Gather":
            gather = v
            break
    if gather is None:
        return doc
    phone.out(f"[{who}] presses {key}")
    resp = await phone.post(gather.get("action") or "", {"Digits": key}, common=leg)
    return ET.fromstring(resp.content)


async def _status(phone: Phone, created: Created, status: str) -> None:
    if created.status_callback:
        extra = {"CallStatus": status, "CallDuration": "0" if status != "completed" else "60"}
        await phone.post(created.status_callback, extra, common=_leg(phone, created))


async def _machine(phone: Phone, caller: Created, counsellor: Created, answered_by: str) -> str:
    """The caller's leg answered by a voicemail box or a fax (as Twilio's detection reports
    it): what it heard, then both legs end. The outcome line."""
    leg = _leg(phone, caller, answered_by)
    phone.out(f"[callback] the hotline calls you back: {answered_by} answers (AnsweredBy)")
    doc = ET.fromstring((await phone.post(caller.url, common=leg)).content)
    heard = [(v.text or "").strip() for v in doc.iter() if v.tag in {"Say", "Play"}]
    for words in heard:
        phone.out(f"[{answered_by} hears] {words}")
    await _status(phone, caller, "completed")
    await _status(phone, counsellor, "completed")
    return MACHINE_HEARD_NOTHING if not heard else f"the machine heard {len(heard)} sentences"


def _callback_counsellor(created: Created) -> bool:
    """A callback's counsellor's leg (not its caller's, nor the counsellor's leg of a call
    put through a conference, whose status goes to /voice/leg-status)."""
    conference = "/voice/leg-status" in (created.status_callback or "")
    return "/callback/caller" not in created.url and not conference


async def callback_loop(
    phone: Phone, api: PlacedCalls, misses: int, out: Printer, answered_by: str = "human"
) -> str:
    """After the caller booked: serve every try until the caller joins (`answered_by` not
    "human": the first answered try reaches a machine instead, and the loop ends there).
    The outcome line."""
    seen, tries = 0, 0
    while True:
        wait = WAIT_AT_MOST if tries == 0 else WAIT_AT_MOST + 15 * 60  # a retry's pause
        out("[callback] waiting for the hotline to ring a counsellor")
        counsellor, seen = await placed(api, seen, _callback_counsellor, wait)
        c_leg = _leg(phone, counsellor)
        out(f"[counsellor] rung for the callback ({counsellor.to})")
        held = await _play(phone, counsellor.url, c_leg, "counsellor", "1")
        room = held.find(".//Dial/Conference")
        if room is None:
            await _status(phone, counsellor, "completed")
            return "the counsellor was not put on hold for the caller"
        out(f"[dial conference] {(room.text or '').strip()}: the counsellor waits for the caller")
        caller, seen = await placed(api, seen, lambda c: "/callback/caller" in c.url, WAIT_AT_MOST)
        tries += 1
        if tries <= misses:
            out(f"[callback] the hotline calls you back (try {tries}): you do not answer")
            await _status(phone, caller, "no-answer")
            await _play(phone, room.get("waitUrl") or "", c_leg, "counsellor", "")
            # The service takes the counsellor out of the conference (a REST redirect).
            if redirect := await api.redirected(counsellor.sid, WAIT_AT_MOST):
                out("[twilio] the service takes the counsellor out of the conference")
                told = await _play(phone, redirect, c_leg, "counsellor", "")
                if told.find(".//Hangup") is not None:
                    out("[counsellor] the leg ends")
            await _status(phone, counsellor, "completed")
            continue
        if answered_by != "human":
            return await _machine(phone, caller, counsellor, answered_by)
        out(f"[callback] the hotline calls you back (try {tries})")
        joined = await _play(phone, caller.url, _leg(phone, caller), "caller", "1")
        dial = joined.find(".//Dial")
        if dial is None or dial.find("Conference") is None:
            await _status(phone, caller, "completed")
            await _status(phone, counsellor, "completed")
            return "the caller was not joined to the counsellor"
        name = (dial.findtext("Conference") or "").strip()
        out(f"[dial conference] {name}: joined the counsellor")
        out("[talk] the caller and the counsellor talk")
        if action := dial.get("action"):
            extra = {"DialCallStatus": "completed", "DialCallSid": new_sid()}
            await phone.post(action, extra, common=_leg(phone, caller))
        await _status(phone, caller, "completed")
        await _status(phone, counsellor, "completed")
        return "callback connected"
