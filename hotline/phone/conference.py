"""The terminal phone in a call's conference: what Twilio does when the service answers the
caller with `<Dial><Conference>` (a development service without an account runs its calls
through its own stand-in of Twilio's REST API, `hotline.ivr.dev_account`).

The caller joins the conference (its status callback, `participant-join`, posted signed as
Twilio posts it) and hears the waitUrl, Japan's ringback. The phone reads the counsellor's
leg the service placed at its stand-in (as `hotline call --callback` reads a callback's), and
plays it as the next counsellor of the script would: `accept` (the whisper, then 1: the leg
joins the conference, which starts; they talk; the counsellor hangs up, the conference ends
and the caller's Dial action hears goodbye), `refuse` (2), `silent` (no key), `no-answer` or
`busy` (never answered). A leg that ends without the 1 sends the caller back to the queue:
the service redirects the caller's call (a REST update, which the stand-in keeps), and the
phone follows the redirect as Twilio would.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from hotline.phone.callback import WAIT_AT_MOST, Created, NotPlaced, PlacedCalls, placed
from hotline.settings import DEV_ACCOUNT_SID

if TYPE_CHECKING:
    from hotline.phone.client import Phone

POLL_EVERY = 0.2


class Room:
    """One conference as the phone plays Twilio's part in it."""

    def __init__(self, phone: Phone, noun: ET.Element, action: str | None) -> None:
        self.phone, self.action = phone, action
        self.name = (noun.text or "").strip()
        self.callback = noun.get("statusCallback") or ""
        self.wait_url = noun.get("waitUrl") or ""
        self.sid = "CF" + secrets.token_hex(16)  # a caller transferred meets in a new one
        self.seq = 0
        self.api = PlacedCalls(phone.client, phone.base, DEV_ACCOUNT_SID, phone.token)

    async def event(self, event: str, leg: str = "", label: str = "") -> None:
        """A conference status callback, signed, as Twilio posts it."""
        if not self.callback:
            return
        self.seq += 1
        extra = {
            "ConferenceSid": self.sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(self.seq),
            "CallSid": leg,
            "ParticipantLabel": label,
        }
        await self.phone.post(self.callback, {k: v for k, v in extra.items() if v})

    async def play(self) -> ET.Element | None:
        """The caller in the conference until it ends or they are taken out of it: the
        next document for the caller, or None."""
        phone = self.phone
        phone.out(f"[conference] {self.name}: the caller waits in it")
        await self.event("participant-join", phone.sid, "caller")
        if self.wait_url:
            ringback = await phone.fetch(self.wait_url)
            sound = " ".join((v.text or "").strip() for v in ringback if v.tag == "Play")
            phone.out(f"[ringback] {sound or 'the waitUrl'} (Japan's ringback, looped)")
        try:
            leg, _ = await placed(self.api, 0, self._ours, WAIT_AT_MOST)
        except NotPlaced:
            phone.out("[twilio] no counsellor's leg was placed: the caller hangs up")
            raise
        phone.legs.add(leg.sid)
        mode = next(phone.script.counsellors)
        phone.out(f"[rest] the service places the counsellor's leg ({leg.sid})")
        phone.out(f"[dial {_kind(leg.to)}] {leg.to} (caller ID {leg.from_})")
        if await self._counsellor(leg, mode):
            console = phone.console  # `--transfer`, `--supervise`: played once, by the first
            if console is not None and not console.done:
                return await console.play(self, leg)
            if console is not None:
                console.met(leg)  # the next counsellor, after a transfer to a queue
            return await self._talk(leg)
        return await self.requeued()

    def _ours(self, created: Created) -> bool:
        phone = self.phone
        mine = f"call={phone.sid}" in created.url and "/voice/whisper" in created.url
        return mine and created.sid not in phone.legs

    async def _counsellor(self, leg: Created, mode: str) -> bool:
        """The counsellor's leg: True when they pressed 1 and joined the conference."""
        phone = self.phone
        if mode in {"no-answer", "busy"}:
            phone.out(f"[counsellor] {mode}")
            await leg_status(phone, leg, mode)
            return False
        params = _leg_params(phone, leg)
        doc = ET.fromstring((await phone.post(leg.url, common=params)).content)
        key = {"accept": "1", "refuse": "2"}.get(mode, "")
        for v in doc:
            for heard in list(v) if v.tag == "Gather" else [v]:
                if heard.tag in {"Say", "Play"}:
                    phone.out(f"[counsellor hears] {(heard.text or '').strip()}")
            if v.tag == "Gather" and key:
                phone.out(f"[counsellor] presses {key}")
                resp = await phone.post(v.get("action") or "", {"Digits": key}, common=params)
                joined = ET.fromstring(resp.content).find("Dial/Conference")
                if joined is not None:
                    await self.event("conference-start")
                    await self.event("participant-join", leg.sid, "counsellor")
                    return True
                break
        phone.out("[counsellor] the whisper ended the counsellor's leg")
        await leg_status(phone, leg, "completed")
        return False

    async def _talk(self, leg: Created) -> ET.Element | None:
        phone = self.phone
        phone.out(f"[talk] connected with {leg.to} in the conference; they talk")
        phone.connected = True
        if phone.script.speed > 0:
            await asyncio.sleep(phone.script.talk_seconds * phone.script.speed)
        return await self.counsellor_hangs_up(leg)

    async def counsellor_hangs_up(self, leg: Created) -> ET.Element | None:
        """The counsellor hangs up while talking: the conference ends (their leg ends it),
        and the caller's Dial action runs."""
        phone = self.phone
        phone.out("[counsellor] hangs up: the conference ends")
        await self.event("participant-leave", leg.sid, "counsellor")
        await self.event("participant-leave", phone.sid, "caller")
        await self.event("conference-end")
        await leg_status(phone, leg, "completed")
        return await self.dial_action(leg)

    async def dial_action(self, leg: Created) -> ET.Element | None:
        """The caller's `<Dial>` is over: its action, as Twilio requests it."""
        if not self.action:
            return None
        extra = {"DialCallStatus": "completed", "DialCallSid": leg.sid, "DialBridged": "true"}
        return await self.phone.fetch(self.action, extra)

    async def requeued(self, leg: Created | None = None) -> ET.Element | None:
        """The service takes the caller out of the conference (a REST redirect of their
        call): follow it, as Twilio would. The caller leaving ends the conference, and with
        it the counsellor's `leg` if one was in it."""
        phone = self.phone
        url = (
            phone.base
            + f"/dev/twilio-api/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Calls/{phone.sid}.json"
        )
        give_up = time.monotonic() + WAIT_AT_MOST
        while time.monotonic() < give_up:
            resp = await phone.client.get(url, auth=self.api.auth)
            redirects = resp.json().get("redirects", []) if resp.status_code == 200 else []
            if len(redirects) > phone.redirects:
                redirect = redirects[phone.redirects]
                phone.redirects += 1
                phone.out("[twilio] the service redirects the caller out of the conference")
                await self.event("participant-leave", phone.sid, "caller")
                await self.event("conference-end")
                if leg is not None:
                    phone.out("[twilio] the conference has ended: the counsellor's leg ends")
                    await self.event("participant-leave", leg.sid, "counsellor")
                    await leg_status(phone, leg, "completed")
                return await phone.fetch(redirect)
            await asyncio.sleep(POLL_EVERY)  # a poll interval, not a wait for anything timed
        phone.out("[twilio] the caller is left in the conference: they hang up")
        return None


def _kind(target: str) -> str:
    return "sip" if target.startswith("sip:") else "number"


def _leg_params(phone: Phone, leg: Created) -> dict[str, str]:
    return {
        **phone.common,
        "CallSid": leg.sid,
        "Direction": "outbound-api",
        "From": leg.from_,
        "To": leg.to,
        "Called": leg.to,
        "Caller": leg.from_,
        "CallStatus": "in-progress",
    }


async def leg_status(phone: Phone, leg: Created, status: str) -> None:
    """The counsellor's leg's final status callback (`/voice/leg-status`)."""
    if leg.status_callback:
        extra = {"CallStatus": status, "CallDuration": "60" if status == "completed" else "0"}
        await phone.post(leg.status_callback, extra, common=_leg_params(phone, leg))
