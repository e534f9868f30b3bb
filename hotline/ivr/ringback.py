"""The conference's sounds that need no database: Japan's ringback tone (a WAV made once,
with the standard library's `wave`), the caller's wait in the conference that plays it
(`/voice/ringback`, the conference's waitUrl), and what a held caller hears
(`/voice/on-hold`, the participant's holdUrl). Each answers from the configuration alone:
a database away never silences a caller who waits or is held.

Japan's ringback (呼出音) is a 400 Hz tone modulated by 16 Hz, one second on and two off
(NTT's network tones); the file holds one cadence, 8 kHz 16-bit mono (48 kB), which the
<Play loop="0"> repeats.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import cache

from fastapi import APIRouter, Request
from starlette.responses import Response

from hotline.ivr import twiml_conference
from hotline.ivr.guard import TwiML, twiml
from hotline.ivr.signature import REFUSALS, twilio_params
from hotline.services import services_of
from hotline.voice.urls import Query

RATE = 8000  # samples a second: a phone's
CARRIER, MODULATION = 400.0, 16.0  # Hz
ON_SECONDS, OFF_SECONDS = 1.0, 2.0
LEVEL = 0.35  # of full scale: clearly heard, never harsh

router = APIRouter(prefix="/voice", responses=REFUSALS)


@cache
def ringback_wav() -> bytes:
    """One cadence of Japan's ringback: 1 s of 400 Hz modulated by 16 Hz, then 2 s of
    silence, as a WAV file."""
    frames = bytearray()
    on, total = int(RATE * ON_SECONDS), int(RATE * (ON_SECONDS + OFF_SECONDS))
    for n in range(total):
        sample = 0.0
        if n < on:
            t = n / RATE
            envelope = 0.5 * (1.0 + math.sin(2 * math.pi * MODULATION * t))
            sample = LEVEL * envelope * math.sin(2 * math.pi * CARRIER * t)
        frames += struct.pack("<h", int(sample * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return out.getvalue()


@router.post("/ringback", response_class=TwiML, name="ringback")
async def ringback(request: Request) -> Response:
    """The caller's wait in the call's conference until a counsellor accepts (its waitUrl):
    the ringback tone, looped. No database."""
    services = services_of(request.app)
    await twilio_params(request, services.settings)
    return twiml(twiml_conference.ringback(services.renderer))


@router.get("/ringback.wav", name="ringback_audio", include_in_schema=False)
async def ringback_audio() -> Response:
    """Japan's ringback tone (one cadence), for the waitUrl's <Play>."""
    return Response(ringback_wav(), media_type="audio/wav")


@router.post("/on-hold", response_class=TwiML, name="on_hold")
async def on_hold(request: Request) -> Response:
    """A caller the counsellor put on hold (the participant's holdUrl): the calm on-hold
    words in their language (`l`), a pause, again. No database."""
    services = services_of(request.app)
    await twilio_params(request, services.settings)
    q = Query.parse(request.query_params)
    language = q.language if q.language in services.cfg.languages else None
    return twiml(twiml_conference.on_hold(services.renderer, language))
