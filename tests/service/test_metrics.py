"""GET /metrics through the app: process counters, stored totals and live gauges."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hotline.app import create_app
from hotline.metrics.prom import Metrics
from tests.conftest import Clock, Twilio, make_settings, new_sid
from tests.service.test_routing import dialled, leave_and_ring, only_lines, queue

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client) -> Samples:  # type: ignore[no-untyped-def]
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


async def talk(twilio: Twilio, app, clock: Clock, sid: str) -> None:  # type: ignore[no-untyped-def]
    """One caller of option 8 connected to inochi-01, then the conversation ends."""
    await only_lines(app, "inochi-01")
    enq = await queue(twilio, sid, "8")
    clock.advance(40)
    _, whisper_url, action = dialled(await leave_and_ring(twilio, sid, enq))
    whisper = await twilio.call(whisper_url, new_sid())
    await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
    clock.advance(300)
    await twilio.call(action, sid, DialCallStatus="completed", DialCallSid=new_sid())


async def test_every_configured_period_and_option_starts_at_zero(client, cfg) -> None:
    s = await scrape(client)  # no API key: Prometheus scrapes it as it is
    for period, option in (("period_1", "suicidal"), ("day_of_life", "over18")):
        assert value(s, "hotline_menu_selections_total", period=period, option=option) == 0
        assert value(s, "hotline_period_calls", period=period, option=option, entry="9999") == 0
        assert value(s, "hotline_period_connected", period=period, option=option, entry="0120") == 0
    assert value(s, "hotline_calls_received_total", period="none", entry="9999") == 0
    labels = {dict(ls).get("period") for (_, ls) in s} - {None}
    assert labels == {p.id for p in cfg.periods} | {"none"}
    assert value(s, "hotline_metrics_db_up") == 1


async def test_a_connected_call_counts_once_everywhere(twilio, app, client, clock) -> None:
    sid = new_sid()
    await twilio.call("/voice/incoming", sid)
    await twilio.call("/voice/incoming", sid)  # a Twilio retry: the same call
    await talk(twilio, app, clock, sid)
    s = await scrape(client)
    assert value(s, "hotline_calls_received_total", period="period_5", entry="9999") == 1
    assert value(s, "hotline_menu_selections_total", period="period_5", option="loneliness") == 1
    connected = dict(period="period_5", option="loneliness", entry="9999", org="inochi")
    assert value(s, "hotline_calls_connected_total", **connected) == 1
    assert value(s, "hotline_wait_seconds_count", option="loneliness", outcome="connected") == 1
    assert value(s, "hotline_wait_seconds_sum", option="loneliness", outcome="connected") == 40
    assert value(s, "hotline_talk_seconds_sum", option="loneliness") == 300
    # The stored totals say the same, from the database.
    stored = dict(period="period_5", option="loneliness", entry="9999")
    assert value(s, "hotline_period_calls", **stored) == 1
    assert value(s, "hotline_period_connected", **stored) == 1
    assert value(s, "hotline_webhook_duration_seconds_count", route="/voice/incoming") == 3
    assert value(s, "hotline_webhook_responses_total", route="/voice/menu", status="200") == 1


@pytest.mark.usefixtures("busy")
async def test_waiting_callers_and_the_longest_wait_are_live(twilio, app, client, clock) -> None:
    first, second = new_sid(), new_sid()
    await queue(twilio, first, "8")
    clock.advance(90)
    await queue(twilio, second, "8")
    s = await scrape(client)
    assert value(s, "hotline_callers_waiting", option="loneliness") == 2
    assert value(s, "hotline_longest_wait_seconds", option="loneliness") == 90
    assert value(s, "hotline_lines_busy", org="inochi") == 2  # every line talks to someone
    await twilio.post("/voice/status", CallSid=first, CallStatus="completed", SequenceNumber="1")
    s = await scrape(client)
    assert value(s, "hotline_callers_waiting", option="loneliness") == 1
    abandoned = dict(period="period_5", option="loneliness", stage="waiting")
    assert value(s, "hotline_calls_abandoned_total", **abandoned) == 1
    assert value(s, "hotline_wait_seconds_count", option="loneliness", outcome="abandoned") == 1


async def test_lines_staffed_per_organisation_and_option(app, client) -> None:
    await only_lines(app, "inochi-01", "sisc-01")
    s = await scrape(client)
    assert value(s, "hotline_lines_staffed", org="inochi") == 1
    assert value(s, "hotline_lines_staffed", org="jaico") == 0
    assert value(s, "hotline_option_lines_staffed", option="loneliness") == 2  # inochi, sisc
    assert value(s, "hotline_option_lines_staffed", option="under18") == 1  # the sisc backup
    assert value(s, "hotline_option_offered", option="women") == 1  # 第5期's menu
    assert value(s, "hotline_option_offered", option="suicidal") == 0


async def test_closed_calls_and_calls_outside_every_period(twilio, app, client, clock) -> None:
    # Nobody on duty: 女性の悩み (3) is closed and so is every other key, so the call ends
    # closed (with another key open, the caller would hear the menu again, not counted closed).
    await only_lines(app)
    await queue(twilio, new_sid(), "3")
    clock.now = dt.datetime(2025, 3, 1, 3, 0, tzinfo=dt.UTC)  # no period covers this
    await twilio.call("/voice/incoming", new_sid())
    s = await scrape(client)
    assert value(s, "hotline_calls_closed_total", period="period_5", option="women") == 1
    assert value(s, "hotline_period_closed", period="period_5", option="women") == 1
    assert value(s, "hotline_calls_received_total", period="none", entry="9999") == 1
    assert value(s, "hotline_period_calls", period="none", option="none", entry="9999") == 1


async def test_a_failing_metric_never_blocks_a_call(
    twilio: Twilio, app, client, clock, monkeypatch, caplog
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("metrics backend exploded")

    metrics: Metrics = app.state.metrics
    for counter in (metrics.received, metrics.selected, metrics.connected):
        monkeypatch.setattr(counter, "labels", broken)
    sid = new_sid()
    with caplog.at_level(logging.ERROR, logger="hotline.metrics.observe"):
        await talk(twilio, app, clock, sid)
    assert "the call goes on" in caplog.text
    s = await scrape(client)  # the database still knows: the call was connected
    stored = dict(period="period_5", option="loneliness", entry="9999")
    assert value(s, "hotline_period_connected", **stored) == 1


async def test_stored_totals_survive_a_restart(twilio, app, client, clock, db_url, cfg) -> None:
    await talk(twilio, app, clock, new_sid())
    fresh = create_app(make_settings(db_url), cfg, clock=clock)
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
            s = await scrape(other)
    stored = dict(period="period_5", option="loneliness", entry="9999")
    assert value(s, "hotline_period_connected", **stored) == 1
    assert total(s, "hotline_calls_connected_total") == 0  # the new process counted nothing


async def test_a_rolled_back_webhook_counts_nothing(twilio: Twilio, app, client, monkeypatch):
    """Metric facts are published after commit: a step that failed and was rolled back
    leaves no trace in the counters, while the call itself goes on (the backup serves)."""
    from hotline.routing.store import Router

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the pass failed")

    sid = new_sid()
    await twilio.call("/voice/incoming", sid)
    monkeypatch.setattr(Router, "assign", broken)  # fails after the call joined the queue
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    assert doc.find("Dial") is not None  # the apology, then the backup organisation
    s = await scrape(client)
    assert value(s, "hotline_calls_received_total", period="period_5", entry="9999") == 1
    assert total(s, "hotline_menu_selections_total") == 0


async def test_the_spool_backlog_is_counted_at_start_up(db_url, cfg, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Facts kept by a process that stopped before replaying them are in the gauge from the
    next start, before any append or replay moves it (no upkeep runs here: tick_seconds 0)."""
    from hotline.ivr.spool import Spool

    spool_dir = tmp_path / "spool"
    kept = Spool(spool_dir, 1024 * 1024)
    for n in range(3):
        kept.append("/voice/status", f"n={n}", {"CallSid": new_sid()}, clock())
    app = create_app(make_settings(db_url, spool_dir=spool_dir), cfg, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert value(await scrape(c), "hotline_spool_backlog") == 3
