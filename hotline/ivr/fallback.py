"""Twilio's fallback for a failing database: `/voice/fallback` and its whisper, no database.

Twilio asks the fallback URL only when the voice URL failed, so when the whole service is
down this router is down too: that case is the static document of `hotline fallback-twiml`
(`static_fallback`, below: the backup's lines in one sequential <Dial>, no secret), hosted
elsewhere. These routes cover the service answering
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
from hotline.voice.params import MACHINES, printable
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
    if step == "callback":  # the caller's leg of a callback: nothing said until their 1
        if p.get("AnsweredBy", "") in MACHINES:
            return _twiml(r.hang_up())
        # The neutral question (in Japanese: the caller's language is in the database); only
        # on a key, the apology and the backup organisation ("chosen").
        return _twiml(r.callback_greeting(None, r.urls.fallback("chosen")))
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


MAX_NOUNS = 10  # Twilio dials at most ten nouns in one <Dial>


def static_fallback(cfg: HotlineConfig, ring_seconds: int = 20) -> VoiceResponse:
    """The document for Twilio's fallback URL, hosted apart from us (a TwiML Bin). It holds
    no URL of ours, so it works while this service is unreachable, and no secret, since it
    is uploaded to a third place:

    - the apology, then at once the emergency numbers (said before any ringing: a caller
      who hangs up while the lines ring has heard them);
    - the backup's lines in ONE `<Dial sequential="true">`: Twilio rings them one after
      another and stops at the first that answers. After a conversation the document goes
      on past the <Dial>, so nothing after it may ring another line (the document it
      replaces rang the next line when a conversation ended);
    - no SIP credentials: a SIP line is dialled without `username`/`password` (its PBX must
      accept Twilio's signalling addresses: an IP access control list on its side, or a
      Twilio SIP domain or trunk whose credentials stay in Twilio); see
      `static_fallback_warnings`;
    - then `fallback_goodbye`, the same words whether a conversation just ended or nobody
      answered: neutral, naming no hotline (someone else may have the phone by then).

    No whisper: a static document cannot answer the counsellor's key (a Twilio Function
    could; docs/faults.md)."""
    served = [
        f"messages.{name}"
        for name in ("apology", "fallback_goodbye")
        if any(s.play and not s.play.startswith("https://") for s in getattr(cfg.messages, name))
    ]
    if served:
        where = ", ".join(served)
        raise ValueError(f"{where}: a recording we serve is gone when we are; use an https URL")
    r, say = VoiceResponse(), Renderer(cfg, Urls(""), 0)._say
    say(r, cfg.messages.apology)
    japanese = cfg.closed.get("ja")
    if japanese is not None:
        say(r, japanese.emergency)
    backup = cfg.org(cfg.backup_org)
    dial = Dial(
        caller_id=cfg.caller_id_for(backup),
        timeout=ring_seconds,
        ring_tone=RING_TONE,
        sequential=True,
    )
    for line in backup.lines[:MAX_NOUNS]:
        dial_target(dial, line.target, None, None)  # never the line's SIP password
    r.append(dial)
    say(r, cfg.messages.fallback_goodbye)
    r.hangup()
    return r


def static_fallback_warnings(cfg: HotlineConfig) -> list[str]:
    """What the static document cannot do with this configuration (never a secret)."""
    backup = cfg.org(cfg.backup_org)
    warnings = [
        f"line {line.id}: dialled without its SIP credentials (no password in a document "
        "kept elsewhere): its PBX must accept Twilio's signalling addresses (an IP access "
        "control list), or give it a Twilio SIP domain or trunk"
        for line in backup.lines[:MAX_NOUNS]
        if line.sip is not None
    ]
    if len(backup.lines) > MAX_NOUNS:
        skipped = ", ".join(line.id for line in backup.lines[MAX_NOUNS:])
        warnings.append(f"Twilio dials at most {MAX_NOUNS} lines in one <Dial>: {skipped} left out")
    return warnings
