"""`VoiceGuard`: any failure of a voice webhook becomes the fallback TwiML, status 200.

Twilio's own error message is English and hangs up, so a voice route never fails in its
eyes. The guard wraps the whole route (`hotline.ivr.webhooks.voice`), whose unit of work
commits before the answer is returned and rolls back on any error, so a failed step and a
failed commit both arrive here with nothing kept, and the caller hears the fallback, never
an answer describing changes that were lost. Refusals (403, 400, 413) are answers, not
failures: they pass through.

Every voice webhook answers within `Settings.webhook_deadline_seconds` (8 s by default, well
inside the 15 s after which Twilio gives up and plays the number's static fallback): past it
the route is cancelled and the caller hears the same failure answer (`DeadlinePassed`); a
fact-carrying webhook's fact is spooled, as when the database refused (docs/faults.md).

The voice pool does not ping a connection at checkout: a webhook whose connection the
server had closed (PostgreSQL restarted, a backend terminated) is run once more from the
start, with the same body, before answering the fallback (`connection_lost`). Nothing of the
first run was published (its effects wait for the commit in its unit of work), and
SQLAlchemy has then dropped the pool's other connections of that time, so the second run
gets a new one. Should the server have committed the first run just before the connection
died (rare), the second finds the step applied and answers as to a retry (a step applied
twice is recorded once); what the first would have published after its commit (a count, a
push) is then lost: the hold's poll takes a reservation whose push was lost, and the sweeps
end what was left waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import Request
from sqlalchemy.exc import DBAPIError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twilio.twiml.voice_response import VoiceResponse

from hotline.ivr import twiml_conference
from hotline.ivr.signature import signed_by_twilio
from hotline.ivr.spool import FACTS, database_away
from hotline.ivr.twiml import Renderer
from hotline.services import Services
from hotline.voice import flow
from hotline.voice.spooled import without_numbers
from hotline.voice.urls import Query

log = logging.getLogger(__name__)

BODY_LIMIT = 64 * 1024  # a form Twilio posts is a few kilobytes


class TwiML(Response):
    media_type = "application/xml"


def twiml(doc: VoiceResponse) -> TwiML:
    return TwiML(doc.to_xml())


class DeadlinePassed(TimeoutError):
    """The webhook did not answer within `Settings.webhook_deadline_seconds`."""


class VoiceGuard:
    """ASGI middleware over the voice routes (under `prefix`): see the module's docstring."""

    def __init__(self, app: ASGIApp, *, services: Services, prefix: str) -> None:
        self.app, self.services, self.prefix = app, services, prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(receive, send)
        try:
            await self._within_deadline(scope, exchange)
        except Exception as exc:
            if exchange.started:  # too late to answer anything else
                raise
            await self._failed(scope, receive, send, bytes(exchange.body), exc, exchange.complete)

    async def _within_deadline(self, scope: Scope, exchange: _Exchange) -> None:
        """The route (`_run`), given `webhook_deadline_seconds` to answer, well inside the 15 s
        after which Twilio plays the number's static fallback. Past it, the caller hears ours
        (`failure_answer`) at once: the route is cancelled in its own task and left to end
        there (rolling back, giving its connection up, against a database that may be
        stalled) rather than awaited; nothing it says then is sent."""
        route = asyncio.create_task(self._run(scope, exchange))
        done, _ = await asyncio.wait(
            {route}, timeout=self.services.settings.webhook_deadline_seconds
        )
        if route in done:
            return route.result()
        if exchange.started:  # answering already: let it finish
            return await route
        exchange.closed = True
        route.cancel()
        self.services.late_webhooks.add(route)
        route.add_done_callback(_forget(self.services.late_webhooks))
        raise DeadlinePassed(
            f"no answer within {self.services.settings.webhook_deadline_seconds} s"
        )

    async def _run(self, scope: Scope, exchange: _Exchange) -> None:
        """The route, and once more if its connection had been closed by the server."""
        first = dict(scope)  # the route fills in the scope as it goes
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            # A second run needs the whole body, read and kept, and nothing sent yet.
            if exchange.started or not exchange.complete or not connection_lost(exc):
                raise
            log.warning("voice webhook %s lost its connection; run again", scope["path"])
            await self.app(dict(first), exchange.again, exchange.send)

    async def _failed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        exc: Exception,
        complete: bool,
    ) -> None:
        """Count the failure, keep its fact if the database was away, answer the fallback."""
        request = Request(scope)
        self.services.webhook_errors += 1
        # A step past its deadline waited for the database (a webhook does nothing else that
        # takes time): its fact is kept, as when the database refused (replay is idempotent).
        away = isinstance(exc, DeadlinePassed) or database_away(exc)
        if away and scope["path"] in FACTS and complete:
            log.error("database away: %s answered with the fallback", request.url.path)
            await _spool(self.services, request, body)
        elif away:
            # One line, no traceback: during an outage every hold poll lands here, and a
            # busy hold's tracebacks would bury everything else in the log.
            log.warning(
                "database away (%s): %s answered without it",
                type(exc).__name__,
                request.url.path,
            )
        else:
            log.exception("voice webhook %s failed; answering fallback", request.url.path)
        answer = failure_answer(
            self.services.renderer,
            request.url.path,
            body,
            query=Query.parse(request.query_params),
            hold_failures=self.services.settings.hold_failures,
        )
        await answer(scope, receive, send)


