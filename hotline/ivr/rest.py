"""Twilio's REST API, through the `twilio` library's client, behind one small class.

The service asks Twilio what a webhook could not tell it (the true status of a call whose
callbacks were lost: reconciliation), places outbound calls (callbacks), redirects or ends a
call, takes a waiting caller out of a queue to a counsellor (pushed reservations), and keeps
the queues themselves: created or resized, their SIDs kept, deleted (`hotline.ivr.queues`). The
client is twilio's own `Client`, with the processing region and edge of the settings
(`HOTLINE_TWILIO_REGION`, `HOTLINE_TWILIO_EDGE`: jp1 and tokyo, so api.tokyo.jp1.twilio.com).
Tests and benchmarks set `HOTLINE_TWILIO_API_BASE`: the client still builds every URL
for that region and edge, and its transport (`StandInHttpClient`) sends it to the local
stand-in on 127.0.0.1 with the intended host in `Host`, so the production code path is the
one tested, region and edge included.

Requests go through twilio's asynchronous transport (`AsyncTwilioHttpClient`, aiohttp, a
dependency of twilio itself) and its `*_async` methods: a burst of callbacks or dequeues waits
on the network, not in a small pool of worker threads, and connections to Twilio are kept
alive. Two things of that transport are worked around here: its aiohttp session belongs to an
event loop, so it is made on first use inside the running loop (`create_app` runs outside one)
and closed by `aclose`; and it passes no timeout to aiohttp (its own is ignored), so every
request is bounded by `asyncio.timeout`.

Errors are two kinds: `TwilioUnavailable` (network, 5xx, 429, timeout: try again later) and
`TwilioRejected` (other 4xx: an invalid number, a call or queue member that is not there).
Neither carries Twilio's message, which can quote the number called; only the HTTP status and
Twilio's error code. Nothing here logs a phone number: only call SIDs and error codes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal, NoReturn
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from hotline.ivr.stand_in import TwilioApi
from hotline.voice.params import FINAL_STATUSES, printable

log = logging.getLogger(__name__)


class TwilioFailure(RuntimeError):
    """A REST request to Twilio did not do what was asked."""


class TwilioUnavailable(TwilioFailure):
    """Twilio did not answer (network, 5xx, timeout): the caller decides what to do without."""


class TwilioRejected(TwilioFailure):
    """Twilio answered no (4xx): asking again the same way will not help."""

    def __init__(self, status: int | None, code: int | None) -> None:
        super().__init__(f"Twilio rejected the request: HTTP {status}, code {code}")
        self.status = status
        self.code = code  # Twilio's error code (21211: invalid 'To' number), never the number


@dataclass(frozen=True, slots=True)
class CallStatusAnswer:
    status: str

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class CreatedCall:
    sid: str
    status: str


# Twilio's bounds on a queue's MaxSize (the Queue resource: default 1000, maximum 5000;
# error 14207 when an <Enqueue> finds the queue full).
QUEUE_MAX_SIZE = 5000
CALLBACK_QUEUES_KEPT = 10_000  # SIDs of callback queues kept (the sweep deletes the others)


@dataclass(frozen=True, slots=True)
class QueueSetUp:
    """One queue as `ensure_queue` left it: `done` is created, updated or unchanged."""

    name: str
    sid: str
    max_size: int
    done: Literal["created", "updated", "unchanged"]


def _failed(action: str, sid: str, e: BaseException) -> NoReturn:
    """Raise the error of our kind for what went wrong, logging only the SID and the code."""
    status, code = getattr(e, "status", None), getattr(e, "code", None)
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        log.warning("Twilio REST: %s %s refused: HTTP %s, code %s", action, sid, status, code)
        raise TwilioRejected(status, code if isinstance(code, int) else None) from None
    log.warning("Twilio REST: %s %s failed: %s", action, sid, _what(e, status))
    raise TwilioUnavailable(type(e).__name__) from None


def _what(e: BaseException, status: object = None) -> str:
    """What went wrong, never Twilio's message (it can quote a number): the error's class,
    then the HTTP status, or the host that did not answer, or that time ran out."""
    what = type(e).__name__
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"{what}: cannot connect to {e.host}:{e.port}"
    if isinstance(e, TimeoutError):
        return f"{what}: no answer in time"
    return f"{what}: HTTP {status}" if status else what


class StandInHttpClient(AsyncTwilioHttpClient):
    """twilio's transport, sending every request to a local stand-in of Twilio's REST API
    instead of the host the client chose: the URL is the one production would reach (with
    its region and edge: api.tokyo.jp1.twilio.com), and that host goes along in the `Host`
    header, so that the stand-in shows which region and edge each request was for."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url)

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        meant = urlsplit(url)
        local = meant._replace(scheme=self.base.scheme, netloc=self.base.netloc).geturl()
        headers = {**(headers or {}), "Host": meant.netloc}
        if auth is not None:  # as a header: aiohttp deprecates its `auth` argument
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        return await super().request(
            method, local, params, data, headers, None, timeout, allow_redirects
        )


