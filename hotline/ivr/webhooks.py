"""Twilio voice webhooks: parameters in, domain calls, TwiML out.

Every route checks the signature (`TwilioParams`) and answers 200 with TwiML even when
something inside fails (`VoiceRoute`): Twilio's own error message is English and hangs up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from hotline.calls import store
from hotline.calls.models import Call, CallState
from hotline.deps import ConfigDep, NowDep, SessionDep
from hotline.ivr import flow
from hotline.ivr.signature import TwilioParams
from hotline.ivr.twiml import Renderer

log = logging.getLogger(__name__)


class TwiML(Response):
    media_type = "application/xml"


def twiml(doc: VoiceResponse) -> TwiML:
    return TwiML(doc.to_xml())


class VoiceRoute(APIRoute):
    """Any failure but a refused request becomes the fallback TwiML, with status 200."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException:
                raise
            except Exception:
                log.exception("voice webhook %s failed; answering fallback TwiML", request.url.path)
                request.app.state.webhook_errors += 1
                return twiml(request.app.state.renderer.fallback())

        return safe


router = APIRouter(prefix="/voice", route_class=VoiceRoute)


def renderer(request: Request) -> Renderer:
    return request.app.state.renderer


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and len(value) < 6 else default


async def _call(
    session: SessionDep, cfg: ConfigDep, request: Request, p: dict[str, str], now: NowDep
) -> Call:
    """This webhook's call; a CallSid never seen (lost state) is created so the call goes on."""
    sid = p.get("CallSid", "").strip()
    if not sid or len(sid) > 64:
        raise HTTPException(400, "missing or malformed CallSid")
    period = cfg.period_at(now)
    return await store.ensure_call(
        session,
        call_sid=sid,
        entry=cfg.entry_for(p.get("To", "")),
        period_id=period.id if period else "none",
        caller=store.caller_hash(request.app.state.settings.caller_secret, p.get("From")),
        menu_id=cfg.menu_at(now),
        now=now,
    )


@router.post("/incoming")
async def incoming(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    await store.add_event(session, call, "incoming", "incoming", now, {"entry": call.entry})
    return twiml(renderer(request).ask(flow.start(cfg, call.menu_id)))


@router.post("/menu")
async def menu(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    menu_id = request.query_params.get("m", "")
    if menu_id not in cfg.menus:
        menu_id = call.menu_id
    attempt = _int(request.query_params.get("t"), 1)
    decision = flow.choose(cfg, menu_id, attempt, p.get("Digits"))
    step = f"menu:{menu_id}:{attempt}"
    if isinstance(decision, flow.Ask):
        await store.add_event(
            session, call, step, "menu", now, {"digits_valid": False, "notice": decision.notice}
        )
        return twiml(renderer(request).ask(decision))
    return await _join_queue(request, session, call, decision, step, now)


async def _join_queue(
    request: Request,
    session: SessionDep,
    call: Call,
    decision: flow.Enqueue,
    step: str,
    now: NowDep,
) -> TwiML:
    new = await store.add_event(
        session,
        call,
        step,
        "queued",
        now,
        {
            "option": decision.option_id,
            "language": decision.language,
            "default": decision.notice is not None,
        },
    )
    if new and call.state == CallState.MENU:
        store.queue(
            call,
            option_id=decision.option_id,
            language=decision.language,
            priority=decision.priority,
            now=now,
        )
    return twiml(renderer(request).enqueue(decision))


@router.post("/wait")
async def wait(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    option_id = request.query_params.get("o", "")
    language = request.query_params.get("l") or None
    if not cfg.has_option(option_id):
        option_id = call.option_id or cfg.menus[cfg.default_menu].default.option or ""
    if call.state == CallState.MENU:  # lost state: the caller is on hold, so they waited
        store.queue(
            call,
            option_id=option_id,
            language=language,
            priority=cfg.option(option_id).priority,
            now=now,
        )
    segment = _int(request.query_params.get("n"), 1)
    ahead = await store.waiting_ahead(session, call)
    settings = request.app.state.settings
    decision = flow.hold(option_id, language, segment, ahead, settings.announce_every)
    return twiml(renderer(request).hold(decision))


@router.post("/queue-result")
async def queue_result(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    result = p.get("QueueResult", "")
    await store.add_event(
        session, call, f"queue-result:{result}", "queue-result", now, {"result": result[:32]}
    )
    if result == "hangup":
        store.end(call, now)
        return twiml(VoiceResponse())
    # Anything else (error, queue-full, system-error, an unknown value): never drop the
    # caller; put them back in the same queue, their waiting time kept.
    log.warning("QueueResult %r for call %s: re-queueing", result[:32], call.call_sid)
    option_id = call.option_id or cfg.menus[cfg.default_menu].default.option or ""
    decision = flow.Enqueue(option_id, call.language, cfg.option(option_id).priority)
    return twiml(renderer(request).enqueue(decision))


@router.post("/status")
async def status(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> Response:
    call = await _call(session, cfg, request, p, now)
    call_status = p.get("CallStatus", "")
    seq = _int(p.get("SequenceNumber"), 0)
    await store.add_event(
        session,
        call,
        f"status:{call_status}:{seq}",
        "status",
        now,
        {"status": call_status[:32], "seq": seq},
    )
    if call_status in {"completed", "busy", "failed", "no-answer", "canceled"}:
        store.end(call, now)
    return Response(status_code=204)


@router.post("/fallback")
async def fallback(request: Request, p: TwilioParams) -> TwiML:
    """Twilio's fallback URL: straight to the backup organisation, no database at all."""
    step = request.query_params.get("step", "")
    if step == "after-dial":
        if p.get("DialCallStatus") == "completed":
            return twiml(VoiceResponse())
        return twiml(renderer(request).after_fallback_dial())
    if step == "chosen":  # whatever was pressed, even nothing: the backup serves every option
        return twiml(renderer(request).fallback())
    log.error("Twilio used the fallback URL (ErrorCode %s)", p.get("ErrorCode", "?")[:8])
    return twiml(renderer(request).fallback_menu())
