"""The target of a `<Dial>`: a SIP URI (with the line's digest credentials) or a number,
with the whisper URL the answered leg fetches first."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial

from hotline.config import Line


def dial_target(dial: Dial, target: str, line: Line | None, whisper_url: str | None) -> None:
    kw: dict[str, str | None] = {"url": whisper_url, "method": "POST"} if whisper_url else {}
    if target.startswith("sip:"):
        if line is not None and line.sip is not None:  # for the line's digest challenge
            kw |= {"username": line.sip.username, "password": line.sip_password}
        dial.sip(target, **kw)
    else:
        dial.number(target, **kw)
