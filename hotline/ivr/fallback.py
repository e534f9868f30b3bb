"""Twilio's fallback for a failing database: `/voice/fallback` and its whisper, no database.

Twilio asks the fallback URL only when the voice URL failed, so when the whole service is
down this router is down too: that case is the static document of `hotline fallback-twiml`
(`static_fallback`, below), hosted elsewhere. These routes cover the service answering
without its database: the caller hears the menu, then the backup organisation's lines are
rung one after another, each counsellor hearing a whisper and pressing 1 to take the call.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import Response
from twilio.twiml.voice_response import Dial, VoiceResponse

from hotline.config import HotlineConfig
from hotline.ivr.signature import REFUSALS, TwilioParams
from hotline.ivr.twiml import RING_TONE, Renderer, dial_target
from hotline.services import services_of
from hotline.voice.params import printable
from hotline.voice.urls import Query, Urls

log = logging.getLogger(__name__)

router = APIRouter(prefix="/voice", responses=REFUSALS)


def _twiml(doc: VoiceResponse) -> Response:
    return Response(doc.to_xml(), media_type="application/xml")


def _renderer(request: Request) -> Renderer:
    return services_of(request.app).renderer


def _talked(p: dict[str, str]) -> bool:
    """Whether the dialled line took the call (then the caller must not be offered another).
    A whisper that hangs up still ends `completed`; DialBridged tells them apart. Without it,
    assume a conversation rather than ring the next line at its end."""
    return p.get("DialCallStatus") == "completed" and p.get("DialBridged") != "false"


@router.post("/fallback")
async def fallback(request: Request, p: TwilioParams) -> Response:
    """Twilio's fallback URL: the menu, then the backup organisation, no database at all."""
    q, r = Query.parse(request.query_params), _renderer(request)
    step = q.step
    if step == "after-dial":
        if _talked(p):
            return _twiml(VoiceResponse())
        return _twiml(r.fallback_dial(q.index + 1))
    if step == "chosen":  # whatever was pressed, even nothing: the backup serves every option
        return _twiml(r.fallback())
    log.error("Twilio used the fallback URL (ErrorCode %s)", printable(p.get("ErrorCode", "?"), 8))
    return _twiml(r.fallback_menu())


@router.post("/fallback-whisper")
async def fallback_whisper(request: Request, p: TwilioParams) -> Response:
    """The counsellor's leg of a fallback dial: press 1 to take the call, else it ends."""
    r = _renderer(request)
    if Query.parse(request.query_params).step != "accept":
        return _twiml(r.fallback_whisper())
    if p.get("Digits") == "1":
        return _twiml(VoiceResponse())  # an empty document: Twilio bridges the call
    return _twiml(r.whisper_declined())


def static_fallback(cfg: HotlineConfig, ring_seconds: int = 20) -> VoiceResponse:
    """The document for Twilio's fallback URL, hosted apart from us (a TwiML Bin): the
    apology, then the backup's lines one after another, then other numbers to call. It
    holds no URL of ours, so it works while this service is unreachable."""
    served = [
        f"messages.{name}"
        for name in ("apology", "closed")
        if any(s.play and not s.play.startswith("https://") for s in getattr(cfg.messages, name))
    ]
    if served:
        where = ", ".join(served)
        raise ValueError(f"{where}: a recording we serve is gone when we are; use an https URL")
    r, say = VoiceResponse(), Renderer(cfg, Urls(""), 0)._say
    say(r, cfg.messages.apology)
    backup = cfg.org(cfg.backup_org)
    for line in backup.lines:
        # No action: when a line does not answer, Twilio goes on to the next verb.
        dial = Dial(caller_id=cfg.caller_id_for(backup), timeout=ring_seconds, ring_tone=RING_TONE)
        dial_target(dial, line.target, line, None)
        r.append(dial)
    say(r, cfg.messages.closed)
    r.hangup()
    return r
