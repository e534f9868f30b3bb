"""Twilio's queues, managed: every option's queue set up with its MaxSize at start-up (and by
`hotline twilio setup`), a full queue's caller told so honestly, callback queues deleted once
their callback is over. Twilio's REST API is the local stand-in, through the service's own
adapter; webhooks are posted signed, as Twilio posts them, on both databases.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from hotline.app import create_app
from hotline.calls.models import Call
from hotline.cli import main
from hotline.config import HotlineConfig
from hotline.ivr import queues
from hotline.services import services_of
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import PUBLIC, Clock, Twilio, make_settings, new_sid, says, talking_on
from tests.service.test_callback import (
    LINE,
    accepted,
    ask_callback,
    free_line,
    holding,
    leg,
    status,
)
from tests.service.test_metrics import scrape, value

ACCOUNT = "AC" + "2" * 32
TOKEN = "stand-in-token"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


def rest_settings(db_url: str, api: TwilioApi) -> Any:
    return make_settings(
        db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, twilio_api_base=api.base_url
    )


@pytest.fixture
async def app(db_url: str, cfg: HotlineConfig, clock: Clock, api: TwilioApi) -> AsyncIterator[Any]:
    application = create_app(rest_settings(db_url, api), cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def twilio(client) -> Twilio:  # type: ignore[no-untyped-def]
    return Twilio(client, TOKEN)


async def call_of(app: Any, sid: str) -> Call:
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


def option_queues(cfg: HotlineConfig) -> dict[str, int]:
    return {f"hotline-{o.id}": cfg.hold.queue_max_size for o in cfg.options}


async def test_every_option_queue_is_set_up_at_start_once(
    app: Any, api: TwilioApi, cfg: HotlineConfig, db_url: str, clock: Clock
) -> None:
    """At start-up each option's queue exists with the configured MaxSize (Twilio's maximum
    by default, not its 1000); started again, nothing is created twice."""
    assert cfg.hold.queue_max_size == 5000
    held = {name: api.max_sizes[sid] for name, sid in api.queues.items()}
    assert held == option_queues(cfg)
    rest = services_of(app).rest
    assert rest is not None and rest.queues_set_up
    assert all(rest.queue_sid(name) == api.queues[name] for name in held)
    created = list(api.queue_creates)
    again = create_app(rest_settings(db_url, api), cfg, clock=clock)
    async with again.router.lifespan_context(again):
        pass
    assert api.queue_creates == created and len(api.queues) == len(held)


async def test_a_push_takes_a_caller_out_by_the_kept_sid_without_listing(
    app: Any, api: TwilioApi, twilio: Twilio
) -> None:
    await talking_on(app)
    sid = new_sid()
    await holding(twilio, sid)
    api.members[api.queues["hotline-loneliness"]] = [sid]
    listed = sum(1 for r in api.requests if r.split("?")[0].endswith("/Queues.json"))
    await free_line(app)
    assert [(q, c) for q, c, _ in api.dequeued] == [("hotline-loneliness", sid)]
    assert sum(1 for r in api.requests if r.split("?")[0].endswith("/Queues.json")) == listed


async def test_twilio_away_at_start_never_stops_the_service(
    db_url: str, cfg: HotlineConfig, clock: Clock, api: TwilioApi, caplog: Any
) -> None:
    """Twilio down at start-up: the service starts and says so; the upkeep sets the queues
    up once Twilio answers."""
    api.down = True
    application = create_app(rest_settings(db_url, api), cfg, clock=clock)
    with caplog.at_level(logging.WARNING, logger="hotline.ivr.queues"):
        async with application.router.lifespan_context(application):
            services = services_of(application)
            assert services.rest is not None and not services.rest.queues_set_up
            assert "Twilio queues not set up at start-up" in caplog.text
            await queues.upkeep(services)  # still away: logged, tried again next round
            assert not services.rest.queues_set_up and api.queues == {}
            api.down = False
            await queues.upkeep(services)
            assert services.rest.queues_set_up
            assert set(api.queues) == set(option_queues(cfg))


async def full_queue(twilio: Twilio, sid: str, caller: str = "+819011112222") -> Any:
    """A caller who chose loneliness (8), whose <Enqueue> Twilio refused: queue-full."""
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8", From=caller)
    action = doc.find("Enqueue").get("action")  # type: ignore[union-attr]
    return action, await twilio.call(action, sid, QueueResult="queue-full", From=caller)


async def test_a_full_queue_tells_the_caller_honestly_and_counts_it(
    app: Any, api: TwilioApi, twilio: Twilio, client: Any
) -> None:
    """Twilio's queue-full: not the system-problem apology nor the backup's lines, but that
    the lines are very busy, what is open now, the emergency numbers; the call ends with a
    stage of its own, counted apart, no number in the metrics. (A withheld number: no
    callback to offer.)"""
    await talking_on(app)
    sid = new_sid()
    action, full = await full_queue(twilio, sid, caller="anonymous")
    said = " ".join(says(full))
    assert "混み合って" in said and "119" in said and "110" in said
    assert "システム" not in said and "申し訳ありません。ただいまこの窓口は受付時間外" not in said
    assert full.find("Dial") is None and full.find("Enqueue") is None
    assert full.find("Hangup") is not None
    call = await call_of(app, sid)
    assert (call.state, call.end_stage) == ("abandoned", "queue-full")
    again = await twilio.call(action, sid, QueueResult="queue-full", From="anonymous")
    assert says(again) == says(full)
    samples = await scrape(client)
    turned = value(
        samples, "hotline_calls_queue_full_total", period="period_5", option="loneliness"
    )
    assert turned == 1
    assert value(samples, "hotline_queue_max_size", option="loneliness") == 5000
    assert not any("+81" in str(labels) for (_, labels) in samples)


async def test_a_full_queue_offers_the_callback_and_1_books_it(
    app: Any, api: TwilioApi, twilio: Twilio
) -> None:
    """The option offers callbacks: after the full message (what is open now, 119/110) the
    callback's terms; the confirm key books it, its place kept in our queue, which Twilio's
    MaxSize does not bound."""
    await talking_on(app)
    sid = new_sid()
    _, offer = await full_queue(twilio, sid)
    said = " ".join(says(offer))
    assert "混み合って" in said and "119" in said and "050" in said  # our number, as dialled
    gather = offer.find("Gather")
    assert gather is not None and offer.find("Hangup") is None
    assert (await call_of(app, sid)).state == "waiting"  # until they answer
    booked = await twilio.call(gather.get("action"), sid, Digits="1")  # type: ignore[arg-type]
    assert booked.find("Hangup") is not None and booked.find("Enqueue") is None
    call = await call_of(app, sid)
    assert call.state == "callback" and call.callback_number is not None


async def test_a_full_queue_callback_not_taken_ends_the_call_as_refused(
    app: Any, api: TwilioApi, twilio: Twilio, client: Any
) -> None:
    await talking_on(app)
    silent, other = new_sid(), new_sid()
    _, offer = await full_queue(twilio, silent)
    no_key = offer.find("Redirect").text  # type: ignore[union-attr]
    bye = await twilio.call(no_key, silent)  # type: ignore[arg-type]
    assert bye.find("Hangup") is not None and "システム" not in " ".join(says(bye))
    _, offer = await full_queue(twilio, other)
    key = await twilio.call(offer.find("Gather").get("action"), other, Digits="5")  # type: ignore[union-attr,arg-type]
    assert key.find("Hangup") is not None
    for sid in (silent, other):
        call = await call_of(app, sid)
        assert (call.state, call.end_stage, call.callback_at) == ("abandoned", "queue-full", None)
    samples = await scrape(client)
    turned = value(
        samples, "hotline_calls_queue_full_total", period="period_5", option="loneliness"
    )
    assert turned == 2


async def test_an_english_caller_hears_the_full_queue_in_english(
    app: Any, api: TwilioApi, twilio: Twilio
) -> None:
    await talking_on(app)
    sid = new_sid()
    menu = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="2")  # languages
    gather = menu.find(".//Gather")
    assert gather is not None
    doc = await twilio.call(gather.get("action"), sid, Digits="1")  # type: ignore[arg-type]
    enqueue = doc.find("Enqueue")
    assert enqueue is not None
    full = await twilio.call(enqueue.get("action"), sid, QueueResult="queue-full")  # type: ignore[arg-type]
    said = " ".join(says(full))
    assert "very busy" in said and "119" in said


async def test_a_callback_queue_is_deleted_once_the_callback_is_over(
    app: Any, api: TwilioApi, twilio: Twilio
) -> None:
    """The counsellor holds for the caller in the callback's own queue (Twilio makes it on
    the <Enqueue>); once the callback is over no such queue remains in the account, and
    one of a callback still going is kept."""
    await talking_on(app)
    done, going = new_sid(), new_sid()
    for sid in (done, going):
        await holding(twilio, sid)
        await ask_callback(twilio, sid)
    await free_line(app)  # the first request's counsellor is rung
    counsellor = new_sid()
    caller_leg = await accepted(twilio, app, api, counsellor)
    done_id, going_id = (await call_of(app, done)).id, (await call_of(app, going)).id
    api.queue(f"hotline-callback-{done_id}")  # as Twilio makes it on the counsellor's <Enqueue>
    api.queue(f"hotline-callback-{going_id}")
    join = await leg(twilio, caller_leg.url, new_sid())
    await leg(twilio, join.find(".//Gather").get("action"), caller_leg.sid, Digits="1")  # type: ignore[union-attr,arg-type]
    await status(twilio, caller_leg.status_callback, caller_leg.sid, "completed")
    await app.state.pushes.drain()
    assert (await call_of(app, done)).state == "completed"
    assert await queues.sweep_callback_queues(services_of(app)) == 1
    left = [name for name in api.queues if name.startswith("hotline-callback-")]
    assert left == [f"hotline-callback-{going_id}"]
    assert set(api.queues) - set(left) == set(option_queues(app.state.cfg))


async def test_the_setup_command_creates_updates_and_prints_no_secret(
    api: TwilioApi, db_url: str, cfg: HotlineConfig, monkeypatch: Any, capsys: Any
) -> None:
    settings = rest_settings(db_url, api)
    monkeypatch.setattr("hotline.ivr.twilio_cli.settings_and_config", lambda: (settings, cfg))
    api.queue("hotline-loneliness")  # made by an <Enqueue> with Twilio's default MaxSize
    assert await _cli(["twilio", "setup"]) == 0
    first = capsys.readouterr().out
    assert "hotline-loneliness\t" + api.queues["hotline-loneliness"] in first
    assert "MaxSize 5000\tupdated" in first and "created" in first
    assert await _cli(["twilio", "setup"]) == 0
    second = capsys.readouterr().out
    assert "created" not in second and "updated" not in second
    assert len(second.splitlines()) == len(option_queues(cfg)) == len(api.queues)
    assert TOKEN not in first + second
    api.down = True
    assert await _cli(["twilio", "setup"]) == 1


async def _cli(argv: list[str]) -> int:
    """`hotline ...` run as from a shell (its own event loop, in a thread)."""
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_a_callback_queue_named_by_its_hold_is_deleted_as_the_callback_ends(
    app: Any, api: TwilioApi, twilio: Twilio
) -> None:
    """A callback of an earlier version held its counsellor in a queue of the call's own,
    whose hold polls carry Twilio's QueueSid: once the callback is over, its queue is
    deleted after the commit, without waiting for the sweep or listing queues."""
    await talking_on(app)
    sid = new_sid()
    await holding(twilio, sid)
    await ask_callback(twilio, sid)
    await free_line(app)
    counsellor = new_sid()
    whisper = await leg(twilio, api.created[-1].url, counsellor)
    accept = whisper.find(".//Gather").get("action")  # type: ignore[union-attr]
    await leg(twilio, accept, counsellor, Digits="1")  # type: ignore[arg-type]
    await app.state.pushes.drain()
    caller_leg = api.created[-1]
    name = f"hotline-callback-{(await call_of(app, sid)).id}"
    # The older counsellor's hold poll, in that queue (its waitUrl is the same step's).
    wait_url = f"{PUBLIC}/voice/callback/hold?call={sid}&line={LINE}"
    await leg(twilio, wait_url, counsellor, QueueSid=api.queue(name))
    join = await leg(twilio, caller_leg.url, caller_leg.sid)
    await leg(twilio, join.find(".//Gather").get("action"), caller_leg.sid, Digits="1")  # type: ignore[union-attr,arg-type]
    assert name in api.queues  # talking: the callback is not over
    listed = sum(1 for r in api.requests if r.split("?")[0].endswith("/Queues.json"))
    await status(twilio, caller_leg.status_callback, caller_leg.sid, "completed")
    await app.state.pushes.drain()
    assert (await call_of(app, sid)).state == "completed"
    assert name not in api.queues
    assert sum(1 for r in api.requests if r.split("?")[0].endswith("/Queues.json")) == listed


async def test_a_stalled_twilio_at_start_is_left_behind_with_a_warning(
    db_url: str, cfg: HotlineConfig, clock: Clock, caplog: Any
) -> None:
    """Twilio accepts the connection and never answers: start-up goes on after its few
    seconds of waiting, says so, and serves; the set-up is cancelled at shutdown."""
    import socket

    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)  # connections wait in the backlog: nothing ever reads them
        base = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        settings = make_settings(
            db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, twilio_api_base=base
        )
        application = create_app(settings, cfg, clock=clock)
        with caplog.at_level(logging.WARNING, logger="hotline.ivr.queues"):
            async with application.router.lifespan_context(application):
                assert "set-up still running" in caplog.text
                rest = services_of(application).rest
                assert rest is not None and not rest.queues_set_up
