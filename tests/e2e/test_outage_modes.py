"""Every fault mode, one scenario: a live `hotline serve` on PostgreSQL with two callers talking
and three holding; the fault begins; during it the holding callers' polls come, one
conversation ends (its dial result and its status callback) and a new caller arrives and
hangs up; the fault ends. After it: every line free or held by a call still talking, every
call in its true state, the report's figures exact, the spool empty, and every caller who was
holding still holding.

Every mode runs on a private cluster (`hotline.testing.pgcluster`), never the shared one: some
stop, restart or starve it. The service reaches it through a proxy the test can cut or stall
(`hotline.testing.proxy`) for the faults of the network and the process, and straight for
PostgreSQL's own, so that it meets the server's own answers. Twilio's REST stand-in says every
call is still in progress, so reconciliation cannot end the conversation that ended during
the fault: only the facts Twilio reported can. Waits are polls with a deadline, never fixed
sleeps."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import xml.etree.ElementTree as ET
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hotline.testing import pgcluster
from hotline.testing.databases import admin, plain_url
from hotline.testing.pgcluster import PrivateCluster, private_cluster
from hotline.testing.proxy import CuttableProxy, cuttable_proxy
from hotline.testing.servers import LiveServer
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import new_sid
from tests.e2e.faultkit import (
    ACCOUNT,
    TOKEN,
    Twilio,
    eventually,
    report,
    serve,
    spool_empty,
    through,
)
from tests.e2e.faultkit import take as snapshot

pytestmark = pytest.mark.e2e
T = TypeVar("T")
# Small bounds, so that a fault that holds packets or statements costs seconds, not minutes.
DEADLINES = {
    "HOTLINE_WEBHOOK_DEADLINE_SECONDS": "2",
    "HOTLINE_DB_CONNECT_TIMEOUT_SECONDS": "1",
    "HOTLINE_DB_COMMAND_TIMEOUT_SECONDS": "1",
    "HOTLINE_DB_POOL_TIMEOUT_SECONDS": "1",
}
TWILIO_WAITS = 14  # seconds: Twilio gives up at 15 and plays the number's static fallback


class Hand:
    """The test's own long-lived PostgreSQL connections (a lock held, slots taken), on an
    event loop in a thread of its own, beside the test's blocking code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conns: list[asyncpg.Connection] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def release(self) -> None:
        async def close() -> None:
            conns, self.conns = self.conns, []
            for conn in conns:
                conn.terminate()

        self.run(close())

    def close(self) -> None:
        self.release()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@dataclass
class Stage:
    """Everything a fault acts on: the cluster, the database, the proxy, the live server."""

    cluster: PrivateCluster
    database: str  # the service role's URL, straight to the cluster
    proxy: CuttableProxy
    api: TwilioApi
    tmp: Path
    hand: Hand
    proxied: bool  # the service reaches PostgreSQL through the proxy, or straight
    twilio: Twilio = field(init=False)
    servers: ExitStack = field(default_factory=ExitStack)
    logs: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return make_url(self.database).database or ""

    @property
    def log(self) -> Path:
        return self.logs[-1]

    def start_server(self) -> LiveServer:
        self.logs.append(self.tmp / f"serve-{len(self.logs)}.log")
        served = serve(
            through(self.proxy, self.database) if self.proxied else self.database,
            self.log,
            self.tmp / "spool",
            self.api,
            **DEADLINES,
        )
        server = next(served)
        self.servers.callback(served.close)
        return server

    def admin(self, *statements: str) -> None:
        asyncio.run(admin(self.cluster.admin_url, *statements))

    def on_database(self, *statements: str) -> None:
        """Statements run by the superuser on the test's database."""
        asyncio.run(admin(self.superuser_url, *statements))

    @property
    def superuser_url(self) -> str:
        return plain_url(self.cluster.url(self.name, role="postgres"))

    def terminate_service(self, keep: list[int] | None = None) -> str:
        """The statement ending the service's backends (every backend on its database but
        the test's own `keep`)."""
        spared = ",".join(str(pid) for pid in [0, *(keep or [])])
        return (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid NOT IN ({spared})"
        )


class Fault:
    name = ""
    # Faults of the network or the process go through the proxy; PostgreSQL's own are met
    # straight, so that the service sees the server's own answers (57P03, 53300, 55000).
    proxied = False

    def begin(self, stage: Stage) -> None:
        raise NotImplementedError

    def end(self, stage: Stage) -> None:
        raise NotImplementedError


class Refused(Fault):
    """Connection refused: the proxy cut, every connection closed, none accepted."""

    name = "refused"
    proxied = True

    def begin(self, stage: Stage) -> None:
        stage.proxy.cut()

    def end(self, stage: Stage) -> None:
        stage.proxy.restore()


