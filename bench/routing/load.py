"""The hold's load generator: callers polling /voice/wait signed as Twilio signs them,
over one httpx client whose connections are spread over small pools."""

from __future__ import annotations

import ssl
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

import httpx

from hotline.testing.secrets import TEST_TOKEN
from hotline.testing.twilio_requests import Signer, inbound_params, numbered_caller

TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s (then the fallback URL)
POOL_SIZE = 10  # connections per pool of the load generator (see ShardedTransport)


@dataclass
class HoldStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # the first of each kind
    leaves: int = 0
    callers: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0  # the whole PostgreSQL server (every database)
    connections: int = 0  # connections the service opened to its database
    client_cpu: float = 0.0
    machine: float = 0.0  # share of all CPUs busy during the run
    inside: dict[float, float] | None = None  # the service's own histogram of /voice/wait
    pauses: list[float] = field(default_factory=list)  # each answered segment's <Pause>
    left: dict[str, float] = field(default_factory=dict)  # CallSid -> monotonic time of <Leave>

    @property
    def timeouts(self) -> int:
        """Polls Twilio would have given up on (no answer within its 15 s)."""
        return sum(n for kind, n in self.errors.items() if kind.endswith("Timeout"))

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, what[:300])


def hold_params(sid: str, position: int, waited: float, size: int) -> dict[str, str]:
    """What Twilio posts to the waitUrl of a caller in the queue."""
    return {
        **inbound_params(sid, numbered_caller(position)),
        "QueueSid": "QU" + "0" * 32,
        "QueuePosition": str(position),
        "QueueTime": str(int(waited)),
        "AvgQueueTime": str(int(waited)),
        "CurrentQueueSize": str(size),
    }


@dataclass(frozen=True)
class Held:
    """A hold answered: where Twilio goes next (the <Redirect>) and after how long (the
    segment's <Pause>, which Twilio plays first)."""

    url: str
    pause: float


class Poller:
    """Signs and posts hold polls as Twilio does; records latency and checks the TwiML."""

    def __init__(
        self, client: httpx.AsyncClient, stats: HoldStats, token: str = TEST_TOKEN
    ) -> None:
        self.client, self.stats = client, stats
        self.signer = Signer(token)  # the service's auth token (hotline_env's, by default)

    async def poll(self, url: str, params: dict[str, str], position: int) -> Held | None:
        """The next wait URL and the pause before it; None if the caller left the hold.

        A caller leaves on <Leave> (a line was reserved: the moment is kept in `left`) and
        on an error: Twilio then requests the fallback URL (not simulated here), so that
        caller polls no more.
        """
        headers = self.signer.headers(url, params)
        pool = {"bench_pool": position}  # see ShardedTransport
        start = time.perf_counter()
        try:
            resp = await self.client.post(url, data=params, headers=headers, extensions=pool)
        except httpx.HTTPError as e:
            # A timeout counts in the latencies too, as the time it took to give up.
            self.stats.latencies.append(time.perf_counter() - start)
            self.stats.error(type(e).__name__, repr(e))
            return None
        self.stats.latencies.append(time.perf_counter() - start)
        if resp.status_code != 200:
            self.stats.error(f"HTTP {resp.status_code}", f"{resp.status_code} {resp.text}")
            return None
        try:
            doc = ET.fromstring(resp.content)
        except ET.ParseError:
            self.stats.error("not XML", resp.text)
            return None
        tags = {el.tag for el in doc}
        if "Leave" in tags:
            self.stats.leaves += 1
            self.stats.left[params["CallSid"]] = time.monotonic()
            return None
        redirect, pause = doc.find("Redirect"), doc.find(".//Pause")
        if redirect is None or not redirect.text or tags & {"Dial", "Hangup"}:
            self.stats.error("not a hold", resp.text)  # closed, or the fallback (apology, Dial)
            return None
        if pause is None:  # music: a track of unknown length (the bench turns music off)
            self.stats.error("a hold without <Pause>", resp.text)
            return None
        seconds = float(pause.get("length") or 1)  # Twilio's default length is 1 s
        self.stats.pauses.append(seconds)
        return Held(redirect.text, seconds)


class ShardedTransport(httpx.AsyncBaseTransport):
    """One client's connections kept in several pools, each caller always in the same one.

    httpcore 1.0's pool walks its connections whenever a request starts or ends: a poll() of
    each idle socket, and a count of the idle ones for each connection (quadratic). With
    2,000 connections in one pool the load generator, not the service, set the pace: about
    20 requests/s with the whole CPU busy. Pools of POOL_SIZE connections keep that small.
    """

    def __init__(self, pools: int, connections: int, keepalive: float) -> None:
        per_pool = -(-connections // pools) + 1
        limits = httpx.Limits(
            max_connections=per_pool, max_keepalive_connections=per_pool, keepalive_expiry=keepalive
        )
        tls = ssl.create_default_context()  # one for all (loading the CA file takes ~20 ms)
        self.pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls) for _ in range(pools)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self.pools[int(request.extensions.get("bench_pool", 0)) % len(self.pools)]
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()