class _Exchange:
    """One webhook's messages: the body kept as it is read (for a second run and the
    spool), and whether the answer has started."""

    __slots__ = (
        "_receive",
        "_send",
        "body",
        "closed",
        "complete",
        "kept_all",
        "replayed",
        "started",
    )

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send
        self.body = bytearray()
        self.started = self.replayed = self.complete = self.closed = False
        self.kept_all = True

    async def send(self, message: Message) -> None:
        if self.closed:  # past the deadline: the guard answers instead
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def receive(self) -> Message:  # the body, kept
        message = await self._receive()
        if message["type"] == "http.request":
            if len(self.body) <= BODY_LIMIT:
                self.body.extend(message.get("body", b""))
            else:
                self.kept_all = False
            self.complete = self.kept_all and not message.get("more_body", False)
        return message

    async def again(self) -> Message:  # the kept body, then what the server has to say
        if self.replayed:
            return await self._receive()
        self.replayed = True
        return {"type": "http.request", "body": bytes(self.body), "more_body": False}


def _forget(late: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        late.discard(task)
        if not task.cancelled() and task.exception() is not None:  # retrieved: logged here
            log.warning("a voice webhook past its deadline ended with %r", task.exception())

    return done


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


async def _spool(services: Services, request: Request, body: bytes) -> None:
    """Keep a fact whose webhook failed for want of the database (if Twilio signed it); the
    fsync'd append runs in a thread, off the event loop."""
    settings = services.settings
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if not signed_by_twilio(request, params, settings):
            return
        kept = without_numbers(params, settings.caller_secret)
        at = services.clock()
        await services.spool.append_async(request.url.path, request.url.query, kept, at)
    except Exception:  # the caller's answer must go out whatever happens here
        log.exception("spool: the fact could not be kept")


STATUS_CALLBACKS = (
    "/voice/status",
    "/voice/callback/status",
    "/voice/leg-status",
    "/voice/conference",
    "/voice/party-status",
)


def failure_answer(
    r: Renderer, path: str, body: bytes = b"", *, query: Query | None = None, hold_failures: int = 3
) -> Response:
    """What to answer when a webhook failed, by whose leg it is (`query`: the request's;
    `hold_failures`: how many failed hold polls or keys in a row keep the caller holding)."""
    if path == "/voice/dial-result" and b"DialCallStatus=completed" in body:
        # Most likely a conversation just ended (the whisper's refusals end `completed` too,
        # but we cannot tell them apart without the database): say goodbye rather than ring
        # the backup for a caller who has just been heard.
        return twiml(r.goodbye(None))
    if path == "/voice/callback/hold" and query is not None:
        # A callback's counsellor waiting in the call's conference (its waitUrl: no Hangup
        # there, error 13238): a pause and ask again.
        return twiml(
            twiml_conference.counsellor_waits(r, query.call_sid, query.line_id, over=False)
        )
    if path.startswith(("/voice/whisper", "/voice/callback/hold")):
        return twiml(r.whisper_declined())  # the counsellor's leg: end it, never dial from it
    if path in STATUS_CALLBACKS:
        return Response(status_code=204)  # status callbacks control nothing
    if path == "/voice/requeue" and query is not None and r.cfg.has_option(query.option_id):
        # Out of the conference, back in the queue of the call's option (in our URL): the
        # call is still waiting in our records, and its place kept.
        priority = r.cfg.option(query.option_id).priority
        lang = query.language or None
        return twiml(r.enqueue(flow.Enqueue(query.option_id, lang, priority, None)))
    if path in ("/voice/callback/held", "/voice/callback/joined"):
        return twiml(r.hang_up())  # a callback's leg after its conversation: end it
    # The caller (a callback's leg too: the caller we called back is served by the backup).
    if path in ("/voice/wait", "/voice/hold-key"):
        return twiml(_failed_hold(r, query or Query(), hold_failures))
    return twiml(r.fallback())  # the caller: apology, then the backup organisation


def _failed_hold(r: Renderer, q: Query, limit: int) -> VoiceResponse:
    """A hold poll or key failed: a blip (a failover, one slow statement) must not take the
    caller out of the queue. The caller hears a hold segment made without the database and
    stays in Twilio's queue and in ours (the call is still waiting: a line may be offered at
    the next poll); the segment's URLs carry the count of failures in a row, which a poll
    the database answers drops. Past `limit` of them the hold is failing, not blipping:
    waitUrl TwiML may not <Dial>, so the caller leaves the hold and the Enqueue action dials
    the backup directly (the lifecycle's Backup) instead of looping on a failing hold."""
    failures = q.failures + 1
    if failures > limit:
        return r.leave()
    return r.hold_without_database(q, failures)