class Stalled(Fault):
    """Packets stalled both ways: nothing refused, nothing answered."""

    name = "stalled"
    proxied = True

    def begin(self, stage: Stage) -> None:
        stage.proxy.stall()

    def end(self, stage: Stage) -> None:
        stage.proxy.flow()


class NotAccepting(Fault):
    """`ALLOW_CONNECTIONS false`, then the service's backends terminated by an operator."""

    name = "allow-connections-false"

    def begin(self, stage: Stage) -> None:
        stage.admin(
            f'ALTER DATABASE "{stage.name}" ALLOW_CONNECTIONS false', stage.terminate_service()
        )

    def end(self, stage: Stage) -> None:
        stage.admin(f'ALTER DATABASE "{stage.name}" ALLOW_CONNECTIONS true')


class Stopped(Fault):
    """`pg_ctl stop -m fast` ... `pg_ctl start`: a restart held open between its stop and its
    start. Every backend is ended ("terminating connection due to administrator command"),
    then connections are refused until the server is back."""

    name = "pg-ctl-stop-fast-start"

    def begin(self, stage: Stage) -> None:
        stage.cluster.ctl("-m", "fast", "stop")

    def end(self, stage: Stage) -> None:
        stage.cluster.start()


class Restarted(Fault):
    """`pg_ctl restart -m fast`, whole: the server is back when the requests come, but every
    connection the service holds was ended by it."""

    name = "pg-ctl-restart-fast"

    def begin(self, stage: Stage) -> None:
        stage.cluster.ctl("-m", "fast", "restart")

    def end(self, stage: Stage) -> None:
        pass


class SlotsExhausted(Fault):
    """Another client takes every connection slot the service's role may use ("sorry, too
    many clients already", "remaining connection slots are reserved"), and the service's own
    backends are ended, so that it has to ask for new ones."""

    name = "slots-exhausted"

    def begin(self, stage: Stage) -> None:
        stage.hand.run(self._exhaust(stage))

    async def _exhaust(self, stage: Stage) -> None:
        hand, ours = stage.hand, plain_url(stage.database)
        superuser = await asyncpg.connect(stage.cluster.admin_url, timeout=10)
        hand.conns.append(superuser)
        for _ in range(10):  # the service may take a slot freed by its own backends' end
            while True:
                try:
                    hand.conns.append(await asyncpg.connect(ours, timeout=10))
                except asyncpg.TooManyConnectionsError:
                    break
            pids = [conn.get_server_pid() for conn in hand.conns]
            if not await superuser.fetchval(
                f"SELECT count(*) FROM ({stage.terminate_service(pids)}) t"
            ):
                return
        raise AssertionError("the service kept taking the slots freed by its backends' end")

    def end(self, stage: Stage) -> None:
        stage.hand.release()


class Locked(Fault):
    """A statement stuck behind a lock: another client holds `LOCK TABLE calls IN ACCESS
    EXCLUSIVE MODE` in an open transaction; every statement on calls waits."""

    name = "locked"

    def begin(self, stage: Stage) -> None:
        async def lock() -> None:
            conn = await asyncpg.connect(stage.superuser_url, timeout=10)
            stage.hand.conns.append(conn)
            await conn.execute("BEGIN; LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")

        stage.hand.run(lock())

    def end(self, stage: Stage) -> None:
        stage.hand.release()  # the transaction ends with its connection


class Killed(Fault):
    """The service killed with SIGKILL in the middle of a stall, with facts in its spool and
    webhooks past their deadline still waiting on the database; the packets flow again and a
    new process starts on the same database and spool, which Twilio's requests reach from
    then on."""

    name = "sigkill"
    proxied = True

    def begin(self, stage: Stage) -> None:
        stage.proxy.stall()

    def end(self, stage: Stage) -> None:
        os.kill(stage.twilio.server.pid, signal.SIGKILL)
        stage.proxy.flow()
        stage.twilio.server = stage.start_server()


