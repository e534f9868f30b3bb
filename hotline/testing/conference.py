"""A call through the call's conference, played as Twilio plays it, for tests (and anyone who
wants one): the caller's `<Dial><Conference>`, the counsellor's leg the service places through
the REST stand-in (`hotline.testing.twilio_api`), the whisper and the 1, Twilio's conference
callbacks (signed) and the ends of either leg. Each step is a real HTTP request to the app.

    call = ConferenceCall(client, api, app, caller_sid=sid)  # the caller's line is reserved
    await call.dial()            # <Dial><Conference>, the caller joins (participant-join)
    leg = await call.ringing()   # the counsellor's leg, placed after commit (RingLeg)
    await call.press("1")        # whisper, 1: the counsellor joins and starts the conference
    await call.counsellor_hangs_up()   # or caller_hangs_up(), leg_status("no-answer"), ...
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx

from hotline.ivr.stand_in import Created
from hotline.testing.secrets import TEST_TOKEN
from hotline.testing.twilio_api import TwilioApi
from hotline.testing.twilio_requests import CALLER, NUMBER_9999, Signer

PUBLIC = "https://hotline.example.jp"  # the public base the tests' settings name


class ConferenceCall:
    """One caller's call through the conference, whose line is already reserved (RESERVED:
    their next queue result dials it)."""

    def __init__(  # noqa: PLR0913 - what a played call needs, each one argument
        self,
        client: httpx.AsyncClient,
        api: TwilioApi,
        app: Any,
        *,
        caller_sid: str,
        caller: str = CALLER,
        public: str = PUBLIC,
        token: str = TEST_TOKEN,
    ) -> None:
        self.client, self.api, self.app = client, api, app
        self.caller_sid, self.caller, self.public = caller_sid, caller, public
        self.signer = Signer(token)
        self.name = self.callback = self.dial_action = self.conference_sid = ""
        self.leg: Created | None = None
        self.seq = 0

    async def post(self, url: str, **params: str) -> httpx.Response:
        """A request signed as Twilio signs it, to our public URL (or a path)."""
        full = url if url.startswith("http") else self.public + url
        headers = self.signer.headers(full, params)
        return await self.client.post(full.replace(self.public, ""), data=params, headers=headers)

    async def caller_twiml(self, url: str, **params: str) -> ET.Element:
        """A webhook of the caller's call, answered with TwiML."""
        base = {"CallSid": self.caller_sid, "From": self.caller, "To": NUMBER_9999}
        resp = await self.post(url, **base, **params)
        assert resp.status_code == 200, resp.text
        return ET.fromstring(resp.content)

    async def dial(self, option: str = "loneliness") -> ET.Element:
        """The queue result that dials the reserved line: the caller into the conference."""
        doc = await self.caller_twiml(f"/voice/queue-result?o={option}", QueueResult="leave")
        conference = doc.find("Dial/Conference")
        assert conference is not None, ET.tostring(doc)
        self.name = conference.text or ""
        self.callback = conference.get("statusCallback") or ""
        self.dial_action = doc.find("Dial").get("action") or ""  # type: ignore[union-attr]
        with self.api.lock:  # Twilio knows the caller's call: it may be redirected
            self.api.statuses[self.caller_sid] = "in-progress"
        self.conference_sid = self.api.rooms.conference(self.name)
        self.api.rooms.join(self.conference_sid, self.caller_sid, "caller")
        await self.event("participant-join", self.caller_sid, "caller")
        return doc

    async def event(self, event: str, leg: str = "", label: str = "", **extra: str) -> None:
        """A conference status callback, as Twilio posts it."""
        self.seq += 1
        params = {
            "AccountSid": self.api.account_sid,
            "ConferenceSid": self.conference_sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(self.seq),
            **({"CallSid": leg} if leg else {}),
            **({"ParticipantLabel": label} if label else {}),
            **extra,
        }
        resp = await self.post(self.callback, **params)
        assert resp.status_code == 204, resp.text

    async def ringing(self) -> Created:
        """The counsellor's leg the service placed (after commit) for this call."""
        await self.app.state.pushes.drain()
        legs = [c for c in self.api.created if f"call={self.caller_sid}" in c.url]
        assert legs, "no counsellor's leg was placed"
        self.leg = legs[-1]
        return self.leg

    async def whisper(self) -> ET.Element:
        """The counsellor's leg answered: the whisper."""
        assert self.leg is not None
        resp = await self.post(self.leg.url, CallSid=self.leg.sid, Direction="outbound-api")
        assert resp.status_code == 200, resp.text
        return ET.fromstring(resp.content)

    async def press(self, digits: str = "1") -> ET.Element:
        """The whisper heard, a key pressed: with 1 the counsellor joins the conference and
        starts it (conference-start, participant-join)."""
        assert self.leg is not None
        gather = (await self.whisper()).find("Gather")
        assert gather is not None
        resp = await self.post(gather.get("action") or "", CallSid=self.leg.sid, Digits=digits)
        assert resp.status_code == 200, resp.text
        doc = ET.fromstring(resp.content)
        if doc.find("Dial/Conference") is not None:
            self.api.rooms.join(self.conference_sid, self.leg.sid, "counsellor", starts=True)
            await self.event("conference-start")
            await self.event("participant-join", self.leg.sid, "counsellor")
        return doc

    async def leg_status(self, status: str) -> None:
        """The counsellor's leg's final status (busy, no-answer, failed, completed...)."""
        assert self.leg is not None and self.leg.status_callback
        resp = await self.post(self.leg.status_callback, CallSid=self.leg.sid, CallStatus=status)
        assert resp.status_code == 204, resp.text

    async def caller_status(self, status: str = "completed") -> None:
        self.seq += 1
        resp = await self.post(
            "/voice/status",
            CallSid=self.caller_sid,
            CallStatus=status,
            SequenceNumber=str(self.seq),
        )
        assert resp.status_code == 204, resp.text

    async def conference_ends(self, *labels: tuple[str, str]) -> None:
        """Everyone left (`labels`: (leg, label) still in it): the conference ended."""
        for leg, label in labels:
            self.api.rooms.leave(self.conference_sid, leg)
            await self.event("participant-leave", leg, label)
        await self.event("conference-end")

    async def counsellor_hangs_up(self) -> ET.Element:
        """The counsellor hangs up while talking: the conference ends with them, the caller's
        Dial action hears it (what the caller hears is returned), both legs complete."""
        assert self.leg is not None
        self.api.rooms.leave(self.conference_sid, self.leg.sid)
        await self.event("participant-leave", self.leg.sid, "counsellor")
        await self.conference_ends((self.caller_sid, "caller"))
        after = await self.caller_twiml(
            self.dial_action, DialCallStatus="completed", DialCallSid=self.leg.sid
        )
        await self.leg_status("completed")
        await self.caller_status("completed")
        return after

    async def caller_hangs_up(self) -> None:
        """The caller hangs up: they leave, the conference ends (theirs ends it), the legs
        complete."""
        in_it = self.leg is not None and self.api.rooms.of(self.name) is not None
        others = [(self.leg.sid, "counsellor")] if in_it and self.leg is not None else []
        self.api.rooms.leave(self.conference_sid, self.caller_sid)
        await self.event("participant-leave", self.caller_sid, "caller")
        await self.conference_ends(*others)
        await self.caller_status("completed")
        if self.leg is not None:
            await self.leg_status("completed")