class TwilioRest:
    """The REST calls this service makes, each one method.

    `region` and `edge`: Twilio's processing region and edge (empty: the US default).
    `api_key` and `api_secret`: an API key of the account, used instead of the auth token
    when given (a region other than us1 needs credentials made in it). `base_url`: a local
    stand-in of Twilio's REST API (tests). `stand_in`: a development service's own, answered
    in its process (`hotline.ivr.dev_account.DevRest`)."""

    def __init__(  # noqa: PLR0913 - the settings' REST access, each one argument
        self,
        account_sid: str,
        auth_token: str,
        base_url: str | None = None,
        timeout: float = 5,
        *,
        region: str = "",
        edge: str = "",
        api_key: str = "",
        api_secret: str = "",
        stand_in: TwilioApi | None = None,
    ) -> None:
        # Its transport is set on first use, in the running event loop (`_ready`).
        user, password = (api_key, api_secret) if api_key else (account_sid, auth_token)
        self.client = Client(
            user, password, account_sid=account_sid, region=region or None, edge=edge or None
        )
        self.base_url = base_url
        self.timeout = timeout
        # A development service's own stand-in, answered in its process (`dev_account`): it
        # places callbacks only; nothing is pushed to it, set up or reconciled with it.
        self.stand_in = stand_in
        self._http: AsyncTwilioHttpClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, str] = {}  # friendly name -> queue SID; a queue's SID never changes
        self._callback_queues: dict[str, str] = {}  # a callback's CallSid -> its queue's SID
        self._setting_up = asyncio.Lock()  # one set-up at a time (start-up, upkeep)
        self.queues_set_up = False  # the options' queues created or updated (ivr/queues.py)

    def _ready(self) -> Client:
        """The client, with an aiohttp session of the running loop."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            self._http = self._transport()
            self._loop, self._setting_up = loop, asyncio.Lock()
            self.client.http_client = self._http
        return self.client

    def _transport(self) -> AsyncTwilioHttpClient:
        """twilio's transport: to Twilio, or to the stand-in at `base_url`."""
        if self.base_url:
            return StandInHttpClient(self.base_url, timeout=self.timeout)
        return AsyncTwilioHttpClient(timeout=self.timeout)

    @property
    def pushes(self) -> bool:
        """A REST account that runs the hold (Twilio, or a stand-in given by
        HOTLINE_TWILIO_API_BASE): freed lines are pushed to it, its queues set up."""
        return self.stand_in is None

    async def aclose(self) -> None:
        """Close the connections to Twilio (at shutdown)."""
        if self._http is not None and self._loop is asyncio.get_running_loop():
            await self._http.close()
        self._http = self._loop = None

    async def call_status(self, call_sid: str) -> CallStatusAnswer:
        """The call's status as Twilio knows it now; any failure is `TwilioUnavailable`."""
        client = self._ready()
        try:
            async with asyncio.timeout(self.timeout):
                call = await client.calls(call_sid).fetch_async()
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            log.warning("Twilio REST: no status for call %s: %s", printable(call_sid), _what(e))
            raise TwilioUnavailable(str(type(e).__name__)) from None
        return CallStatusAnswer(str(call.status))

    async def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        timeout: int = 25,
        sip_auth: tuple[str, str] | None = None,
        fallback_url: str | None = None,
        machine_detection: Literal["Enable"] | None = None,
    ) -> CreatedCall:
        """Place an outbound call: Twilio fetches `url` (POST) when it is answered, and posts
        only the final status to `status_callback`. `timeout`: seconds it may ring.
        `sip_auth`: (username, password) for a SIP line's digest challenge. `fallback_url`:
        what Twilio fetches (POST) when `url` fails or does not answer in time.
        `machine_detection`: Twilio's answering-machine detection (`url` gets AnsweredBy)."""
        client = self._ready()
        auth: dict[str, str] = {}
        if sip_auth is not None:
            auth = {"sip_auth_username": sip_auth[0], "sip_auth_password": sip_auth[1]}
        if fallback_url is not None:
            auth |= {"fallback_url": fallback_url, "fallback_method": "POST"}
        if machine_detection is not None:
            auth["machine_detection"] = machine_detection
        try:
            async with asyncio.timeout(self.timeout):
                call = await client.calls.create_async(
                    to=to,
                    from_=from_,
                    url=url,
                    method="POST",
                    status_callback=status_callback,
                    status_callback_method="POST",
                    status_callback_event=["completed"],
                    timeout=timeout,
                    **auth,
                )
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("create call", "-", e)
        log.info("Twilio REST: created call %s", printable(call.sid, 64))
        return CreatedCall(sid=str(call.sid), status=str(call.status))

    async def update_call(
        self,
        sid: str,
        *,
        twiml: str | None = None,
        url: str | None = None,
        status: Literal["canceled", "completed"] | None = None,
    ) -> None:
        """Make a live call run other TwiML (given, or fetched from `url` by POST), or end it:
        `canceled` for one still ringing or queued, `completed` for one in progress."""
        if twiml is None and url is None and status is None:
            raise ValueError("update_call needs twiml, url or status")
        client = self._ready()
        options: dict[str, str] = {}
        if twiml is not None:
            options["twiml"] = twiml
        if url is not None:
            options.update(url=url, method="POST")
        if status is not None:
            options["status"] = status
        try:
            async with asyncio.timeout(self.timeout):
                await client.calls(sid).update_async(**options)
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("update call", printable(sid, 64), e)

    async def dequeue(self, queue_name: str, call_sid: str, url: str) -> None:
        """Take a waiting caller out of the queue of that name: the call leaves `<Enqueue>` and
        runs the TwiML at `url` (POST). A call not in that queue is `TwilioRejected`."""
        client = self._ready()
        try:
            async with asyncio.timeout(self.timeout):
                queue_sid = self._queue_sid(queue_name)
                await (
                    client.queues(queue_sid).members(call_sid).update_async(url=url, method="POST")
                )
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("dequeue call", printable(call_sid, 64), e)

    def remember_queue(self, name: str, sid: str) -> None:
        """Keep a queue's SID that Twilio told us otherwise (a waitUrl's `QueueSid`)."""
        if sid.startswith("QU") and len(sid) <= 64:
            self._queues[name] = sid

    def remember_callback_queue(self, call_sid: str, sid: str) -> None:
        """Keep the SID of the queue a callback's counsellor holds in (the counsellor's
        waitUrl names it), by the callback's CallSid: a bounded few, dropped oldest first."""
        if sid.startswith("QU") and len(sid) <= 64:
            self._callback_queues[call_sid] = sid
            while len(self._callback_queues) > CALLBACK_QUEUES_KEPT:
                del self._callback_queues[next(iter(self._callback_queues))]

    def callback_queue_sid(self, call_sid: str) -> str | None:
        """The SID kept for that callback's queue (taken: it is asked for once, to delete)."""
        return self._callback_queues.pop(call_sid, None)

    def queue_sid(self, name: str) -> str | None:
        """The SID kept for that queue, if any (no request)."""
        return self._queues.get(name)

    def _queue_sid(self, name: str) -> str:
        """The SID of the queue of that friendly name, as kept by `ensure_queues` (at start-up
        or by `hotline twilio setup`) or told by a hold poll. Never a listing of every queue
        inside a push's timeout: an unknown queue is `TwilioUnavailable`, and the caller's
        next poll does what the push could not."""
        sid = self._queues.get(name)
        if sid is None:
            log.warning("Twilio REST: no SID kept for queue %s", printable(name))
            raise TwilioUnavailable("queue SID unknown")
        return sid

    async def list_queues(self) -> dict[str, tuple[str, int, int]]:
        """Every queue of the account: friendly name -> (SID, MaxSize, CurrentSize). Off the
        webhooks only (set-up, the upkeep's sweep): it pages through all of them."""
        client = self._ready()
        found: dict[str, tuple[str, int, int]] = {}
        try:
            async with asyncio.timeout(self.timeout * 6):
                for q in await client.queues.list_async(page_size=1000):
                    name = str(q.friendly_name)
                    found.setdefault(
                        name, (str(q.sid), int(q.max_size or 0), int(q.current_size or 0))
                    )
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("list queues", "-", e)
        self._queues.update({name: sid for name, (sid, _, _) in found.items()})
        return found

    async def ensure_queues(self, names: list[str], max_size: int) -> list[QueueSetUp]:
        """Create each named queue, or set its MaxSize, keeping their SIDs: run twice, the
        second changes nothing (one listing, then only what differs)."""
        max_size = max(1, min(max_size, QUEUE_MAX_SIZE))
        self._ready()
        async with self._setting_up:  # two at once would both create a missing queue
            return await self._ensure(names, max_size)

    async def _ensure(self, names: list[str], max_size: int) -> list[QueueSetUp]:
        existing = await self.list_queues()
        done = []
        for name in names:
            made = None
            if name not in existing:
                try:
                    made = await self._create(name, max_size)
                except TwilioRejected:
                    # Made meanwhile (another instance starting, a caller's <Enqueue>): that
                    # one is set to the size instead.
                    existing = await self.list_queues()
                    if name not in existing:
                        raise
            done.append(made or await self._resize(name, *existing[name][:2], max_size))
            self._queues[name] = done[-1].sid
        return done

    async def _create(self, name: str, max_size: int) -> QueueSetUp:
        client = self._ready()
        try:
            async with asyncio.timeout(self.timeout):
                q = await client.queues.create_async(friendly_name=name, max_size=max_size)
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("create queue", printable(name, 64), e)
        return QueueSetUp(name, str(q.sid), max_size, "created")

    async def _resize(self, name: str, sid: str, size: int, max_size: int) -> QueueSetUp:
        if size == max_size:
            return QueueSetUp(name, sid, max_size, "unchanged")
        client = self._ready()
        try:
            async with asyncio.timeout(self.timeout):
                await client.queues(sid).update_async(max_size=max_size)
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            _failed("resize queue", printable(name, 64), e)
        return QueueSetUp(name, sid, max_size, "updated")

    async def delete_queue(self, name: str, sid: str | None = None) -> bool:
        """Delete the (empty) queue of that name; False when its SID is not known here (the
        upkeep's sweep finds it). A queue already gone counts as deleted."""
        sid = sid or self._queues.get(name)
        if sid is None:
            return False
        client = self._ready()
        try:
            async with asyncio.timeout(self.timeout):
                await client.queues(sid).delete_async()
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            if getattr(e, "status", None) != 404:
                _failed("delete queue", printable(name, 64), e)
        self._queues.pop(name, None)
        log.info("Twilio REST: queue %s deleted", printable(name, 64))
        return True
