"""Twilio's part in a call's conference once the console acts on it: what the development
service asked of its stand-in's conference (hold the caller, dial a party in, take a leg out,
end it), read back from the stand-in at `/dev/twilio-api` (Basic auth with the development
account and token, as `hotline.phone.callback` reads placed calls), and played as Twilio
would: the conference's status callbacks (participant-hold, -unhold, -join, -leave,
conference-end), the held caller's holdUrl fetched (what they hear), a dialled party's leg
answered, a leg taken out or hung up with its final status callback.

The stand-in of a development service never saw the phone's `<Conference>`: it makes the
conference and its legs when the service first asks about them
(`hotline.ivr.stand_in_conference`, `every_room`), and shows beside Twilio's fields what
Twilio itself would use (a participant's `to`, `status_callback`, `hold_url`).
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hotline.phone.callback import Created
from hotline.settings import DEV_ACCOUNT_SID

if TYPE_CHECKING:
    from hotline.phone.conference import Room

POLL_EVERY = 0.2
WAIT_AT_MOST = 30.0  # seconds for the service's request to Twilio to show at the stand-in


class Stuck(Exception):
    """What the phone waited for at the stand-in did not happen in time."""


class Stage:
    """One conference, as Twilio (the phone) plays it."""

    def __init__(self, room: Room, leg: Created) -> None:
        self.room, self.phone, self.leg = room, room.phone, leg
        base = f"{self.phone.base}/dev/twilio-api/2010-04-01/Accounts/{DEV_ACCOUNT_SID}"
        self.conference_url = f"{base}/Conferences/{room.sid}"
        self.calls_url = f"{base}/Calls"
        self.held = False  # the caller, as Twilio holds them
        self.names: dict[str, str] = {}  # label -> who the console dialled, for the screen
        self.parties: dict[str, dict[str, Any]] = {}  # label -> an answered leg, in the room
        self.gone: set[str] = set()  # labels that left (Twilio lists no one who left)
        self.counsellor_in = True
        self.ended = False

    # -- reading the stand-in --------------------------------------------------------------
    async def _get(self, url: str) -> dict[str, Any] | None:
        resp = await self.phone.client.get(url, auth=(DEV_ACCOUNT_SID, self.phone.token))
        return dict(resp.json()) if resp.status_code == 200 else None

    async def legs(self) -> dict[str, dict[str, Any]]:
        """Who is in the conference, by CallSid (as Twilio lists them)."""
        page = await self._get(f"{self.conference_url}/Participants.json")
        return {p["call_sid"]: p for p in (page or {}).get("participants", [])}

    async def call_status(self, call_sid: str) -> str | None:
        found = await self._get(f"{self.calls_url}/{call_sid}.json")
        return None if found is None else str(found.get("status"))

    # -- one look, and Twilio's part for what changed ----------------------------------------
    async def look(self) -> None:
        legs = await self.legs()
        caller = legs.get(self.phone.sid)
        held = bool(caller and caller.get("hold"))
        if held != self.held:
            await self._hold(held, caller)
        for p in legs.values():
            label = p.get("label") or ""
            new = label[:1] in {"p", "s"} and label not in self.parties and label not in self.gone
            if new and p.get("status") == "queued":
                await self._answer(label, p)
        for label, p in list(self.parties.items()):
            if p["call_sid"] not in legs:  # taken out by the service (Participant delete)
                self.phone.out(f"[twilio] {self.names.get(label, label)} is taken out of the call")
                await self.hang_up(label, said=False)
        if self.counsellor_in and await self.call_status(self.leg.sid) == "completed":
            await self._counsellor_out()
        room = await self._get(f"{self.conference_url}.json")
        if not self.ended and room is not None and room.get("status") == "completed":
            self.ended = True

    async def until(self, done: Callable[[], bool], what: str, wait: float = WAIT_AT_MOST) -> None:
        """Look again and again until `done()`; Stuck after `wait` seconds."""
        give_up = time.monotonic() + wait
        while True:
            await self.look()
            if done():
                return
            if time.monotonic() > give_up:
                raise Stuck(f"{what} did not happen within {wait:.0f} s")
            await asyncio.sleep(POLL_EVERY)  # a poll interval, not a wait for anything timed

    async def _hold(self, on: bool, caller: dict[str, Any] | None) -> None:
        self.held = on
        room, out = self.room, self.phone.out
        await room.event(
            "participant-hold" if on else "participant-unhold", self.phone.sid, "caller"
        )
        if not on:
            out("[caller] off hold: back in the conversation")
            return
        url = (caller or {}).get("hold_url")
        out("[twilio] the caller is put on hold")
        if not url:
            out("[caller hears] (Twilio's own hold music: the service gave no holdUrl)")
            return
        doc = await self.phone.fetch(url)
        for v in doc:
            if v.tag == "Say":
                out(f"[caller hears, on hold] {(v.text or '').strip()}")
        loops = [v for v in doc if v.tag == "Redirect"]
        if loops:
            out("[caller hears, on hold] (a pause, then the same words again, until resumed)")
        odd = [v.tag for v in doc if v.tag not in {"Say", "Play", "Pause", "Redirect"}]
        if odd:
            out(f"[twilio] <{odd[0]}> is not allowed in a holdUrl's TwiML")

    async def _answer(self, label: str, p: dict[str, Any]) -> None:
        who = self.names.get(label, label)
        to = p.get("to") or "?"
        flags = [f for f in ("muted", "coaching") if p.get(f)]
        how = f" ({', '.join(flags)})" if flags else ""
        self.phone.out(f"[rest] the service dials {who} into the conference: {to}{how}")
        self.phone.out(f"[{who}] answers")
        self.parties[label] = p
        await self.room.event("participant-join", p["call_sid"], label)

    async def hang_up(self, label: str, *, said: bool = True) -> None:
        """A party's leg ends (it hung up, or was taken out): Twilio's leave event and its
        final status callback."""
        p = self.parties.pop(label)
        self.gone.add(label)
        if said:
            self.phone.out(f"[{self.names.get(label, label)}] hangs up")
        await self.room.event("participant-leave", p["call_sid"], label)
        if url := p.get("status_callback"):
            extra = {"CallStatus": "completed", "CallDuration": "60"}
            await self.phone.post(url, extra, common=self._party_params(p))

    def _party_params(self, p: dict[str, Any]) -> dict[str, str]:
        return {
            **self.phone.common,
            "CallSid": str(p["call_sid"]),
            "Direction": "outbound-api",
            "To": str(p.get("to") or ""),
            "Called": str(p.get("to") or ""),
            "CallStatus": "completed",
        }

    async def _counsellor_out(self) -> None:
        """The service took the counsellor's leg out (a handover): it leaves, its call ends."""
        from hotline.phone.conference import leg_status

        self.counsellor_in = False
        self.phone.out("[twilio] the counsellor's leg leaves the conference")
        await self.room.event("participant-leave", self.leg.sid, "counsellor")
        await leg_status(self.phone, self.leg, "completed")

    async def conference_ends(self) -> ET.Element | None:
        """The conference ended (the service ended it): everyone still in it leaves, then
        the caller's Dial action, as Twilio runs it."""
        room = self.room
        for label in list(self.parties):
            await self.hang_up(label, said=False)
        if self.counsellor_in:
            await self._counsellor_out()
        await room.event("participant-leave", self.phone.sid, "caller")
        await room.event("conference-end")
        self.phone.out("[twilio] the conference has ended")
        return await room.dial_action(self.leg)
