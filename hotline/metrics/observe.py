"""Hooks that count a call's transitions in the process metrics. They never raise.

The stores call them where a call changes state, each hook on a line of its own:

    hotline.calls.store.ensure_call  -> call_received   (a new CallSid)
    hotline.calls.store.end          -> ended           (completed, or abandoned at a stage)
    hotline.routing.calls.join       -> menu_selected   (the caller chose an option)
    hotline.routing.calls.close      -> closed          (no staffed line: closed message)
    hotline.routing.calls.accept     -> connected       (the counsellor pressed 1)

Each of those places runs once per call (it is guarded by the call's state or by the
step's idempotency), so a Twilio retry counts nothing twice. Metrics never block a call: a
failing hook logs and returns, and the caller's TwiML is the same.

The hooks find the app's metrics through a context variable that the metrics middleware
sets for each request; outside a request (a script, the ticker) they count nothing. The
counters run ahead of the database when a transaction is rolled back after a hook; the
stored totals of `collector.py` are the figures of record.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec

from hotline.calls.models import Call, CallState
from hotline.metrics.labels import NONE
from hotline.metrics.prom import Metrics

log = logging.getLogger(__name__)
P = ParamSpec("P")

current: ContextVar[Metrics | None] = ContextVar("hotline_metrics", default=None)


@contextmanager
def bound(metrics: Metrics) -> Iterator[None]:
    """Count into these metrics in this block (the middleware does this per request)."""
    token = current.set(metrics)
    try:
        yield
    finally:
        current.reset(token)


def _safe(fn: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(fn)
    def hook(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # metrics never block a call
            log.exception("metrics hook %s failed; the call goes on", fn.__name__)

    return hook


def _labels(m: Metrics, call: Call) -> tuple[str, str]:
    return m.closed.period(call.period_id), m.closed.option(call.option_id)


def _seconds(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else max((end - start).total_seconds(), 0.0)


@_safe
def call_received(call: Call, created: int | bool = True) -> None:
    """A call reached the service; `created` is false for a CallSid seen before."""
    m = current.get()
    if m is not None and created:
        m.received.labels(m.closed.period(call.period_id), m.closed.entry(call.entry)).inc()


@_safe
def menu_selected(call: Call, option_id: str) -> None:
    m = current.get()
    if m is not None:
        m.selected.labels(m.closed.period(call.period_id), m.closed.option(option_id)).inc()


@_safe
def closed(call: Call) -> None:
    m = current.get()
    if m is not None:
        m.closed_calls.labels(*_labels(m, call)).inc()


@_safe
def connected(call: Call) -> None:
    """The counsellor accepted: 接続完了, and the wait it took."""
    m = current.get()
    if m is None:
        return
    period, option = _labels(m, call)
    m.connected.labels(period, option, m.closed.entry(call.entry), m.closed.org(call.org_id)).inc()
    waited = _seconds(call.waiting_since, call.connected_at)
    if waited is not None:
        m.wait.labels(option, "connected").observe(waited)


@_safe
def ended(call: Call) -> None:
    """The call is over: talk time if it was connected, else where the caller gave up."""
    m = current.get()
    if m is None:
        return
    period, option = _labels(m, call)
    if call.state == CallState.COMPLETED:
        talked = _seconds(call.connected_at, call.ended_at)
        if talked is not None:
            m.talk.labels(option).observe(talked)
    elif call.state == CallState.ABANDONED:
        stage = call.end_stage if call.end_stage in ("menu", "waiting", "ringing") else NONE
        m.abandoned.labels(period, option, stage).inc()
        waited = _seconds(call.waiting_since, call.ended_at)
        if stage == "waiting" and waited is not None:
            m.wait.labels(option, "abandoned").observe(waited)
