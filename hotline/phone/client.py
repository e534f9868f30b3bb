"""The terminal phone: plays Twilio's part against a running service.

It signs every request as Twilio does, prints what the caller (and the counsellor) hear,
takes keys from the keyboard or a script, and follows Gather, Redirect, Enqueue (waitUrl
loop), Leave, Dial (with the whisper on the counsellor's leg), Hangup, then sends the final
status callback. Nothing here touches the database: it only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from hotline.phone.scenes import Console

Printer = Callable[[str], None]


# A track's length is unknown to the terminal phone: each <Play> (each loop) counts this long.
PLAY_SECONDS = 20


def segment_seconds(doc: ET.Element | None) -> int:
    """How long a hold segment lasts, for the next poll's QueueTime: its pauses, and each
    play as PLAY_SECONDS a loop (what is said is not counted)."""
    if doc is None:
        return 0
    pauses = sum(int(p.get("length") or 1) for p in doc.iter("Pause"))
    plays = sum(int(p.get("loop") or 1) for p in doc.iter("Play"))
    return pauses + PLAY_SECONDS * plays


class CallEnded(Exception):
    """The call is over (hung up by either side or by the end of a document)."""


@dataclass
class Script:
    """What the simulated people do. Keys run out: the caller stays silent."""

    presses: list[str] = field(default_factory=list)
    interactive: bool = False
    hold_segments: int = 20  # hold polls before the caller gives up and hangs up
    counsellors: Iterator[str] = field(default_factory=lambda: itertools.cycle(["accept"]))
    talk_seconds: int = 120
    speed: float = 0.0  # 1.0 plays pauses and talk in real time; 0 skips them
    # Keys pressed at the hold's Gathers, in turn (the callback key, then its confirmation);
    # none left: the caller holds on in silence.
    hold_presses: list[str] = field(default_factory=list)
    # How long the hold's music plays (menus.yaml `hold.music_seconds`), at `speed`.
    music_seconds: float = 0.0
    # The hold's pauses at this speed instead (None: `speed`): a caller who must get through
    # waits for a line in its wrap-up in real time, however fast the rest is played.
    hold_speed: float | None = None


def new_sid(prefix: str = "CA") -> str:
    return prefix + secrets.token_hex(16)


class Phone:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        public_url: str,
        token: str,
        caller: str,
        to: str,
        script: Script,
        out: Printer,
        call_sid: str | None = None,
    ) -> None:
        self.client, self.base, self.public = client, base_url.rstrip("/"), public_url.rstrip("/")
        self.validator, self.script, self.out = RequestValidator(token), script, out
        self.token = token  # the development stand-in's, for the legs the service places
        self.legs: set[str] = set()  # the counsellors' legs played already
        self.redirects = 0  # the service's redirects of this call followed so far
        self.sid = call_sid or new_sid()
        self.common = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": caller,
            "To": to,
            "Caller": caller,
            "Called": to,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "CallStatus": "ringing",
            "FromCountry": "JP",
            "ToCountry": "JP",
        }
        self.seq = itertools.count()
        self.presses = list(script.presses)
        self.queue_name: str | None = None
        self.outcome = "hung up"
        self.bridged = False
        self.connected = False
        # `--transfer`, `--supervise`: the console played once the counsellor accepts.
        self.console: Console | None = None

    # -- HTTP as Twilio does it -------------------------------------------------------------
    def _local(self, url: str) -> str:
        """Twilio requests the public URL; we reach the same path on the local server."""
        return self.base + url[len(self.public) :] if url.startswith(self.public) else url

    async def post(
        self, url: str, extra: dict[str, str] | None = None, common: dict[str, str] | None = None
    ) -> httpx.Response:
        url = url if url.startswith("http") else self.public + url
        params = {**(common or self.common), **(extra or {})}
        sig = self.validator.compute_signature(url, params)
        return await self.client.post(
            self._local(url),
            data=params,
            headers={"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": secrets.token_hex(8)},
        )

    async def fetch(self, url: str, extra: dict[str, str] | None = None) -> ET.Element:
        resp = await self.post(url, extra)
        if resp.status_code != 200 or "xml" not in resp.headers.get("content-type", ""):
            self.out(f"[twilio] {url} answered {resp.status_code}: trying the fallback URL")
            resp = await self.post("/voice/fallback", {"ErrorCode": "11200", "ErrorUrl": url})
            if resp.status_code != 200:
                self.out("[twilio] An application error has occurred. Goodbye.")
                raise CallEnded
        return ET.fromstring(resp.content)

    # -- the call ---------------------------------------------------------------------------
    async def run(self) -> str:
        self.out(f"[call] {self.sid} dials {self.common['To']}")
        try:
            doc: ET.Element | None = await self.fetch("/voice/incoming")
            self.common["CallStatus"] = "in-progress"
            while doc is not None:
                doc = await self.execute(doc)
        except CallEnded:
            pass
        self.out(f"[hangup] {self.settle()}")
        await self.post(
            "/voice/status",
            {
                "CallStatus": "completed",
                "CallDuration": "60",
                "SequenceNumber": str(next(self.seq)),
                "CallbackSource": "call-progress-events",
            },
        )
        return self.outcome

    def settle(self) -> str:
        """The call's outcome once it is over: connected if a counsellor took it, whichever
        document (the incoming call's, or the fallback URL's) put it through."""
        if self.connected:
            self.outcome = "connected to a counsellor"
        return self.outcome

    async def execute(self, doc: ET.Element) -> ET.Element | None:
        """Run one TwiML document; return the next document, or None when the call ends."""
        if doc.tag != "Response":
            self.out(f"[twilio] error 12102: root element is <{doc.tag}>")
            raise CallEnded
        for verb in doc:
            nxt = await self.verb(verb)
            if nxt is not None:
                return nxt
        self.outcome = "the document ended"
        return None

    async def verb(self, v: ET.Element) -> ET.Element | None:
        if v.tag == "Say":
            self.out(f"[say {v.get('language', 'en-US')}] {(v.text or '').strip()}")
        elif v.tag == "Play":
            self.out(f"[play {(v.text or '').strip()}]")
        elif v.tag == "Pause":
            self.out(f"[pause {v.get('length', '1')}s]")
            await self._pause(float(v.get("length", "1")))
        elif v.tag == "Gather":
            return await self.gather(v)
        elif v.tag == "Redirect":
            return await self.fetch(v.text or "")
        elif v.tag == "Enqueue":
            return await self.enqueue(v)
        elif v.tag == "Dial":
            return await self.dial(v)
        elif v.tag in {"Hangup", "Reject"}:
            self.outcome = "the service hung up"
            raise CallEnded
        elif v.tag == "Leave":
            self.out("[leave] (not in a queue: ignored)")
        else:
            self.out(f"[twilio] warning 12200: unknown verb <{v.tag}>")
        return None

    async def _pause(self, seconds: float) -> None:
        """Play `seconds` of the call (a pause, music) in real time at speed 1."""
        if self.script.speed > 0:
            await asyncio.sleep(seconds * self.script.speed)

    def _key(self) -> str:
        if self.presses:
            return self.presses.pop(0)
        if self.script.interactive:
            try:
                return input("press a key (Enter for silence, q to hang up)> ").strip()
            except EOFError:
                return "q"
        return ""

    async def gather(self, g: ET.Element) -> ET.Element | None:
        for child in g:
            await self.verb(child)
        key = self._key()
        if key == "q":
            raise CallEnded
        if key in {"", "-", "silence"}:
            self.out("[gather] (silence)")
            return None  # falls through to the next verb, as Twilio does
        self.out(f"[gather] pressed {key}")
        return await self.fetch(g.get("action") or "", {"Digits": key})

    async def enqueue(self, e: ET.Element) -> ET.Element | None:
        self.queue_name = (e.text or "").strip()
        self.out(f"[enqueue {self.queue_name}]")
        action, wait_url = e.get("action"), e.get("waitUrl")
        queue_time = 0  # as Twilio counts it: the segments' pauses and music heard so far
        for _ in range(self.script.hold_segments):
            info = {
                "QueuePosition": "1",
                "QueueSid": "QU" + "0" * 32,
                "QueueTime": str(queue_time),
                "AvgQueueTime": "0",
                "CurrentQueueSize": "1",
                "MaxQueueSize": "1000",
            }
            doc = await self.fetch(wait_url or "", info) if wait_url else None
            queue_time += segment_seconds(doc)
            left, wait_url = await self._hold(doc)
            if left:
                self.out("[leave] the caller leaves the queue")
                return await self.fetch(action, {"QueueResult": "leave"}) if action else None
        self.out("[hold] the caller gives up waiting")
        if action:
            await self.post(action, {"QueueResult": "hangup", "QueueTime": "60"})
        self.outcome = "the caller hung up while waiting"
        raise CallEnded

    async def _hold(self, doc: ET.Element | None) -> tuple[bool, str | None]:
        """Play a waitUrl document; (left the queue?, the next waitUrl)."""
        next_url = None
        for v in doc if doc is not None else []:
            if v.tag == "Leave":
                return True, None
            if v.tag == "Redirect":
                next_url = v.text
                break
            if v.tag == "Play":  # the hold's music, for its length (in real time at speed 1)
                await self.verb(v)
                await self._pause(self.script.music_seconds)
            elif v.tag == "Pause" and self.script.hold_speed is not None:
                length = float(v.get("length", "1"))
                self.out(f"[pause {v.get('length', '1')}s]")
                await asyncio.sleep(length * self.script.hold_speed)  # the hold, as heard
            elif v.tag in {"Say", "Pause"}:
                await self.verb(v)
            elif v.tag == "Gather":
                # The hold's key (a callback, the maximum wait's choice): without a scripted
                # key this caller holds on, as Twilio falls through a Gather on silence.
                for child in v:
                    await self.verb(child)
                if self.script.hold_presses:
                    key = self.script.hold_presses.pop(0)
                    self.out(f"[gather] pressed {key}")
                    return await self._hold(
                        await self.fetch(v.get("action") or "", {"Digits": key})
                    )
            elif v.tag == "Hangup":
                self.outcome = "the service hung up the hold"
                raise CallEnded
            else:
                self.out(f"[twilio] <{v.tag}> is not allowed in waitUrl TwiML")
        return False, next_url

    async def dial(self, d: ET.Element) -> ET.Element | None:
        target = next(iter(d), None)
        if target is None:
            return None
        if target.tag == "Conference":  # the call's conference: the counsellor's leg by REST
            from hotline.phone.conference import Room

            return await Room(self, target, d.get("action")).play()
        self.bridged = True
        status = await self.counsellor(target, d.get("callerId"))
        if status == "completed" and self.bridged:
            self.out(f"[talk] connected with {target.text}; they talk")
            self.connected = True
            if self.script.speed > 0:
                await asyncio.sleep(self.script.talk_seconds * self.script.speed)
        extra = {
            "DialCallStatus": status,
            "DialCallSid": new_sid(),
            "DialCallDuration": str(self.script.talk_seconds if self.bridged else 0),
            "DialBridged": "true" if status == "completed" and self.bridged else "false",
        }
        action = d.get("action")
        return await self.fetch(action, extra) if action else None

    async def counsellor(self, target: ET.Element, caller_id: str | None) -> str:
        """The counsellor's leg: ring, whisper, key. Returns Twilio's DialCallStatus."""
        # Without callerId Twilio shows the line the caller's own number, as we do here.
        shown = caller_id or self.common["From"]
        seen = f"caller ID {shown}" if caller_id else "no callerId: the caller's own number"
        user = f", SIP user {target.get('username')}" if target.get("username") else ""
        self.out(f"[dial {target.tag.lower()}] {target.text} ({seen}{user})")
        mode = next(self.script.counsellors)
        if mode in {"no-answer", "busy"}:
            self.out(f"[counsellor] {mode}")
            return mode
        url = target.get("url")
        if not url:
            return "completed"
        leg = {
            **self.common,
            "CallSid": new_sid(),
            "Direction": "outbound-dial",
            "ParentCallSid": self.sid,
            "From": shown,
            "To": target.text or "",
        }
        resp = await self.post(url, common=leg)
        doc = ET.fromstring(resp.content)
        return await self._whisper(doc, leg, mode)

    async def _whisper(self, doc: ET.Element, leg: dict[str, str], mode: str) -> str:
        for v in doc:
            if v.tag in {"Say", "Play"}:
                self.out(f"[counsellor hears] {_heard(v)}")
            elif v.tag == "Gather":
                for child in v:
                    self.out(f"[counsellor hears] {_heard(child)}")
                key = {"accept": "1", "refuse": "2"}.get(mode, "")
                if not key:
                    self.out("[counsellor] (no key: voicemail or missed)")
                    continue
                self.out(f"[counsellor] presses {key}")
                resp = await self.post(v.get("action") or "", {"Digits": key}, common=leg)
                return await self._whisper(ET.fromstring(resp.content), leg, "silent")
            elif v.tag == "Hangup":
                # The whisper hung up the counsellor's leg: Twilio still says "completed",
                # but nobody was bridged (the service knows from the missing acceptance).
                self.out("[counsellor] the whisper ended the counsellor's leg")
                self.bridged = False
                return "completed"
        return "completed" if mode == "silent" else "no-answer"


def _heard(v: ET.Element) -> str:
    text = (v.text or "").strip()
    return f"[play {text}]" if v.tag == "Play" else text
