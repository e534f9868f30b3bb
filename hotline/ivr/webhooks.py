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
from hotline.routing import calls as routing
from hotline.routing.store import Router

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
                response = await handler(request)
                # Commit here, before Twilio hears the answer: a failed commit must become
                # the fallback TwiML, not an answer describing changes that were lost.
                session = getattr(request.state, "session", None)
                if session is not None:
                    await session.commit()
                return response
            except HTTPException:
                raise
            except Exception:
                log.exception("voice webhook %s failed; answering fallback TwiML", request.url.path)
                session = getattr(request.state, "session", None)
                if session is not None:
                    await session.rollback()  # nothing half-done is kept
                request.app.state.webhook_errors += 1
                return _failure_answer(request)

        return safe


def _failure_answer(request: Request) -> Response:
    """What to answer when a webhook failed, by whose leg it is."""
    r: Renderer = request.app.state.renderer
    path = request.url.path
    if path.startswith("/voice/whisper"):
        return twiml(r.whisper_declined())  # the counsellor's leg: end it, never dial from it
    if path == "/voice/status":
        return Response(status_code=204)  # status callbacks control nothing
    if path == "/voice/wait":
        # waitUrl TwiML may not <Dial>: leave the hold; the Enqueue action then dials the
        # backup directly (see queue_result), instead of looping on a failing hold.
        return twiml(r.leave())
    return twiml(r.fallback())  # the caller: apology, then the backup organisation


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
    # The key pressed is part of the step: a repeat (9) and then a choice at the same try are
    # two steps, while a retried request with the same key is the same one.
    step = f"menu:{menu_id}:{attempt}:{(p.get('Digits') or '-')[:4]}"
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
        await routing.join(
            session,
            _router(request),
            call,
            option_id=decision.option_id,
            language=decision.language,
            priority=decision.priority,
            now=now,
        )
    if call.state == CallState.CLOSED:
        return twiml(renderer(request).closed(call.language))
    return twiml(renderer(request).enqueue(decision))


def _router(request: Request) -> Router:
    return request.app.state.router


def _option_or_default(cfg: ConfigDep, option_id: str | None) -> str:
    if option_id and cfg.has_option(option_id):
        return option_id
    return cfg.menus[cfg.default_menu].default.option or cfg.options[0].id


