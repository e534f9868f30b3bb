"""Twilio voice webhooks: parameters in, one lifecycle step, TwiML out.

Each handler parses Twilio's request (`VoiceParams`, `Query`), turns it into a lifecycle event,
lets `hotline.calls.service` apply it, and renders the decision (`_render`). Where a call goes
next is decided in `hotline.calls.lifecycle`, not here. Every route checks the signature
(`twilio_params`) and answers 200 with TwiML even when something inside fails (`VoiceGuard`):
Twilio's own error message is English and hangs up.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twilio.twiml.voice_response import VoiceResponse

from hotline.calls import lifecycle as lc
from hotline.calls import service, store
from hotline.calls.models import CallState
from hotline.calls.store import StoredCall
from hotline.config import HotlineConfig
from hotline.config.checks import check_number
from hotline.ivr import params
from hotline.voice import flow
from hotline.ivr.params import VoiceParams
from hotline.ivr.signature import REFUSALS, signed_by_twilio, twilio_params
from hotline.ivr.spool import FACTS, database_away
from hotline.ivr.twiml import Renderer
from hotline.ivr.urls import Query
from hotline.records.crypto import box_for
from hotline.routing import closures
from hotline.routing.schedule import referrals_open
from hotline.routing.store import Router

log = logging.getLogger(__name__)


class TwiML(Response):
    media_type = "application/xml"


def twiml(doc: VoiceResponse) -> TwiML:
    return TwiML(doc.to_xml())


class VoiceGuard:
    """ASGI middleware: any failure of a voice webhook becomes the fallback TwiML, status 200.

    It wraps the whole route (`voice`), whose transaction commits before the answer is
    returned and rolls back on any error, so a failed step and a failed commit both arrive
    here with nothing kept, and the caller hears the fallback, never an answer describing
    changes that were lost. Refusals (403, 400, 413) are answers,
    not failures: they pass through.

    The voice pool does not ping a connection at checkout: a webhook whose connection the
    server had closed (PostgreSQL restarted, a backend terminated) is run once more from the
    start, with the same body, before answering the fallback. Nothing of the first run was
    published (its effects wait for the commit in the session's outbox), and SQLAlchemy has
    then dropped the pool's other connections of that time, so the second run gets a new
    one. Should the server have committed the first run just before the connection died
    (rare), the second finds the step applied and answers as to a retry (a step applied
    twice is recorded once); what the first would have published after its commit (a
    count, a push) is then lost: the hold's poll takes a reservation whose push was lost,
    and the sweeps end what was left waiting.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(router.prefix + "/"):
            await self.app(scope, receive, send)
            return
        started, body, kept_all, read_all, replayed = False, bytearray(), True, False, False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def kept() -> Message:  # the body, kept for a second run and the spool
            nonlocal kept_all, read_all
            message = await receive()
            if message["type"] == "http.request":
                if len(body) <= BODY_LIMIT:
                    body.extend(message.get("body", b""))
                else:
                    kept_all = False
                read_all = not message.get("more_body", False)
            return message

        async def again() -> Message:  # the kept body, then what the server has to say
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        first = dict(scope)  # the route fills in the scope as it goes
        try:
            try:
                await self.app(scope, kept, tracked)
            except Exception as exc:
                # A second run needs the whole body, read and kept, and nothing sent yet.
                if started or not (kept_all and read_all) or not connection_lost(exc):
                    raise
                log.warning("voice webhook %s lost its connection; run again", scope["path"])
                await self.app(dict(first), again, tracked)
        except Exception as exc:
            if started:  # too late to answer anything else
                raise
            request = Request(scope)
            request.app.state.webhook_errors += 1
            if database_away(exc) and scope["path"] in FACTS:
                log.error("database away: %s answered with the fallback", request.url.path)
                _spool(request, bytes(body))
            else:
                log.exception("voice webhook %s failed; answering fallback", request.url.path)
            await _failure_answer(request, bytes(body))(scope, receive, send)


def connection_lost(exc: BaseException) -> bool:
    """Did this failure come from a pooled connection the server had closed?"""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain of causes is short; never follow a cycle for ever
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


BODY_LIMIT = 64 * 1024  # a form Twilio posts is a few kilobytes


def _spool(request: Request, body: bytes) -> None:
    """Keep a fact whose webhook failed for want of the database (if Twilio signed it)."""
    state = request.app.state
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if not signed_by_twilio(request, params, state.settings):
            return
        kept = _without_numbers(params, state.settings.caller_secret)
        state.spool.append(request.url.path, request.url.query, kept, state.clock())
    except Exception:  # the caller's answer must go out whatever happens here
        log.exception("spool: the fact could not be kept")


# Parameters that carry a phone number: the caller's (From, Caller) on an inbound call, and
# on a callback's caller leg the number we called (To, Called). Our entry numbers (To on an
# inbound call) are not the caller's and stay: the replay needs them.
CALLER_NUMBERS = ("From", "Caller")


def _without_numbers(params: dict[str, str], secret: bytes) -> dict[str, str]:
    """What the spool may keep on disk: no caller's number, only its keyed hash (what the
    calls table keeps, `store.caller_hash`), read back as such by the replay."""
    kept = {k: v for k, v in params.items() if not k.endswith(("City", "State", "Zip", "Country"))}
    for name in CALLER_NUMBERS:
        if name in kept:
            hashed = store.caller_hash(secret, kept[name])
            kept[name] = f"{store.HASHED}{hashed}" if hashed else "anonymous"
    if params.get("Direction") == "outbound-api":  # a leg we placed: To is whom we called
        kept.pop("To", None)
        kept.pop("Called", None)
    return kept


async def replay(app: Any, entry: dict[str, Any]) -> None:
    """Apply one spooled fact as its webhook would have, at its own time (one transaction)."""
    handler = HANDLERS.get(entry["path"]) if entry["path"] in FACTS else None
    at = dt.datetime.fromisoformat(entry["at"])
    p, q = (
        VoiceParams.model_validate(entry["params"]),
        Query.parse(dict(parse_qsl(entry.get("query", "")))),
    )
    async with app.state.sessions() as session, session.begin():
        if handler is not None:
            await handler(Edge(app.state, session, at), p, q)


def _failure_answer(request: Request, body: bytes = b"") -> Response:
    """What to answer when a webhook failed, by whose leg it is."""
    r: Renderer = request.app.state.renderer
    path = request.url.path
    if path == "/voice/dial-result" and b"DialCallStatus=completed" in body:
        # Most likely a conversation just ended (the whisper's refusals end `completed` too,
        # but we cannot tell them apart without the database): say goodbye rather than ring
        # the backup for a caller who has just been heard.
        return twiml(r.goodbye(None))
    if path.startswith(("/voice/whisper", "/voice/callback/hold")):
        return twiml(r.whisper_declined())  # the counsellor's leg: end it, never dial from it
    if path in ("/voice/status", "/voice/callback/status"):
        return Response(status_code=204)  # status callbacks control nothing
    if path in ("/voice/callback/held", "/voice/callback/joined"):
        return twiml(r.hang_up())  # a callback's leg after its conversation: end it
    # The caller (a callback's leg too: the caller we called back is served by the backup).
    if path in ("/voice/wait", "/voice/hold-key"):
        # waitUrl TwiML may not <Dial>: leave the hold; the Enqueue action then dials the
        # backup directly (the lifecycle's Backup), instead of looping on a failing hold.
        return twiml(r.leave())
    return twiml(r.fallback())  # the caller: apology, then the backup organisation


router = APIRouter(prefix="/voice", responses=REFUSALS)


class Edge:
    """What every handler needs: the session, the app's renderer, router, settings and
    limits, and the time the request is about (now, or a spooled fact's own time)."""

    def __init__(
        self, state: Any, session: AsyncSession, now: dt.datetime, *, alone: bool = False
    ) -> None:
        self.session, self.now = session, now
        # The session has no transaction: each statement commits itself, so the handler may
        # send one, and only if it is the whole step (`service.NotAlone` otherwise).
        self.alone = alone
        self.cfg: HotlineConfig = state.cfg
        self.settings = state.settings
        self.renderer: Renderer = state.renderer
        self.router: Router = state.router
        self.limits: lc.Limits = state.limits
        self.pushes = getattr(state, "pushes", None)  # None: no REST account, no callback
        # Hold music only where a freed line pushes the caller out of the hold (REST
        # dequeue): with polling alone, a caller would hear of a line when the track ends.
        self.music = self.pushes is not None

    async def call(self, p: VoiceParams) -> StoredCall:
        """This webhook's call; a CallSid never seen (lost state) is created so it goes on."""
        if not p.valid_call_sid():
            raise HTTPException(400, "missing or malformed CallSid")
        call = await store.get_call(self.session, p.call_sid, lock=True)
        if call is not None:  # every later webhook: without computing a new one's values
            return call
        return await store.ensure_call(
            self.session,
            **self._new(p),
            now=self.now,
            new=True,  # looked up already
        )

    async def arrive(self, p: VoiceParams) -> service.Outcome:
        """Twilio's first webhook of a call: the call, most likely new, and its arrival."""
        if not p.valid_call_sid():
            raise HTTPException(400, "missing or malformed CallSid")
        return await service.arrive(
            self.session,
            self.router,
            lc.Arrived(),
            self.now,
            limits=self.limits,
            alone=self.alone,
            **self._new(p),
        )

    def _new(self, p: VoiceParams) -> dict[str, Any]:
        """What a new call is stored with."""
        period = self.cfg.period_at(self.now)
        return {
            "call_sid": p.call_sid,
            "entry": self.cfg.entry_for(p.to),
            "period_id": period.id if period else "none",
            "caller": store.caller_hash(self.settings.caller_secret, p.caller),
            "menu_id": period.menu if period else self.cfg.default_menu,  # cfg.menu_at, once
        }

    async def polled(self, p: VoiceParams) -> StoredCall:
        """A hold poll's call: marked seen as it is read when it is holding (one statement),
        otherwise read, or created, as any webhook's."""
        if p.valid_call_sid():
            call = await store.polled(self.session, p.call_sid, self.now)
            if call is not None:
                return call
        if self.alone:  # not holding: read, or created, in a transaction
            raise service.NotAlone
        return await self.call(p)

    async def apply(self, call: StoredCall, event: lc.Event) -> service.Outcome:
        return await service.apply(
            self.session, self.router, call, event, self.now, limits=self.limits, alone=self.alone
        )

    def render(
        self, call: StoredCall, decision: lc.Decision, notice: flow.Notice | None = None
    ) -> TwiML:
        """The lifecycle's decision as TwiML (hold segments and menus are rendered by their
        handlers, which know the segment and the prompt)."""
        r = self.renderer
        match decision:
            case lc.Enqueue(option_id=option, language=language):
                priority = self.cfg.option(option).priority
                return twiml(r.enqueue(flow.Enqueue(option, language, priority, notice)))
            case lc.LeaveQueue():
                return twiml(r.leave())
            case lc.Dial(line_id=line, language=language) if line in self.router.lines:
                target = self.router.lines[line].target
                return twiml(
                    r.dial(target, line_id=line, call_sid=call.call_sid, language=language)
                )
            case lc.Closed(language=language):
                return twiml(r.closed(flow.Closed(language)))
            case lc.Decline():
                return twiml(r.whisper_declined())
            case lc.Goodbye(language=language):
                return twiml(r.goodbye(language))
            case lc.CallbackBooked(language=language, until=until):
                return twiml(r.callback_booked(language, until))
            case lc.CallCaller(line_id=line):
                return twiml(r.hold_for_caller(call.id, call.call_sid, line))
            case lc.JoinCounsellor():
                return twiml(r.join_counsellor(call.id, call.call_sid, call.callback_tries + 1))
            case lc.Bridge() | lc.Nothing():
                return twiml(VoiceResponse())  # nothing to say (Bridge: Twilio joins the two)
        return twiml(r.fallback())  # Backup, or a line no longer in config: the backup serves

    async def answer(
        self, call: StoredCall, decision: lc.Decision, notice: flow.Notice | None = None
    ) -> TwiML:
        """`render`, except that a closed message says what holds now (the option's opening
        time, the keys and other lines open now), which needs the operators' closures."""
        if not isinstance(decision, lc.Closed):
            return self.render(call, decision, notice)
        info = flow.closed(
            self.cfg,
            menu_id=call.menu_id,
            option_id=call.option_id,
            language=decision.language,
            now=self.now,
            closed_by_hand=await closures.closed_ids(self.session),
        )
        return twiml(self.renderer.closed(info))

    async def staffed(self, call: StoredCall, option_id: str, language: str | None) -> bool | None:
        """May the caller who chose this option join its queue: within its hours, not closed
        by an operator, and a line on duty for it (None: the call is past choosing)."""
        if call.state == CallState.MENU:
            return await closures.may_join(
                self.session, self.cfg, self.router, option_id, language, self.now
            )
        return await service.staffed(self.session, self.router, call, option_id, language, self.now)


VoiceHandler = Callable[[Edge, VoiceParams, Query], Awaitable[Response]]
H = TypeVar("H", bound=VoiceHandler)
HANDLERS: dict[str, VoiceHandler] = {}  # by path: the routes', and the spool's replay


def voice(path: str, alone: Callable[[Any, Query], bool] | None = None) -> Callable[[H], H]:
    """Register a handler as the route at `path`, which takes only the request: FastAPI's
    solving of a route's dependencies (the session's, through an exit stack) cost more than
    the steps they stand for, written out here once.

    The signature is checked before anything else; the transaction commits before the
    answer is returned, so a failed commit reaches `VoiceGuard` like any failure, with
    nothing kept, and the caller hears the fallback rather than an answer describing
    changes that were lost.

    `alone(settings, query)`: this request's step is most likely one statement (a new call
    logged as it is inserted, a hold poll marked seen as it is read). Where the database
    allows (PostgreSQL: `state.alone_sessions`), it is tried first without a transaction,
    which saves the BEGIN and COMMIT round trips (two of three); a step that turns out to
    need more raises `service.NotAlone` before writing anything more (a hold poll's mark of
    being seen is written as the call is read, and again by the second run) and is run
    again, whole, in a transaction."""

    def register(handler: H) -> H:
        async def route(request: Request) -> Response:
            state = request.app.state
            p = VoiceParams.model_validate(await twilio_params(request))
            q = Query.parse(request.query_params)
            now = state.clock()
            if alone is not None and state.alone_sessions is not None and alone(state.settings, q):
                async with state.alone_sessions() as session:
                    try:
                        answer: Response | None = await handler(
                            Edge(state, session, now, alone=True), p, q
                        )
                    except service.NotAlone:
                        answer = None
                    # Each statement committed itself; this publishes what it left in the
                    # outbox (a new call's count), the step's answer or not.
                    await session.commit()
                if answer is not None:
                    return answer
            # Committed here, not by `session.begin()`'s block: one hand-off to SQLAlchemy's
            # greenlet fewer. On any error, closing the session rolls back at once.
            async with state.sessions() as session:
                answer = await handler(Edge(state, session, now), p, q)
                await session.commit()
                return answer

        route.__doc__ = handler.__doc__  # the schema's description
        HANDLERS[router.prefix + path] = handler
        router.add_api_route(path, route, methods=["POST"], name=handler.__name__)
        return handler

    return register


def _option_or_default(cfg: HotlineConfig, option_id: str | None) -> str:
    if option_id and cfg.has_option(option_id):
        return option_id
    return cfg.menus[cfg.default_menu].default.option or cfg.options[0].id


@voice("/incoming", alone=lambda settings, q: True)
async def incoming(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    out = await e.arrive(p)
    return twiml(e.renderer.ask(flow.start(e.cfg, out.call.menu_id)))


@voice("/menu")
async def menu(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    call = await e.call(p)
    menu_id = q.menu_id if q.menu_id in e.cfg.menus else call.menu_id
    choice = flow.choose(e.cfg, menu_id, q.attempt, p.digits)
    if isinstance(choice, flow.Ask):
        await e.apply(call, lc.MenuAnswered(menu_id, q.attempt, p.digits))
        return twiml(e.renderer.ask(choice))
    staffed = await e.staffed(call, choice.option_id, choice.language)
    event = lc.OptionChosen(
        choice.option_id,
        choice.language,
        choice.priority,
        staffed=staffed is not False,
        menu_id=menu_id,
        attempt=q.attempt,
        digits=p.digits,
        default=choice.notice is not None,
    )
    out = await e.apply(call, event)
    return await e.answer(call, out.decision, choice.notice)


def _checks(settings: Any, q: Query) -> bool:
    """Does this hold segment check the option's lines and say the place in line?"""
    return (q.segment - 1) % max(settings.announce_every, 1) == 0


@voice("/wait", alone=lambda settings, q: not _checks(settings, q))
async def wait(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    call = await e.polled(p)
    option_id = _option_or_default(e.cfg, q.option_id or call.option_id)
    language = q.language if q.language in e.cfg.languages else None
    settings = e.settings
    checks = _checks(settings, q)
    staffed: bool | None = None
    ahead: int | None = None  # counted only when it will be said
    if call.state == CallState.MENU:  # lost state: joins the hold's option
        staffed = await e.router.staffed_for(e.session, option_id, language, e.now)
    elif checks and call.state == CallState.WAITING and call.option_id:
        # Whether the option is still staffed and the place in line: one statement.
        staffed, ahead = await e.router.staffed_and_ahead(e.session, call, e.now)
    priority = e.cfg.option(option_id).priority
    out = await e.apply(call, lc.HoldPolled(option_id, language, priority, staffed))
    if not isinstance(out.decision, lc.Hold):
        return await e.answer(call, out.decision)
    if checks and ahead is None:  # the call joined the queue in this step (lost state)
        ahead = await store.waiting_ahead(e.session, call)
    option = e.cfg.option(out.decision.option_id)
    hold = flow.hold(
        out.decision.option_id,
        out.decision.language,
        q.segment,
        ahead,
        settings.announce_every,
        waited=(e.now - (call.waiting_since or call.created_at)).total_seconds(),
        max_wait=option.max_wait_seconds,
        chose=q.chose,
        # Whether this caller's number can be called is said when they press the key.
        callback=e.cfg.callback.enabled and option.callback,
        music=e.music and e.cfg.hold.music is not None,
    )
    return twiml(e.renderer.hold(hold))


@voice("/queue-result")
async def queue_result(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    call = await e.call(p)
    if q.push or p.queue_result == params.QueueResult.REDIRECTED:
        # We took the caller out of the queue (REST member update): as if the hold said
        # <Leave/>. Twilio may also request this action with `redirected` for that dequeue:
        # the same step as the push's (and the pull's) leave, so whichever comes first dials
        # the line and the others hear the same answer: one offer never dials twice.
        out = await e.apply(call, lc.QueueLeft(lc.QueueOutcome.LEAVE, "leave"))
        return e.render(call, out.decision)
    outcome = params.queue_outcome(p.queue_result, p.call_sid)
    out = await e.apply(call, lc.QueueLeft(outcome, p.queue_result))
    return e.render(call, out.decision)


async def _parent(e: Edge, q: Query) -> StoredCall | None:
    """The caller's call, on the counsellor's leg (our URL names it)."""
    return await store.get_call(e.session, q.call_sid, lock=True) if q.call_sid else None


@voice("/whisper")
async def whisper(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """Runs on the counsellor's leg once it answers (Dial <Number url=...>)."""
    call = await _parent(e, q)
    if call is None:
        return twiml(e.renderer.whisper_declined())  # the caller is gone
    out = await e.apply(call, lc.WhisperAnswered(q.line_id))
    if not isinstance(out.decision, lc.Whisper):
        return e.render(call, out.decision)
    return twiml(_whisper(e, call, q.line_id))


def _whisper(e: Edge, call: StoredCall, line_id: str) -> VoiceResponse:
    waited = (e.now - (call.waiting_since or call.created_at)).total_seconds()
    option = e.cfg.option(call.option_id).name if call.option_id else ""
    accept_url = e.renderer.urls.whisper_accept(call.call_sid, line_id)
    # A callback's counsellor is rung first: told so, and that the caller is called on 1.
    say = e.renderer.callback_whisper if call.callback_at else e.renderer.whisper
    return say(option=option, language=call.language, waited=waited, accept_url=accept_url)


@voice("/whisper-accept")
async def whisper_accept(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    call, line = await _parent(e, q), e.router.lines.get(q.line_id)
    if call is None or line is None:
        return twiml(e.renderer.whisper_declined())
    event: lc.Event = (
        lc.Accepted(q.line_id, line.org_id) if p.digits == "1" else lc.Refused(q.line_id)
    )
    out = await e.apply(call, event)
    return e.render(call, out.decision)


@voice("/dial-result")
async def dial_result(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    call = await e.call(p)
    outcome = params.dial_outcome(p.dial_call_status, p.call_sid)
    out = await e.apply(call, lc.DialEnded(q.line_id, outcome, p.dial_call_sid))
    return e.render(call, out.decision)


@voice("/status")
async def status(e: Edge, p: VoiceParams, q: Query) -> Response:
    call = await e.call(p)
    final = params.status_is_final(p.call_status)
    await e.apply(call, lc.StatusReported(p.call_status, p.sequence_number, final))
    return Response(status_code=204)


# -- callback ---------------------------------------------------------------------------------
# The caller's keys while holding (`/hold-key`), then the two legs we create through Twilio's
# REST API (hotline.ivr.pushes): the counsellor's first (the whisper above, then a hold of its
# own while the caller is called), then the caller's.


def _withheld(number: str) -> bool:
    """No number we could call back: withheld, unknown, or not a valid E.164 number."""
    if number.strip().lower() in store.ANONYMOUS:
        return True
    try:
        check_number(number)
    except ValueError:  # its text holds the number: never logged
        return True
    return False


@voice("/hold-key")
async def hold_key(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """A key pressed while holding: the callback key, its confirmation, or the choice offered
    after the option's maximum wait (1 keep waiting, 2 callback, 3 other lines open now)."""
    call = await e.call(p)
    r, cb = e.renderer, e.cfg.callback
    option_id = _option_or_default(e.cfg, call.option_id or q.option_id)
    language = call.language if call.state != CallState.MENU else (q.language or None)
    segment, key = q.segment, (p.digits or "").strip()
    chose = q.chose or q.step == "choice"  # the maximum wait's choice was offered
    if call.state == CallState.RESERVED:
        return twiml(r.leave())  # a line is held for them: take it, whatever the key
    choice = flow.choice_key(key) if q.step == "choice" else None
    if choice == "lines":
        lines = referrals_open(e.cfg, language, e.now)
        return twiml(r.lines_now(language, lines, option_id, segment))
    asked = choice == "callback" or (q.step == "" and key == cb.key)
    if q.step == "confirm" and key == cb.confirm_key:
        return await _book(e, call, p, option_id, language, segment, chose)
    if q.step == "confirm":
        return twiml(r.callback_kept(language, option_id, segment, chose=chose))
    if not asked:
        return twiml(r.back_to_hold(option_id, language, segment, chose=chose))
    offer = _offer(e, p, option_id, language)
    if not offer.ok or offer.until is None:
        why = offer.reason or "unavailable"
        return twiml(r.callback_refused(language, why, option_id, segment, chose=chose))
    number = e.cfg.callback_number or ""
    doc = r.callback_confirm(language, option_id, segment, offer.until, number, chose=chose)
    return twiml(doc)


def _offer(e: Edge, p: VoiceParams, option_id: str, language: str | None) -> flow.CallbackOffer:
    offer = flow.callback_offer(e.cfg, option_id, language, _withheld(p.caller), e.now)
    if offer.ok and e.pushes is None:  # no REST account: we could not call anyone back
        return flow.CallbackOffer(False, "unavailable", None)
    return offer


async def _book(
    e: Edge,
    call: StoredCall,
    p: VoiceParams,
    option_id: str,
    language: str | None,
    segment: int,
    chose: bool,
) -> TwiML:
    offer = _offer(e, p, option_id, language)  # again: the hours may have moved on
    if not offer.ok or offer.until is None:
        why = offer.reason or "unavailable"
        return twiml(e.renderer.callback_refused(language, why, option_id, segment, chose=chose))
    sealed = box_for(e.settings).seal(p.caller.strip())
    assert sealed is not None
    out = await e.apply(call, lc.CallbackAsked(sealed, offer.until))
    if isinstance(out.decision, lc.CallbackBooked | lc.LeaveQueue):
        return e.render(call, out.decision)
    return twiml(e.renderer.leave())  # the call moved on: its queue result decides


@voice("/callback/caller")
async def callback_caller(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """Our call to the caller answered (`step` empty): who is calling, press 1; their key
    (`step=key`): 1 joins the counsellor who is holding for them."""
    call = await _parent(e, q)
    r = e.renderer
    if call is None:
        return twiml(r.callback_not_reached(None, last=True))
    attempt, language = q.attempt, call.language
    current = call.state == CallState.CALLING and attempt == call.callback_tries + 1
    last = attempt > e.limits.callback_retries  # the last try: no promise of another
    if q.step != "key":
        if current:
            accept = r.urls.callback_caller(call.call_sid, attempt, step="key")
            return twiml(r.callback_greeting(language, accept, last=last))
        return twiml(r.callback_not_reached(language, last=call.state != CallState.CALLBACK))
    if (p.digits or "").strip() != "1":
        # Not 1 (someone else may have answered): nothing is said of why we called.
        return twiml(r.callback_not_reached(language, last=last))
    out = await e.apply(call, lc.CallerAnswered(attempt))
    if isinstance(out.decision, lc.JoinCounsellor):
        return e.render(call, out.decision)
    return twiml(r.callback_not_reached(language, last=call.state != CallState.CALLBACK))


@voice("/callback/hold")
async def callback_hold(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """The counsellor's hold while the caller is called (its waitUrl): a pause while we try;
    when the try is over without the caller, say so and end the counsellor's leg."""
    call = await _parent(e, q)
    r = e.renderer
    on_it = call is not None and call.line_id == q.line_id
    if on_it and call is not None and call.state in (CallState.CALLING, CallState.CONNECTED):
        return twiml(r.counsellor_waits())
    return twiml(r.counsellor_no_answer())


@voice("/callback/held")
async def callback_held(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """The counsellor's leg left its hold (the conversation is over, or the try): end it."""
    return twiml(e.renderer.hang_up())


@voice("/callback/joined")
async def callback_joined(e: Edge, p: VoiceParams, q: Query) -> TwiML:
    """The caller's leg after the conversation (its Dial action): end it; the leg's final
    status ends the call."""
    return twiml(e.renderer.hang_up())


@voice("/callback/status")
async def callback_status(e: Edge, p: VoiceParams, q: Query) -> Response:
    """The final status of a leg we created. The counsellor's: like a dial result of the
    line. The caller's: the try is over (not reached, or after the conversation)."""
    call = await _parent(e, q)
    if call is None or not params.status_is_final(p.call_status):
        return Response(status_code=204)
    outcome = params.dial_outcome(p.call_status, p.call_sid)
    event: lc.Event
    if q.leg == "counsellor":
        event = lc.DialEnded(q.line_id, outcome, p.call_sid)
    else:
        event = lc.CallerLegEnded(q.attempt, outcome)
    await e.apply(call, event)
    return Response(status_code=204)
