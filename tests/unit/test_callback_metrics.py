"""The process counters of callbacks, from the lifecycle's own facts: a callback is counted
by outcome, and booking one leaves the per-attempt counters as an abandon, never a connection.
"""

from __future__ import annotations

import datetime as dt

from hotline.calls import lifecycle as lc
from hotline.config import HotlineConfig
from hotline.metrics.observe import publish
from hotline.metrics.prom import Metrics

T0 = dt.datetime(2023, 12, 25, 3, 0, tzinfo=dt.UTC)
LINE, ORG = "inochi-01", "inochi"


def walk(
    events: list[lc.Event], limits: lc.Limits = lc.Limits(), every: float = 60
) -> tuple[lc.CallView, list[lc.Count]]:
    """A caller of period_5 holding for loneliness since T0, through `events` a minute apart;
    the call as it ends, and the facts counted on the way."""
    call = lc.CallView(
        state=lc.CallState.WAITING, period_id="period_5", option_id="loneliness", waiting_since=T0
    )
    counts: list[lc.Count] = []
    for i, event in enumerate(events, 1):
        t = lc.transition(call, event, T0 + dt.timedelta(seconds=every * i), limits)
        call = call.with_changes(t.changes)
        counts += [e for e in t.effects if isinstance(e, lc.Count)]
    return call, counts


def counted(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, {"period": "period_5", **labels})
    return value or 0.0


BOOK = lc.CallbackAsked("sealed", T0 + dt.timedelta(hours=4))
OFFER = [lc.LineReserved(LINE), lc.Accepted(LINE, ORG)]


def test_a_callback_reached_on_its_second_try(cfg: HotlineConfig) -> None:
    call, facts = walk(
        [
            BOOK,
            *OFFER,
            lc.CallerLegEnded(1, lc.DialOutcome.NO_ANSWER),
            *OFFER,
            lc.CallerAnswered(2),
            lc.CallerLegEnded(2, lc.DialOutcome.COMPLETED),
        ]
    )
    assert call.state == lc.CallState.COMPLETED
    m = Metrics(cfg)
    publish(m, facts)
    outcomes = {o: counted(m, "hotline_callbacks_total", option="loneliness", outcome=o)
                for o in ("requested", "attempted", "connected", "failed", "expired")}  # fmt: skip
    assert outcomes == {"requested": 1, "attempted": 2, "connected": 1, "failed": 0, "expired": 0}
    # Per attempt the inbound call ended when the caller booked: abandoned, never connected.
    abandoned = counted(m, "hotline_calls_abandoned_total", option="loneliness", stage="callback")
    assert abandoned == 1
    assert counted(m, "hotline_calls_connected_total", option="loneliness", entry="9999",
                   org=ORG) == 0  # fmt: skip
    # From first queuing to the conversation: the caller pressed 1 at the seventh event.
    waited = m.registry.get_sample_value(
        "hotline_callback_wait_seconds_sum", {"option": "loneliness"}
    )
    assert waited == 7 * 60


def test_a_callback_not_reached_fails_and_one_past_its_time_expires(cfg: HotlineConfig) -> None:
    m = Metrics(cfg)
    once = lc.Limits(callback_retries=0)
    failed, facts = walk([BOOK, *OFFER, lc.CallerLegEnded(1, lc.DialOutcome.NO_ANSWER)], once)
    assert (failed.state, failed.callback_tries) == (lc.CallState.ABANDONED, 1)
    publish(m, facts)
    expired, facts = walk([BOOK, lc.CallbackExpired()])
    assert expired.state == lc.CallState.ABANDONED
    publish(m, facts)
    outcomes = {o: counted(m, "hotline_callbacks_total", option="loneliness", outcome=o)
                for o in ("requested", "attempted", "connected", "failed", "expired")}  # fmt: skip
    assert outcomes == {"requested": 2, "attempted": 1, "connected": 0, "failed": 1, "expired": 1}
    assert counted(m, "hotline_calls_abandoned_total", option="loneliness", stage="callback") == 2
    # The callbacks' own ends are no abandons of the inbound calls: those were counted once.
    assert counted(m, "hotline_calls_abandoned_total", option="loneliness", stage="waiting") == 0


def test_callback_series_start_at_zero_and_stay_in_closed_sets(cfg: HotlineConfig) -> None:
    m = Metrics(cfg)
    labels = {"period": "period_5", "option": "women", "outcome": "expired"}
    assert m.registry.get_sample_value("hotline_callbacks_total", labels) == 0  # not absent
    publish(m, [lc.Count("callback", "period_5", option="loneliness", stage="unheard-of")])
    outcomes = {s.labels["outcome"] for f in m.callbacks.collect() for s in f.samples}
    assert outcomes == {"requested", "attempted", "connected", "failed", "expired"}
