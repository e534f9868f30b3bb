"""Twilio voice webhooks: the signature checked, parameters parsed, one voice step, TwiML out.

Each route verifies Twilio's signature (`twilio_params`), parses the request (`VoiceParams`,
`Query`), runs ONE step of the voice layer (`hotline.voice.steps`)
in a unit of work it commits before answering, and renders the step's outcome with the
`Renderer` (`render`). What a step does is the voice layer's; where a call goes next is
decided in `hotline.calls.lifecycle`, not here. Every route answers 200 with TwiML even when
something inside fails (`hotline.ivr.guard.VoiceGuard`): Twilio's own error message is
English and hangs up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from hotline.calls import lifecycle as lc
from hotline.ivr import twiml_conference
from hotline.ivr.guard import TwiML, twiml
from hotline.ivr.rest import TwilioRest
from hotline.ivr.signature import REFUSALS, twilio_params
from hotline.ivr.spool import FACTS
from hotline.ivr.twiml import queue_name
from hotline.services import Services, services_of
from hotline.voice import conference_steps, flow, steps
from hotline.voice import outcomes as o
from hotline.voice.params import VoiceParams
from hotline.voice.steps import Alone, NotAlone, Step, Turn
from hotline.voice.urls import Query

__all__ = ["HANDLERS", "TwiML", "render", "replay", "router"]

router = APIRouter(prefix="/voice", responses=REFUSALS)
HANDLERS: dict[str, Step] = {}  # by path: the routes' steps, and the spool's replay's


def voice(path: str, step: Step, *, name: str, alone: Alone | None = None) -> None:
    """Register `step` as the route at `path`, which takes only the request: FastAPI's
    solving of a route's dependencies (the session's, through an exit stack) cost more than
    the steps they stand for, written out here once.

    The signature is checked before anything else; the unit of work commits before the
    answer is rendered, so a failed commit reaches `VoiceGuard` like any failure, with
    nothing kept, and the caller hears the fallback rather than an answer describing
    changes that were lost.

    `alone(cfg, params, query)`: this request's step is most likely one statement (a new call
    logged as it is inserted, a hold poll marked seen as it is read). Where the database
    allows (PostgreSQL: `services.alone_sessions`), it is tried first without a transaction,
    which saves the BEGIN and COMMIT round trips (two of three); a step that turns out to
    need more raises `NotAlone` before writing anything more (a hold poll's mark of being
    seen is written as the call is read, and again by the second run) and is run again,
    whole, in a transaction."""

    async def route(request: Request) -> Response:
        services = services_of(request.app)
        settings, alone_sessions = services.settings, services.alone_sessions
        p = VoiceParams.model_validate(await twilio_params(request, settings))
        q = Query.parse(request.query_params)
        now = services.clock()
        if p.queue_sid and services.rest is not None:
            _remember_queue(services.rest, services, step, p, q)
        try:
            if alone is not None and alone_sessions is not None and alone(services.cfg, p, q):
                async with alone_sessions.unit() as uow:
                    try:
                        first = await step(Turn(services, uow, now, alone=True), p, q)
                    except NotAlone:
                        first = None
                    # Each statement committed itself; this publishes what the step left
                    # (a new call's count), its answer or not.
                    await uow.commit()
                if first is not None:
                    return render(services, first)
            # Committed here, not on leaving the block: the answer goes out only once the
            # step is kept. On any error, closing the session rolls back at once.
            async with services.unit() as uow:
                outcome = await step(Turn(services, uow, now), p, q)
                await uow.commit()
        except o.MissingCallSid:
            raise HTTPException(400, "missing or malformed CallSid") from None
        return render(services, outcome)

    route.__doc__ = step.__doc__  # the schema's description
    HANDLERS[router.prefix + path] = step
    router.add_api_route(path, route, methods=["POST"], name=name)


def _remember_queue(
    rest: TwilioRest, services: Services, step: Step, p: VoiceParams, q: Query
) -> None:
    """A hold poll names its queue (Twilio's `QueueSid`): kept for the pushes, no request. A
    caller's hold: the option's queue; a callback's counsellor's: that call's own, deleted
    when the callback ends (`hotline.ivr.queues.drop_callback_queue`)."""
    option = q.option_id
    if step is steps.wait and option and services.cfg.has_option(option):
        rest.remember_queue(queue_name(option), p.queue_sid)
    elif step is steps.callback_hold and q.call_sid:  # an older callback's own queue
        rest.remember_callback_queue(q.call_sid, p.queue_sid)


def render(services: Services, outcome: o.Outcome) -> Response:
    """A step's outcome as TwiML (a status callback's as 204)."""
    r = services.renderer
    match outcome:
        case o.Decided():
            return twiml(_decided(services, outcome))
        case flow.Ask():
            return twiml(r.ask(outcome))
        case flow.Hold():
            return twiml(r.hold(outcome))
        case flow.Closed():
            return twiml(r.closed(outcome))
        case o.Whisper():
            return twiml(_whisper(services, outcome))
        case o.BackToHold(option_id=option, language=language, segment=segment, chose=chose):
            if outcome.kept:
                return twiml(r.callback_kept(language, option, segment, chose=chose))
            return twiml(r.back_to_hold(option, language, segment, chose=chose))
        case o.LinesNow(language=language, lines=lines, option_id=option, segment=segment):
            return twiml(r.lines_now(language, lines, option, segment))
        case o.CallbackRefused(language=language, reason=why, option_id=option, segment=segment):
            return twiml(r.callback_refused(language, why, option, segment, chose=outcome.chose))
        case o.CallbackConfirm(language=language, option_id=option, segment=segment):
            c = outcome
            return twiml(
                r.callback_confirm(language, option, segment, c.until, c.number, chose=c.chose)
            )
        case o.FullOffer(said=said, option_id=option, until=until, number=number):
            return twiml(r.full_offer(said, option, until, number))
        case o.CallbackGreeting(call_sid=sid, language=language, attempt=attempt):
            accept = r.urls.callback_caller(sid, attempt, step="key")
            return twiml(r.callback_greeting(language, accept))
        case o.NotReached():  # a machine, another key, a try over: not a word
            return twiml(r.hang_up())
        case o.CounsellorWaits(call_sid=sid, line_id=line, over=over):
            return twiml(twiml_conference.counsellor_waits(r, sid, line, over=over))
    return _plain(services, outcome)


def _whisper(services: Services, w: o.Whisper) -> VoiceResponse:
    r = services.renderer
    accept_url = r.urls.whisper_accept(w.call_sid, w.line_id)
    # A callback's counsellor is rung first: told so, and that the caller is called on 1.
    say = r.callback_whisper if w.callback else r.whisper
    return say(
        option=w.option, language=w.language, waited=w.waited, accept_url=accept_url,
        repeat=w.repeat,
    )  # fmt: skip


def _plain(services: Services, outcome: o.Plain) -> Response:
    r = services.renderer
    if outcome == "no_content":
        return Response(status_code=204)  # status callbacks control nothing
    if outcome == "leave":
        return twiml(r.leave())
    if outcome == "hang_up":
        return twiml(r.hang_up())
    if outcome == "no_answer":
        return twiml(r.counsellor_no_answer())
    return twiml(r.whisper_declined())


def _decided(services: Services, d: o.Decided) -> VoiceResponse:
    """The lifecycle's decision as TwiML (hold segments and menus are outcomes of their own,
    which know the segment and the prompt)."""
    r = services.renderer
    match d.decision:
        case lc.Enqueue(option_id=option, language=language):
            priority = services.cfg.option(option).priority
            return r.enqueue(flow.Enqueue(option, language, priority, d.notice))
        case lc.LeaveQueue():
            return r.leave()
        case lc.Dial(line_id=line, conference=True) if d.target is not None:
            # The counsellor's leg is placed by REST (the lifecycle's RingLeg, after commit).
            return twiml_conference.caller_conference(r, d.call_id, d.call_sid, line)
        case lc.Dial(line_id=line, language=language) if d.target is not None:
            return r.dial(d.target, line_id=line, call_sid=d.call_sid, language=language)
        case lc.Bridge(conference=True):
            return twiml_conference.counsellor_conference(r, d.call_id, d.call_sid)
        case lc.Closed(language=language):
            return r.closed(flow.Closed(language))
        case lc.QueueFull(language=language):
            return r.closed(flow.Closed(language, full=True))
        case lc.Decline():
            return r.whisper_declined()
        case lc.Goodbye(language=language):
            return r.goodbye(language)
        case lc.CallbackBooked(language=language, until=until):
            return r.callback_booked(language, until)
        case lc.CallCaller(line_id=line):
            return twiml_conference.callback_counsellor(r, d.call_id, d.call_sid, line)
        case lc.JoinCounsellor(language=language):
            attempt = d.callback_tries + 1
            return twiml_conference.callback_caller(r, d.call_id, d.call_sid, attempt, language)
        case lc.Bridge() | lc.Nothing():
            return VoiceResponse()  # nothing to say (Bridge: Twilio joins the two)
    return r.fallback()  # Backup, or a line no longer in config: the backup serves


async def replay(services: Services, entry: dict[str, Any]) -> None:
    """Apply one spooled fact as its webhook would have, at its own time (one transaction)."""
    step = HANDLERS.get(entry["path"]) if entry["path"] in FACTS else None
    at = dt.datetime.fromisoformat(entry["at"])
    p, q = (
        VoiceParams.model_validate(entry["params"]),
        Query.parse(dict(parse_qsl(entry.get("query", "")))),
    )
    async with services.unit() as uow:
        if step is not None:
            await step(Turn(services, uow, at, replayed=True), p, q)


voice("/incoming", steps.arrive, name="incoming", alone=steps.always)
voice("/menu", steps.menu, name="menu")
voice("/wait", steps.wait, name="wait", alone=steps.wait_alone)
voice("/queue-result", steps.queue_result, name="queue_result")
voice("/whisper", steps.whisper, name="whisper")
voice("/whisper-accept", steps.whisper_accept, name="whisper_accept")
voice("/dial-result", steps.dial_result, name="dial_result")
voice("/status", steps.status, name="status")
voice("/hold-key", steps.hold_key, name="hold_key")
voice("/callback/caller", steps.callback_caller, name="callback_caller")
voice("/callback/hold", steps.callback_hold, name="callback_hold")
voice("/callback/held", steps.callback_held, name="callback_held")
voice("/callback/joined", steps.callback_over, name="callback_joined")
voice("/callback/status", steps.callback_status, name="callback_status")
# The call's conference (docs/call-flow.md): the counsellor's leg placed by REST, Twilio's
# conference callbacks, and the caller taken out of the conference back to the queue.
voice("/leg-status", conference_steps.leg_status, name="leg_status")
voice("/conference", conference_steps.conference_status, name="conference_status")
voice("/requeue", conference_steps.requeue, name="requeue")
voice("/party-status", conference_steps.party_status, name="party_status")
