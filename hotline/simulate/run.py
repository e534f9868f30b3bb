"""The discrete-event run: callers wait, the real routing engine assigns lines, lines free.

A plain event heap rather than simpy: the model has four kinds of event (an attempt joins,
a caller's patience runs out, a line's conversation and wrap-up end, a line's duty changes)
and no process that needs to suspend, so a heap of (time, kind, order, payload) tuples says
it in a page, with no generator per caller and no interrupt when a caller is served, and a
35,000-call period runs in seconds.

Each assignment pass is what `hotline.routing.store.Router.assign` does around the engine:
the first `len(free lines)` waiting calls of each (option, language) class in queue order,
the free staffed lines, the routing table, `now`, and `hotline.routing.engine.assign`
(looked up on the module at each pass, as the service does). A pass runs when a call joins,
a line frees or is staffed, and when a waiting call reaches a tier's delay (the service's
tick, exactly on time).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.config import HotlineConfig
from hotline.routing import engine
from hotline.simulate.demand import Caller, Demand
from hotline.simulate.model import SimModel
from hotline.simulate.supply import Supply, may_serve, table_for

# Kinds of event, in the order they are handled when they fall at the same moment: a line
# staffed at 09:00 answers a caller who calls at 09:00.
DUTY, FREE, RENEGE, ARRIVE, TIER, SAMPLE = range(6)
MAX_ATTEMPTS = 20  # a caller who gave up this often stops calling
SAMPLE_SECONDS = 600.0


@dataclass(slots=True)
class Attempt:
    caller: Caller
    number: int  # 1 for the first attempt
    arrival: float
    draws: Draws  # see _draws
    outcome: str = "waiting"  # connected, abandoned, closed
    wait: float = 0.0
    org: str = ""
    line_id: str = ""


@dataclass(slots=True)
class RunResult:
    policy: str
    attempts: list[Attempt]
    busy: dict[str, float]  # busy seconds per organisation within the period
    staffed: dict[str, float]  # staffed seconds per organisation within the period
    waiting: list[tuple[float, int]] = field(default_factory=list)  # (time, callers waiting)
    no_option: int = 0
    no_option_people: int = 0


Draws = tuple[float, float, float, float, float, float]


def _draws(model: SimModel, seed: int, caller: Caller, number: int) -> Draws:
    """patience, setup, talk, wrap-up, redial draw, redial delay: always in this order."""
    rng = random.Random(seed * 1_000_003 + caller.index * 64 + number)
    return (
        model.patience.draw(rng),
        model.setup.draw(rng),
        model.talk.draw(rng),
        model.wrap_up.draw(rng),
        rng.random(),
        model.redial.after.draw(rng),
    )


class _Run:
    def __init__(
        self,
        cfg: HotlineConfig,
        model: SimModel,
        demand: Demand,
        supply: Supply,
        policy: str,
        seed: int,
    ) -> None:
        self.model, self.demand, self.policy, self.seed = model, demand, policy, seed
        self.lines = {ln.line_id: ln for ln in supply.lines}
        self.table = table_for(cfg, policy, supply.lines)
        self.start, self.end = demand.start, demand.seconds
        self.heap: list[tuple[float, int, int, Any]] = []  # time, kind, order, payload
        self.order = itertools.count()
        self.on_duty: set[str] = set()
        self.duty_since: dict[str, float] = {}
        self.busy_lines: set[str] = set()
        self.free: dict[str, engine.FreeLine] = {}
        # Waiting calls by (option, language), in queue order (arrival order: no re-queues).
        self.queues: dict[tuple[str, str], dict[int, engine.WaitingCall]] = {}
        self.waiting: dict[int, Attempt] = {}
        self.attempts: list[Attempt] = []
        self.busy: dict[str, float] = {ln.org: 0.0 for ln in supply.lines}
        self.wrap_up_of = {
            o.id: float(cfg.staffing_of(o).wrap_up_seconds) for o in cfg.organisations
        }
        self.staffed: dict[str, float] = dict.fromkeys(self.busy, 0.0)
        self.samples: list[tuple[float, int]] = []
        self.servers: dict[tuple[str, str], list[str]] = {}
        self.delays = {
            k: sorted({t.delay_seconds for t in o.tiers if t.delay_seconds > 0})
            for k, o in self.table.items()
        }
        self.changes = supply.changes

    def push(self, t: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.heap, (t, kind, next(self.order), payload))

    def at(self, t: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=t)

    def run(self) -> RunResult:
        for caller in self.demand.callers:
            self.push(caller.arrival, ARRIVE, (caller, 1))
        self._duty(0.0)
        self._plan_duty_changes()
        t = 0.0
        while t <= self.end:
            self.push(t, SAMPLE, None)
            t += SAMPLE_SECONDS
        handlers: dict[int, Callable[[float, Any], None]] = {
            ARRIVE: self._arrive,
            RENEGE: self._renege,
            FREE: self._free,
            DUTY: lambda now, _: self._duty(now),
            TIER: lambda now, _: self._pass(now),
            SAMPLE: lambda now, _: self.samples.append((now, len(self.waiting))),
        }
        while self.heap:
            now, kind, _, payload = heapq.heappop(self.heap)
            handlers[kind](now, payload)
        self._close_duty(self.end)
        return RunResult(
            self.policy,
            self.attempts,
            self.busy,
            self.staffed,
            self.samples,
            self.demand.no_option,
            self.demand.no_option_people,
        )

    # -- staffing ---------------------------------------------------------------------------
    def _plan_duty_changes(self) -> None:
        if not self.changes:
            return
        day = self.start.date()
        while True:
            for t in self.changes:
                moment = dt.datetime.combine(day, t, self.start.tzinfo)
                s = (moment - self.start).total_seconds()
                if 0 < s < self.end:
                    self.push(s, DUTY, None)
            day += dt.timedelta(days=1)
            if (
                dt.datetime.combine(day, dt.time(), self.start.tzinfo) - self.start
            ).total_seconds() >= self.end:
                return

    def _duty(self, now: float) -> None:
        moment = self.at(now)
        for line_id, line in self.lines.items():
            on = line.on_duty(moment)
            if on and line_id not in self.on_duty:
                self.on_duty.add(line_id)
                self.duty_since.setdefault(line_id, now)  # back before its last call ended
                if line_id not in self.busy_lines:
                    self._make_free(line_id, now)
            elif not on and line_id in self.on_duty:
                self.on_duty.discard(line_id)
                self.free.pop(line_id, None)
                if line_id not in self.busy_lines:  # a busy line finishes its call, then goes
                    self._count_duty(line_id, now)
        self._pass(now)

    def _count_duty(self, line_id: str, now: float) -> None:
        since = self.duty_since.pop(line_id)
        self.staffed[self.lines[line_id].org] += max(0.0, min(now, self.end) - since)

    def _close_duty(self, end: float) -> None:
        for line_id in list(self.duty_since):
            self._count_duty(line_id, end)

    def _make_free(self, line_id: str, now: float) -> None:
        line = self.lines[line_id]
        self.free[line_id] = engine.FreeLine(
            line_id, line.org_for(self.policy), line.languages, self.at(now)
        )

    # -- callers ----------------------------------------------------------------------------
    def _arrive(self, now: float, payload: tuple[Caller, int]) -> None:
        caller, number = payload
        a = Attempt(caller, number, now, _draws(self.model, self.seed, caller, number))
        self.attempts.append(a)
        key = (caller.option, caller.language)
        if caller.option not in self.table or not self._staffed(key):
            a.outcome = "closed"  # the closed message, other numbers to call
            return
        call_id = len(self.attempts) - 1
        self.waiting[call_id] = a
        self.queues.setdefault(key, {})[call_id] = engine.WaitingCall(
            call_id, caller.option, caller.language, self.at(now)
        )
        if math.isfinite(a.draws[0]):
            self.push(now + a.draws[0], RENEGE, call_id)
        for delay in self.delays.get(caller.option, ()):
            self.push(now + delay, TIER, None)
        self._pass(now)

    def _staffed(self, key: tuple[str, str]) -> bool:
        """Is any line that may serve this option and language on duty (busy or not)?"""
        servers = self.servers.get(key)
        if servers is None:
            option = self.table[key[0]]
            servers = self.servers[key] = [
                i for i, ln in self.lines.items() if may_serve(option, ln, self.policy, key[1])
            ]
        return any(i in self.on_duty for i in servers)

    def _renege(self, now: float, call_id: int) -> None:
        a = self.waiting.pop(call_id, None)
        if a is None:
            return  # served before its patience ran out
        del self.queues[a.caller.option, a.caller.language][call_id]
        a.outcome, a.wait = "abandoned", now - a.arrival
        redial, after = a.draws[4], a.draws[5]
        if a.caller.redials and a.number < MAX_ATTEMPTS and redial < self.model.redial.probability:
            self.push(now + after, ARRIVE, (a.caller, a.number + 1))

    def _free(self, now: float, line_id: str) -> None:
        self.busy_lines.discard(line_id)
        if line_id not in self.on_duty and line_id in self.duty_since:
            self._count_duty(line_id, now)
        elif line_id in self.on_duty:
            self._make_free(line_id, now)
            self._pass(now)

    # -- the pass ---------------------------------------------------------------------------
    def _pass(self, now: float) -> None:
        if not self.free or not self.waiting:
            return
        limit = len(self.free)
        calls = [
            call
            for queue in self.queues.values()
            for call in itertools.islice(queue.values(), limit)
        ]
        lines = list(self.free.values())
        for r in engine.assign(calls, lines, self.table, self.at(now)):
            self._connect(now, r.call_id, r.line_id)

    def _connect(self, now: float, call_id: int, line_id: str) -> None:
        a = self.waiting.pop(call_id)
        del self.queues[a.caller.option, a.caller.language][call_id]
        del self.free[line_id]
        self.busy_lines.add(line_id)
        line = self.lines[line_id]
        a.outcome, a.wait, a.org, a.line_id = "connected", now - a.arrival, line.org, line_id
        _, setup, talk, wrap, _, _ = a.draws
        if self.model.wrap_up.dist == "config":  # the router's own wrap-up for the line
            wrap = self.wrap_up_of.get(line.org, wrap)
        done = now + setup + talk + wrap
        self.busy[line.org] += max(0.0, min(done, self.end) - min(now, self.end))
        self.push(done, FREE, line_id)


def simulate(
    cfg: HotlineConfig,
    model: SimModel,
    demand: Demand,
    supply: Supply,
    policy: str,
    *,
    seed: int = 1,
) -> RunResult:
    """One policy over one demand and supply; the same seed gives the same result."""
    return _Run(cfg, model, demand, supply, policy, seed).run()