@router.post("/wait")
async def wait(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    option_id = _option_or_default(cfg, request.query_params.get("o") or call.option_id)
    language = request.query_params.get("l") or None
    if language not in cfg.languages:
        language = None
    if call.state == CallState.MENU:  # lost state: the caller is on hold, so they waited
        await routing.join(
            session,
            _router(request),
            call,
            option_id=option_id,
            language=language,
            priority=cfg.option(option_id).priority,
            now=now,
        )
    call.last_seen_at = now  # still holding: may be offered a line (and is not swept)
    if call.state == CallState.RESERVED:
        return twiml(renderer(request).leave())  # a line is held: leave the hold and dial it
    segment = _int(request.query_params.get("n"), 1)
    settings = request.app.state.settings
    checks = (segment - 1) % max(settings.announce_every, 1) == 0
    if call.state == CallState.CLOSED or (
        checks and not await routing.still_staffed(session, _router(request), call, now)
    ):
        return twiml(renderer(request).closed(call.language))
    # Counting the callers ahead is the costly part of a poll: only when it will be said.
    ahead = await store.waiting_ahead(session, call) if checks else None
    decision = flow.hold(option_id, language, segment, ahead, settings.announce_every)
    return twiml(renderer(request).hold(decision))


def _requeue_twiml(request: Request, cfg: ConfigDep, call: Call) -> TwiML:
    if call.state == CallState.CLOSED:
        return twiml(renderer(request).closed(call.language))
    option_id = _option_or_default(cfg, call.option_id)
    decision = flow.Enqueue(option_id, call.language, cfg.option(option_id).priority)
    return twiml(renderer(request).enqueue(decision))


@router.post("/queue-result")
async def queue_result(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    result = p.get("QueueResult", "")[:32]
    # A call may leave the hold several times (a line that did not answer): the reservation
    # is part of the step, so only a true retry of this leave is recognised as one.
    held = f"{call.line_id}:{call.reserved_at.timestamp() if call.reserved_at else ''}"
    fresh = await store.add_event(
        session, call, f"queue-result:{result}:{held}", "queue-result", now, {"result": result}
    )
    if result == "hangup":
        await routing.end(session, _router(request), call, now)
        return twiml(VoiceResponse())
    if result == "leave":
        line_id = call.line_id
        if not fresh and call.state == CallState.RINGING and line_id is not None:
            target = _router(request).lines[line_id][1].target  # a retry: the same Dial
        else:
            target = routing.leave(_router(request), call)
        if target is not None and line_id is not None:
            return twiml(
                renderer(request).dial(
                    target, line_id=line_id, call_sid=call.call_sid, language=call.language
                )
            )
        # Left the hold without a reservation (the hold itself failed): straight to the
        # backup organisation rather than back into a hold that may fail again.
        return twiml(renderer(request).fallback())
    else:
        # error, queue-full, system-error, or a value we do not know: never drop the caller;
        # back in the same queue, waiting time kept.
        log.warning("QueueResult %r for call %s: re-queueing", result[:32], call.call_sid)
    await routing.requeue(session, _router(request), call, now)
    return _requeue_twiml(request, cfg, call)


async def _parent(session: SessionDep, request: Request) -> Call | None:
    return await store.get_call(session, request.query_params.get("call", ""), lock=True)


@router.post("/whisper")
async def whisper(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    """Runs on the counsellor's leg once it answers (Dial <Number url=...>)."""
    call, line_id = await _parent(session, request), request.query_params.get("line", "")
    if call is None or call.line_id != line_id or call.state != CallState.RINGING:
        return twiml(renderer(request).whisper_declined())  # the caller is gone
    waited = (now - (call.waiting_since or call.created_at)).total_seconds()
    option = cfg.option(call.option_id).name if call.option_id else ""
    return twiml(
        renderer(request).whisper(
            option=option,
            language=call.language,
            waited=waited,
            accept_url=renderer(request).urls.whisper_accept(call.call_sid, line_id),
        )
    )


@router.post("/whisper-accept")
async def whisper_accept(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call, line_id = await _parent(session, request), request.query_params.get("line", "")
    accepted = call is not None and p.get("Digits") == "1"
    if accepted and routing.accept(_router(request), call, line_id, now):
        await store.add_event(
            session, call, f"accepted:{line_id}", "accepted", now, {"line": line_id}
        )
        return twiml(VoiceResponse())  # an empty document: Twilio bridges the call
    return twiml(renderer(request).whisper_declined())


@router.post("/dial-result")
async def dial_result(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> TwiML:
    call = await _call(session, cfg, request, p, now)
    line_id, status = request.query_params.get("line", ""), p.get("DialCallStatus", "")[:32]
    fresh = await store.add_event(
        session,
        call,
        f"dial-result:{line_id}:{p.get('DialCallSid')}",
        "dial-result",
        now,
        {"line": line_id, "status": status},
    )
    if not fresh and call.state not in store.TERMINAL:
        return _requeue_twiml(request, cfg, call)  # a retry: same answer, nothing changed
    outcome = await routing.dial_result(session, _router(request), call, line_id, status, now)
    if outcome == routing.DialOutcome.TALKED:
        return twiml(renderer(request).goodbye(call.language))
    if outcome == routing.DialOutcome.GONE:
        return twiml(VoiceResponse())
    return _requeue_twiml(request, cfg, call)


@router.post("/status")
async def status(
    request: Request, p: TwilioParams, session: SessionDep, cfg: ConfigDep, now: NowDep
) -> Response:
    call = await _call(session, cfg, request, p, now)
    call_status = p.get("CallStatus", "")[:32]
    seq = _int(p.get("SequenceNumber"), 0)
    await store.add_event(
        session,
        call,
        f"status:{call_status}:{seq}",
        "status",
        now,
        {"status": call_status, "seq": seq},
    )
    if call_status in {"completed", "busy", "failed", "no-answer", "canceled"}:
        await routing.end(session, _router(request), call, now)
    return Response(status_code=204)