MODES = [
    Refused(),
    Stalled(),
    NotAccepting(),
    Stopped(),
    Restarted(),
    SlotsExhausted(),
    Locked(),
    Killed(),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    why = pgcluster.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run these tests")
        pytest.skip(why)
    with private_cluster() as c:
        yield c


@contextmanager
def staged(cluster: PrivateCluster, tmp: Path, fault: Fault) -> Iterator[Stage]:
    with ExitStack() as stack:
        database = stack.enter_context(cluster.database())
        api = stack.enter_context(twilio_api(ACCOUNT, TOKEN))
        proxy = stack.enter_context(cuttable_proxy("127.0.0.1", cluster.port))
        hand = Hand()
        stack.callback(hand.close)
        stage = Stage(cluster, database, proxy, api, tmp, hand, fault.proxied)
        stack.callback(stage.servers.close)
        stage.twilio = Twilio(stage.start_server(), api, timeout=TWILIO_WAITS)
        yield stage


def on_hold(answer: ET.Element) -> str:
    """The next poll's URL of a hold segment (never <Leave/>)."""
    assert answer.find("Leave") is None, ET.tostring(answer)
    redirect = answer.find("Redirect")
    assert redirect is not None and redirect.text, ET.tostring(answer)
    return redirect.text


@pytest.mark.parametrize("fault", MODES, ids=lambda f: f.name)
def test_a_fault_drops_no_caller_and_loses_no_fact(
    fault: Fault, cluster: PrivateCluster, tmp_path: Path
) -> None:
    with staged(cluster, tmp_path, fault) as stage:
        twilio, api = stage.twilio, stage.api
        ended, talking = new_sid(), new_sid()  # put through; `ended` ends during the fault
        for sid in (ended, talking):
            twilio.connect(sid)
        # Every other line signs out, so that the holding callers stay in the queue.
        stage.on_database("UPDATE lines SET status = 'offline' WHERE call_id IS NULL")
        holding = [new_sid() for _ in range(3)]
        polls = {
            sid: on_hold(twilio.twiml(twilio.enqueue(sid).get("waitUrl", ""), sid))
            for sid in holding
        }
        late = new_sid()  # arrives during the fault, and hangs up
        api.statuses.update(dict.fromkeys([ended, talking, *holding], "in-progress"))
        api.statuses[late] = "completed"

        fault.begin(stage)
        try:
            during(twilio, polls, ended, late)
        finally:
            fault.end(stage)
        after(stage, polls, ended, talking, late)


def during(twilio: Twilio, polls: dict[str, str], ended: str, late: str) -> None:
    """Twilio's requests during the fault, at once as they would come: each answered with
    something a caller can hear, within Twilio's wait."""

    def hold(sid: str) -> None:
        polls[sid] = on_hold(twilio.twiml(polls[sid], sid))

    def conversation_over() -> None:
        said = twilio.twiml(
            twilio.dial_actions[ended],
            ended,
            DialCallStatus="completed",
            DialCallSid=new_sid(),
            DialCallDuration="60",
        )
        assert said.find("Dial") is None and said.find("Enqueue") is None, ET.tostring(said)
        done = twilio.post("/voice/status", ended, CallStatus="completed", SequenceNumber="3")
        assert done.status_code == 204, done.text

    def arrives_and_hangs_up() -> None:
        heard = twilio.twiml("/voice/incoming", late)
        targets = [el.text for el in heard.iter("Number")] + [el.text for el in heard.iter("Sip")]
        assert heard.find("Gather") is not None or targets, ET.tostring(heard)  # menu or backup
        done = twilio.post("/voice/status", late, CallStatus="completed", SequenceNumber="2")
        assert done.status_code == 204, done.text

    with ThreadPoolExecutor(max_workers=len(polls) + 2) as pool:
        jobs = [pool.submit(hold, sid) for sid in polls]
        jobs += [pool.submit(conversation_over), pool.submit(arrives_and_hangs_up)]
        for job in jobs:
            job.result()


def after(stage: Stage, polls: dict[str, str], ended: str, talking: str, late: str) -> None:
    def recovered() -> str | None:
        calls, lines = snapshot(stage.database)
        want = {
            ended: ("completed", None),
            talking: ("connected", None),
            late: ("abandoned", "menu"),
        }
        got = {sid: calls.get(sid) for sid in want}
        if got != want:
            return f"calls {got}"
        left = {
            sid: calls.get(sid)
            for sid in polls
            if calls.get(sid, ("",))[0] not in ("waiting", "reserved")
        }
        if left:
            return f"taken off the queue: {left}"
        busy = {line: sid for line, sid in lines.items() if sid != talking and sid not in polls}
        if busy:
            return f"lines held for calls not talking: {busy}"
        if talking not in lines.values():
            return "the line of the call still talking was freed"
        if not spool_empty(stage.tmp / "spool"):
            return "the spool is not empty"
        return None

    eventually(recovered, "after the fault", stage.log)
    twilio = stage.twilio
    for sid, url in polls.items():
        answer = twilio.twiml(url, sid)
        if answer.find("Leave") is not None:  # a line freed meanwhile may be held for them
            assert snapshot(stage.database)[0][sid][0] == "reserved"
        else:
            on_hold(answer)
    # The period's figures: two put through, three holding, the fault's caller counted and
    # abandoned in the menu (the calls outside every configured period are period `none`).
    figures = report(stage.database)
    abandoned = figures["abandoned"]
    assert isinstance(abandoned, dict)
    assert (figures["calls"], figures["connected"], abandoned["total"]) == (6, 2, 1), figures
