"""The voice webhooks through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy import event, make_url, select, text
from sqlalchemy.util import await_only

from hotline.calls.models import Call, CallEvent
from hotline.ivr.rest import TwilioRest
from hotline.ivr.stand_in import TwilioApi
from hotline.services import services_of
from hotline.settings import DEV_ACCOUNT_SID
from tests.conftest import CALLER, NUMBER_0120, PUBLIC, Twilio, new_sid, says


async def _call(app, sid: str) -> Call:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def _events(app, sid: str) -> list[CallEvent]:  # type: ignore[no-untyped-def]
    call = await _call(app, sid)
    async with app.state.sessions() as s:
        stmt = select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
        return list((await s.execute(stmt)).scalars())


async def test_incoming_greets_in_japanese_and_reads_the_menu(twilio: Twilio, app, sid) -> None:
    doc = await twilio.call("/voice/incoming", sid)
    gather = doc.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC}/voice/menu?m=period-5&t=1"
    assert all(s.get("language") == "ja-JP" for s in doc.iter("Say"))
    assert "シャープ9999" in says(doc)[0]
    assert "孤独・孤立でお悩みの方は8" in "".join(says(gather))
    # Silence falls through the Gather: the Redirect brings the caller back, never a hang-up.
    assert doc[-1].tag == "Redirect" and doc[-1].text == gather.get("action")
    call = await _call(app, sid)
    assert (call.state, call.entry, call.period_id) == ("menu", "9999", "period_5")


async def test_caller_number_is_stored_only_as_a_keyed_hash(twilio: Twilio, app, sid) -> None:
    await twilio.call("/voice/incoming", sid, To=NUMBER_0120)
    call = await _call(app, sid)
    assert call.entry == "0120"
    assert call.caller_hash and len(call.caller_hash) == 64
    async with app.state.engine.connect() as conn:
        for table in ("calls", "call_events"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            assert CALLER not in repr(rows) and CALLER[1:] not in repr(rows)


@pytest.mark.usefixtures("busy")
async def test_pressing_8_holds_the_caller_in_the_loneliness_queue(twilio: Twilio, app, sid):
    await twilio.call("/voice/incoming", sid)
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    enqueue = doc.find("Enqueue")
    assert enqueue is not None and enqueue.text == "hotline-loneliness"
    assert enqueue.get("waitUrl", "").startswith(f"{PUBLIC}/voice/wait?o=loneliness")
    call = await _call(app, sid)
    assert (call.state, call.option_id, call.language) == ("waiting", "loneliness", None)
    assert call.waiting_since is not None


@pytest.mark.usefixtures("busy")
async def test_key_2_opens_the_language_menu_each_in_its_own_language(twilio, app, sid) -> None:
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="2")
    langs = [s.get("language") for s in doc.iter("Say")]
    for lang in ("en-US", "cmn-CN", "ko-KR", "vi-VN", "pt-BR", "es-MX", "fil-PH"):
        assert lang in langs
    doc = await twilio.call("/voice/menu?m=languages&t=1", sid, Digits="6")
    assert doc.find("Enqueue").text == "hotline-foreign"
    call = await _call(app, sid)
    assert (call.option_id, call.language) == ("foreign", "es")
    hold = await twilio.call(doc.find("Enqueue").get("waitUrl"), sid)
    assert {s.get("language") for s in hold.iter("Say")} == {"es-MX"}


@pytest.mark.usefixtures("busy")
async def test_invalid_key_and_silence_replay_then_default_to_loneliness(twilio, app, sid):
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="5")
    assert "その番号は選べません" in says(doc)[0]
    assert doc.find("Gather").get("action").endswith("t=2")
    doc = await twilio.call("/voice/menu?m=period-5&t=2", sid)  # silence: no Digits
    assert "ボタンが押されなかった" in says(doc)[0]
    doc = await twilio.call("/voice/menu?m=period-5&t=3", sid, Digits="#")
    assert doc.find("Enqueue").text == "hotline-loneliness"
    assert (await _call(app, sid)).state == "waiting"


async def test_repeat_key_replays_without_using_a_try(twilio: Twilio, sid: str) -> None:
    doc = await twilio.call("/voice/menu?m=period-5&t=2", sid, Digits="9")
    assert doc.find("Gather").get("action").endswith("t=2")
    assert not any("選べません" in s for s in says(doc))


async def test_a_retried_webhook_changes_nothing_twice(twilio: Twilio, app, sid) -> None:
    first = await twilio.call("/voice/incoming", sid)
    again = await twilio.call("/voice/incoming", sid)
    a = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="1")
    b = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="1")
    assert ET.tostring(first) == ET.tostring(again) and ET.tostring(a) == ET.tostring(b)
    kinds = [e.kind for e in await _events(app, sid)]
    assert kinds == ["incoming", "queued"]
    async with app.state.sessions() as s:
        assert len((await s.execute(select(Call))).all()) == 1


async def test_a_call_arriving_is_logged_once_with_the_greeting_it_heard(twilio, app, sid, clock):
    from hotline.calls import lifecycle

    first = await twilio.call("/voice/incoming", sid)
    clock.advance(2)
    again = await twilio.call("/voice/incoming", sid)  # Twilio's retry
    assert ET.tostring(first) == ET.tostring(again)
    [event] = await _events(app, sid)
    call = await _call(app, sid)
    assert (event.step, event.kind, event.at) == ("incoming", "incoming", call.created_at)
    assert lifecycle.load_decision(event.detail["decision"]) == lifecycle.Greet()


@pytest.mark.usefixtures("busy")
async def test_a_step_already_logged_changes_nothing_whatever_the_call_read(
    app, twilio, sid, clock
):
    """The event log decides, not the state read: a retry applied to the call as it was
    before the first attempt committed would move it otherwise (closed, here), yet writes
    nothing and answers the first attempt's decision."""
    from hotline.calls import lifecycle, service, store

    await twilio.call("/voice/incoming", sid)
    async with app.state.sessions() as s:
        stale = await store.get_call(s, sid)
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    first = await _call(app, sid)
    clock.advance(5)
    retry = lifecycle.OptionChosen(
        "loneliness", None, 0, staffed=False, menu_id="period-5", attempt=1, digits="8"
    )
    assert stale is not None
    async with app.state.sessions() as s, s.begin():
        out = await service.apply(s, app.state.router, stale, retry, clock())
    assert out.repeated and isinstance(out.decision, lifecycle.Enqueue)
    after = await _call(app, sid)
    assert (after.state, after.ended_at, after.last_seen_at) == (
        "waiting",
        None,
        first.last_seen_at,
    )
    assert [e.kind for e in await _events(app, sid)] == ["incoming", "queued"]


async def test_unknown_callsid_mid_menu_continues_the_call(twilio: Twilio, app, sid) -> None:
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="3")
    assert doc.find("Enqueue").text == "hotline-women"
    assert (await _call(app, sid)).option_id == "women"


@pytest.mark.usefixtures("busy")
async def test_unknown_callsid_on_hold_is_kept_waiting(twilio: Twilio, app, sid) -> None:
    doc = await twilio.call("/voice/wait?o=gender&n=1", sid)
    assert doc.find("Gather/Pause") is not None and doc[-1].tag == "Redirect"
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("waiting", "gender")


@pytest.mark.usefixtures("busy")
async def test_a_caller_still_polling_the_hold_is_never_swept_as_silent(twilio, app, sid, clock):
    from hotline.routing.ticker import tick_once

    await twilio.call("/voice/incoming", sid)
    for segment in (1, 2, 3, 4):  # the first, in the menu's state: lost, joins the queue
        hold = await twilio.call(f"/voice/wait?o=loneliness&n={segment}", sid)
        assert hold.find("Gather/Pause") is not None and hold[-1].tag == "Redirect"
        clock.advance(60)
        await tick_once(services_of(app))
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("waiting", "loneliness")
    assert call.last_seen_at == clock() - dt.timedelta(seconds=60)


@pytest.mark.usefixtures("busy")
async def test_hold_says_place_in_line_now_and_then(twilio: Twilio, sid: str) -> None:
    other = new_sid()
    await twilio.call("/voice/menu?m=period-5&t=1", other, Digits="4")
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="4")
    first = await twilio.call("/voice/wait?o=gender&n=1", sid, QueueTime="0")
    assert any("前に1人" in s for s in says(first))
    # Twilio's next poll, 5 s later: no announcement is due (tests/service/test_hold_timing.py)
    second = await twilio.call(_next_poll(first), sid, QueueTime="5")
    assert not any("人の方" in s for s in says(second))


@pytest.mark.usefixtures("busy")
async def test_an_english_caller_on_hold_hears_their_place_and_no_callback_without_rest(
    twilio: Twilio, sid: str
) -> None:
    await twilio.call("/voice/menu?m=languages&t=1", new_sid(), Digits="1")
    await twilio.call("/voice/menu?m=languages&t=1", sid, Digits="1")
    doc = await twilio.call("/voice/wait?o=foreign&l=en&n=1", sid)
    gather = doc.find("Gather")
    assert gather.get("action") == f"{PUBLIC}/voice/hold-key?o=foreign&l=en&n=1"
    spoken = says(gather)
    assert "Callers waiting before you: 1." in spoken
    # No REST account here: we could not call back, so no callback is offered (with one:
    # test_callback.py and test_callback_privacy.py).
    assert not any("called back" in s for s in spoken)
    assert {s.get("language") for s in doc.iter("Say")} == {"en-US"}
    # Without pushed reservations a track would hide a freed line: no music, short pauses.
    assert list(doc.iter("Play")) == [] and gather.find("Pause") is not None


@pytest.mark.usefixtures("busy")
async def test_hold_music_plays_where_reservations_are_pushed(twilio: Twilio, app, sid) -> None:
    # A REST account that runs the hold (pushed reservations: REST dequeue); no request is
    # made by a hold poll. A development service's own stand-in does not run it: no music.
    # Twilio cannot cut a track short: the shipped track (music_seconds 300) fits only where
    # 300 s remain before the next announcement (60 s apart), never; a 20 s clip fits.
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="4")
    before, cfg = app.state.rest, app.state.cfg
    clip = cfg.model_copy(update={"hold": cfg.hold.model_copy(update={"music_seconds": 20})})
    real = TwilioRest("AC" + "1" * 32, "token")
    dev = TwilioRest(DEV_ACCOUNT_SID, "token", stand_in=TwilioApi(DEV_ACCOUNT_SID, "token"))
    for rest, config, music in [
        (real, cfg, []),
        (real, clip, [cfg.hold.music.url]),
        (dev, clip, []),
    ]:
        renderer = services_of(app).renderer
        app.state.rest, renderer.cfg = rest, config
        try:
            doc = await twilio.call("/voice/wait?o=gender&n=2", sid, QueueTime="0")
        finally:
            app.state.rest, renderer.cfg = before, cfg
        assert [p.text for p in doc.iter("Play")] == music
        assert music or doc.find("Gather/Pause") is not None


@pytest.mark.usefixtures("busy")
async def test_after_the_maximum_wait_the_choice_is_offered_once(twilio, sid, clock) -> None:
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="4")  # gender: 600 s
    n, doc = 1, None
    for n in range(1, 30):
        doc = await twilio.call(f"/voice/wait?o=gender&n={n}", sid)
        if "step=choice" in doc.find("Gather").get("action", ""):
            break
        clock.advance(30)
    assert doc is not None and "10分ほどお待たせしています" in "".join(says(doc))
    assert n == 21  # 600 s after joining the queue, at the first poll past it
    assert doc[-1].text.startswith(f"{PUBLIC}/voice/wait?o=gender&n={n + 1}&x=1")
    clock.advance(30)
    after = await twilio.call(f"/voice/wait?o=gender&n={n + 1}&x=1", sid)
    assert "step=choice" not in after.find("Gather").get("action", "")
    assert after.find("Gather").get("action", "").endswith("x=1")  # keys keep the flag too
    assert "&x=1" in after[-1].text  # the flag stays set


async def test_bad_or_missing_signature_is_refused_without_twiml(twilio: Twilio, sid) -> None:
    resp = await twilio.client.post(
        "/voice/incoming", data={"CallSid": sid}, headers={"X-Twilio-Signature": "forged"}
    )
    assert resp.status_code == 403 and b"<Response" not in resp.content
    resp = await twilio.client.post("/voice/incoming", data={"CallSid": sid})
    assert resp.status_code == 403
    # Signed for the local URL instead of the public one Twilio used: refused too.
    from twilio.request_validator import RequestValidator

    from hotline.testing.secrets import TEST_TOKEN

    sig = RequestValidator(TEST_TOKEN).compute_signature(
        "http://testserver/voice/incoming", {"CallSid": sid}
    )
    resp = await twilio.client.post(
        "/voice/incoming", data={"CallSid": sid}, headers={"X-Twilio-Signature": sig}
    )
    assert resp.status_code == 403


async def test_a_signature_over_the_url_with_its_port_is_accepted(twilio: Twilio, sid) -> None:
    """Twilio has signed some requests over the URL with its default port: accepted, as
    the library accepts them; any other header is refused, whatever its characters."""
    assert PUBLIC.startswith("https://") and PUBLIC.count(":") == 1
    with_port = PUBLIC.replace(".jp", ".jp:443", 1) + "/voice/incoming"
    params = {"CallSid": sid, "From": CALLER, "To": NUMBER_0120}
    resp = await twilio.client.post(
        "/voice/incoming", data=params, headers=twilio.signer.headers(with_port, params)
    )
    assert resp.status_code == 200 and b"<Gather" in resp.content
    resp = await twilio.client.post(
        "/voice/incoming", data=params, headers={"X-Twilio-Signature": "署名".encode()}
    )
    assert resp.status_code == 403


async def test_huge_body_gets_413(twilio: Twilio, sid: str) -> None:
    resp = await twilio.post("/voice/incoming", CallSid=sid, Junk="x" * 70_000)
    assert resp.status_code == 413


async def test_empty_form_gets_a_clear_error(twilio: Twilio) -> None:
    resp = await twilio.post("/voice/incoming")
    assert resp.status_code == 400 and "CallSid" in resp.text


async def test_unknown_to_number_still_serves_the_caller(twilio: Twilio, app, sid) -> None:
    doc = await twilio.call("/voice/incoming", sid, To="+81300000000")
    assert doc.find("Gather") is not None
    assert (await _call(app, sid)).entry == "other"


async def test_an_internal_error_answers_fallback_twiml_with_200(twilio, app, sid, monkeypatch):
    from hotline.calls import store

    async def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "insert_call", broken)
    doc = await twilio.call("/voice/incoming", sid)
    assert "申し訳ありません" in says(doc)[0]
    targets = [el.text for el in doc.find("Dial")]
    assert targets and all("sisc" in t for t in targets)


@pytest.mark.usefixtures("busy")
async def test_caller_hanging_up_on_hold_is_abandoned_once(twilio: Twilio, app, sid) -> None:
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    for _ in range(2):
        resp = await twilio.post(
            "/voice/queue-result?o=loneliness", CallSid=sid, QueueResult="hangup", From=CALLER
        )
        assert resp.status_code == 200
    call = await _call(app, sid)
    assert (call.state, call.end_stage) == ("abandoned", "waiting")
    assert [e.kind for e in await _events(app, sid)].count("queue-result") == 1


@pytest.mark.usefixtures("busy")
async def test_unknown_queue_result_puts_the_caller_back_in_line(twilio, app, sid) -> None:
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="1")
    doc = await twilio.call("/voice/queue-result?o=under18", sid, QueueResult="system-error")
    assert doc.find("Enqueue").text == "hotline-under18"
    assert (await _call(app, sid)).state == "waiting"


async def test_status_callbacks_close_a_call_once_in_any_order(twilio, app, sid) -> None:
    await twilio.call("/voice/incoming", sid)
    for seq, status in ((1, "completed"), (0, "in-progress"), (1, "completed")):
        resp = await twilio.post(
            "/voice/status", CallSid=sid, CallStatus=status, SequenceNumber=str(seq)
        )
        assert resp.status_code == 204
    call = await _call(app, sid)
    assert (call.state, call.end_stage) == ("abandoned", "menu")
    assert [e.kind for e in await _events(app, sid)].count("status") == 2


async def test_health_and_readiness(client) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


@pytest.mark.usefixtures("busy")
async def test_a_choice_after_the_repeat_key_joins_the_queue_at_once(twilio, app, sid) -> None:
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="9")
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    assert doc.find("Enqueue") is not None
    assert (await _call(app, sid)).state == "waiting"
    assert "queued" in [e.kind for e in await _events(app, sid)]


async def test_a_failure_leaves_nothing_half_done(twilio, app, sid, monkeypatch) -> None:
    from hotline.routing.store import Router

    async def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    await twilio.call("/voice/incoming", sid)
    # The pass that follows joining the queue fails: the call has already changed in the
    # session, and all of it must be rolled back.
    monkeypatch.setattr(Router, "assign", broken)
    doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    assert doc.find("Dial") is not None  # the apology, then the backup organisation
    call = await _call(app, sid)
    assert call.state == "menu" and call.option_id is None  # the step was rolled back
    assert [e.kind for e in await _events(app, sid)] == ["incoming"]


async def test_a_failed_commit_answers_the_fallback_and_keeps_nothing(twilio, app, sid) -> None:
    """The step commits before the answer goes out: a commit that fails is answered with
    the fallback, never with the hold of a queue the caller was not kept in."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    await twilio.call("/voice/incoming", sid)

    def refused(session: Session) -> None:
        raise RuntimeError("the commit failed")

    event.listen(Session, "before_commit", refused)
    try:
        doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    finally:
        event.remove(Session, "before_commit", refused)
    assert doc.find("Enqueue") is None  # not the queue
    targets = [el.text for el in doc.find("Dial")]
    assert targets and all("sisc" in t for t in targets)  # the backup organisation
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("menu", None)
    assert [e.kind for e in await _events(app, sid)] == ["incoming"]


@contextmanager
def database_failing(error: type[Exception] = RuntimeError) -> Iterator[None]:
    """Every statement fails, as with the database away (the real database, a fault injected
    where the driver would be called)."""
    from sqlalchemy.engine import Engine

    def refused(*a: object, **k: object) -> None:
        raise error("the database is away")

    event.listen(Engine, "before_cursor_execute", refused)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", refused)


def _next_poll(doc: ET.Element) -> str:
    redirect = doc.find("Redirect")
    assert redirect is not None and redirect.text
    return redirect.text.removeprefix(PUBLIC)


@pytest.mark.usefixtures("busy")
async def test_a_failed_hold_poll_keeps_the_caller_holding_in_japanese(twilio, app, sid) -> None:
    """A blip (a failover, one slow statement) answers a hold segment made without the
    database: the caller stays in Twilio's queue and in ours, and the next poll carries the
    count of failures; a poll the database answers drops it."""
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    with database_failing():
        hold = await twilio.call("/voice/wait?o=loneliness&n=4", sid)
        key = await twilio.call("/voice/hold-key?o=loneliness&n=4", sid, Digits="1")
    for doc in (hold, key):
        assert doc.find("Leave") is None and doc.find("Dial") is None
        assert any("このままお待ちください" in said for said in says(doc))
        assert _next_poll(doc) == "/voice/wait?o=loneliness&n=5&f=1"
        gather = doc.find("Gather")
        assert gather is not None and "f=1" in gather.get("action", "")
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("waiting", "loneliness")
    # The database is back: the next poll is an ordinary segment, the count dropped.
    again = await twilio.call(_next_poll(hold), sid)
    assert again.find("Leave") is None
    assert _next_poll(again).startswith("/voice/wait?o=loneliness&n=6&a=")
    assert "f=" not in _next_poll(again)
    assert (await _call(app, sid)).state == "waiting"


@pytest.mark.usefixtures("busy")
async def test_an_outage_logs_each_failed_hold_poll_in_one_line(twilio, sid, caplog) -> None:
    """During an outage every holding caller's poll fails: each is one warning line naming the
    route, not a traceback that would bury the rest of the log."""
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    caplog.clear()
    with database_failing(ConnectionRefusedError):
        hold = await twilio.call("/voice/wait?o=loneliness&n=4", sid)
    assert hold.find("Leave") is None
    failed = [
        r
        for r in caplog.records
        # The service's own lines, but its one access line (httpx's client logs too, at INFO
        # once another test has set the root logger's level)
        if "/voice/wait" in r.getMessage()
        and r.name.startswith("hotline")
        and r.name != "hotline.access"
    ]
    assert [r.levelname for r in failed] == ["WARNING"]
    assert "ConnectionRefusedError" in failed[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.usefixtures("busy")
async def test_a_hold_failing_past_its_bound_leaves_the_queue_for_the_backup(
    twilio, app, sid
) -> None:
    """`hold_failures` failed polls in a row are a blip; the next one leaves the hold (waitUrl
    TwiML may not <Dial>) and the Enqueue's action dials the backup organisation."""
    limit = services_of(app).settings.hold_failures
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    poll = "/voice/wait?o=loneliness&n=1"
    with database_failing():
        for n in range(1, limit + 1):
            hold = await twilio.call(poll, sid)
            assert hold.find("Leave") is None, f"failure {n} is still a blip"
            poll = _next_poll(hold)
            assert poll.endswith(f"f={n}")
        last = await twilio.call(poll, sid)
        assert [el.tag for el in last] == ["Leave"]
        key = await twilio.call(f"/voice/hold-key?o=loneliness&n=9&f={limit}", sid, Digits="1")
        assert [el.tag for el in key] == ["Leave"]
    assert (await _call(app, sid)).state == "waiting"  # nothing was written meanwhile
    after = await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="leave")
    targets = [el.text for el in after.find("Dial")]
    assert targets and all("sisc" in t for t in targets)
    assert (await _call(app, sid)).state == "abandoned"


@pytest.mark.usefixtures("busy")
async def test_webhooks_stuck_behind_a_lock_answer_within_their_deadline(
    twilio, app, sid, db_url
) -> None:
    """A statement stuck behind another client's lock: past the webhook's deadline (small
    here) the caller hears our answer, not Twilio's: a new call the backup organisation, a
    holding caller a hold segment. What is asserted is the answer, not how long it took."""
    from hotline.db import is_sqlite, make_engine

    services = services_of(app)
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    services.settings.webhook_deadline_seconds = 0.2
    holder = make_engine(db_url)
    try:
        async with holder.connect() as conn:
            await conn.begin()  # SQLite: BEGIN IMMEDIATE, its write lock
            if not is_sqlite(db_url):
                await conn.execute(text("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE"))
            incoming = await twilio.call("/voice/incoming", new_sid())
            hold = await twilio.call("/voice/wait?o=loneliness&n=2", sid)
            await conn.rollback()
        await asyncio.gather(*services.late_webhooks, return_exceptions=True)
    finally:
        await holder.dispose()
        services.settings.webhook_deadline_seconds = 8.0
    targets = [el.text or "" for el in incoming.iter("Sip")]
    assert incoming.find("Gather") is None and targets and all("sisc" in t for t in targets)
    assert hold.find("Leave") is None and _next_poll(hold) == "/voice/wait?o=loneliness&n=3&f=1"
    again = await twilio.call(_next_poll(hold), sid)
    assert _next_poll(again).startswith("/voice/wait?o=loneliness&n=4&a=")
    assert "f=" not in _next_poll(again)
    assert (await _call(app, sid)).state == "waiting"


@pytest.mark.usefixtures("busy")
async def test_a_redirect_we_did_not_make_puts_a_waiting_caller_back_in_the_queue(
    twilio, app, sid
) -> None:
    """`redirected` without our push marker, for a call waiting (no line held for it):
    someone else took the caller out of the queue (Twilio's console); they are enqueued again,
    their waiting time kept, and not ended."""
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    since = (await _call(app, sid)).waiting_since
    doc = await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="redirected")
    enqueue = doc.find("Enqueue")
    assert enqueue is not None and doc.find("Dial") is None
    call = await _call(app, sid)
    assert (call.state, call.option_id, call.waiting_since) == ("waiting", "loneliness", since)
    assert call.ended_at is None


async def test_a_queue_result_for_a_call_never_seen_goes_to_the_backup(twilio, app, sid) -> None:
    """Lost state on leaving the hold: no queue is known, so the backup serves at once, and
    the call is never left waiting with no option (nobody would ever route it)."""
    doc = await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="queue-full")
    targets = [el.text for el in doc.find("Dial")]
    assert targets and all("sisc" in t for t in targets)
    assert (await _call(app, sid)).state == "menu"


@pytest.mark.usefixtures("busy")
async def test_a_caller_swept_after_a_polling_gap_is_not_left_holding(twilio, app, sid, clock):
    """A restart longer than the silence bound ended the call; when the caller's hold polls
    again, they leave the hold for the backup instead of holding for ever."""
    from hotline.routing.ticker import tick_once

    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    clock.advance(120)
    await tick_once(services_of(app))
    assert (await _call(app, sid)).state == "abandoned"
    hold = await twilio.call("/voice/wait?o=loneliness&n=7", sid)
    assert [el.tag for el in hold] == ["Leave"]
    after = await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="leave")
    assert after.find("Dial") is not None


async def test_a_retried_dial_result_hears_the_same_answer(twilio, app, sid) -> None:
    from tests.conftest import new_sid
    from tests.service.test_routing import dialled, leave_and_ring, only_lines, queue

    await only_lines(app, "inochi-01")
    _, whisper_url, action = dialled(
        await leave_and_ring(twilio, sid, await queue(twilio, sid, "8"))
    )
    whisper = await twilio.call(whisper_url, new_sid())
    await twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
    dial_sid = new_sid()
    first = await twilio.call(action, sid, DialCallStatus="completed", DialCallSid=dial_sid)
    again = await twilio.call(action, sid, DialCallStatus="completed", DialCallSid=dial_sid)
    assert ET.tostring(first) == ET.tostring(again)  # goodbye both times, counted once
    assert (await _call(app, sid)).state == "completed"


async def test_a_callsid_with_control_characters_is_refused(twilio) -> None:
    resp = await twilio.post("/voice/incoming", CallSid="CA\x1b[31mred\n", From="+819011112222")
    assert resp.status_code == 400


@pytest.mark.usefixtures("busy")
async def test_a_queue_that_keeps_failing_sends_the_caller_to_the_backup(twilio, app, sid) -> None:
    """Twilio answers a failing queue at once: re-enqueueing for ever would loop the caller
    in silence. Twice within a minute, then the backup organisation, with the apology. (A
    full queue has its own answer: tests/service/test_queues.py.)"""
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    answers = [
        await twilio.call("/voice/queue-result?o=loneliness", sid, QueueResult="error")
        for _ in range(3)
    ]
    assert [a.find("Enqueue") is not None for a in answers] == [True, True, False]
    targets = [el.text for el in answers[-1].find("Dial")]
    assert targets and all("sisc" in t for t in targets)
    assert "申し訳ありません" in says(answers[-1])[0]


async def test_a_pooled_connection_found_closed_is_replaced_before_a_webhook(
    twilio: Twilio, app, sid, caplog
) -> None:
    """PostgreSQL restarted or dropped our pooled connections (on SQLite: the pooled
    connection is closed under the pool): the next caller is served as usual. The voice pool
    does not ping; the webhook that finds its connection closed runs again on a new one."""
    await twilio.call("/voice/incoming", sid)
    with pooled_connections_closed(app) as closed:
        doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="9")
    assert closed, "no pooled connection was closed: the test proved nothing"
    assert doc.find("Gather") is not None  # the menu again, not the fallback's apology
    assert "申し訳ありません" not in " ".join(says(doc))
    assert app.state.webhook_errors == 0
    assert "lost its connection; run again" in caplog.text  # it met the closed one


@contextmanager
def pooled_connections_closed(app) -> Iterator[list[object]]:  # type: ignore[no-untyped-def]
    """Close the voice pool's connections behind its back, as a server restart does: on
    PostgreSQL every other backend of the database is terminated at the next checkout; on
    SQLite the connection checked out next is closed. Yields what was closed."""
    closed: list[object] = []
    postgresql = app.state.engine.dialect.name == "postgresql"
    url = make_url(app.state.settings.database_url).set(drivername="postgresql")

    def close(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if closed:
            return
        driver = dbapi_conn.driver_connection
        if postgresql:

            async def terminate() -> list[object]:  # from a connection of its own
                admin = await asyncpg.connect(url.render_as_string(hide_password=False))
                try:
                    rows = await admin.fetch(
                        "SELECT pid, pg_terminate_backend(pid, 10000) AS gone"
                        " FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    return [row["pid"] for row in rows if row["gone"]]
                finally:
                    await admin.close()

            closed.extend(await_only(terminate()))
        else:
            await_only(driver.close())
            closed.append(driver)

    pool = app.state.engine.sync_engine.pool
    event.listen(pool, "checkout", close)
    try:
        yield closed
    finally:
        event.remove(pool, "checkout", close)


@contextmanager
def connection_killed(app, at: str, times: int = 1) -> Iterator[list[int]]:  # type: ignore[no-untyped-def]
    """The server terminates a voice webhook's connection just before its statement holding
    `at` (or its COMMIT: `at="COMMIT"`), the first `times` times; yields the backends
    killed."""
    killed: list[int] = []
    url = make_url(app.state.settings.database_url).set(drivername="postgresql")

    def kill(conn) -> None:  # type: ignore[no-untyped-def]
        if len(killed) == times:
            return
        pid = conn.connection.driver_connection.get_server_pid()

        async def terminate() -> None:  # from another connection, waiting for the exit
            admin = await asyncpg.connect(url.render_as_string(hide_password=False))
            try:
                await admin.execute("SELECT pg_terminate_backend($1, 10000)", pid)
            finally:
                await admin.close()

        await_only(terminate())
        killed.append(pid)

    def before(conn, _cursor, statement, *_) -> None:  # type: ignore[no-untyped-def]
        if at in statement:
            kill(conn)

    engine = app.state.engine.sync_engine
    hook, kind = (kill, "commit") if at == "COMMIT" else (before, "before_cursor_execute")
    event.listen(engine, kind, hook)
    try:
        yield killed
    finally:
        event.remove(engine, kind, hook)


POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@POSTGRESQL
@pytest.mark.usefixtures("busy")
# The step's write (on PostgreSQL its event and the call's UPDATE are one statement), or COMMIT.
@pytest.mark.parametrize("at", ["INSERT INTO call_events", "COMMIT"])
async def test_a_webhook_whose_connection_dies_mid_way_runs_again_once(
    twilio: Twilio, app, sid, at: str
) -> None:
    """The connection dies in the middle of a menu choice (before a write, or at the commit):
    the step was rolled back, and the webhook runs again from the start on a new connection.
    The caller joins the queue once, as if nothing had happened."""
    await twilio.call("/voice/incoming", sid)
    with connection_killed(app, at) as killed:
        doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    assert len(killed) == 1
    assert doc.find("Enqueue") is not None  # not the fallback
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("waiting", "loneliness")
    assert [e.kind for e in await _events(app, sid)].count("queued") == 1
    assert app.state.webhook_errors == 0


@POSTGRESQL
async def test_a_webhook_whose_connection_dies_twice_answers_the_fallback(
    twilio: Twilio, app, sid
) -> None:
    """Run again only once: a second lost connection is a failure like any other, the caller
    hears the apology and the backup organisation, and nothing of the step is kept."""
    await twilio.call("/voice/incoming", sid)
    with connection_killed(app, "INSERT INTO call_events", times=3) as killed:
        doc = await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    assert len(killed) == 2
    targets = [el.text for el in doc.find("Dial")]
    assert targets and all("sisc" in t for t in targets)
    call = await _call(app, sid)
    assert call.state == "menu" and call.option_id is None
    assert [e.kind for e in await _events(app, sid)] == ["incoming"]
    assert app.state.webhook_errors == 1


@contextmanager
def begun(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The transactions PostgreSQL is asked to begin on the voice pool's connections while
    the block runs (asyncpg sends BEGIN as a query of its own)."""
    begins: list[str] = []

    def log(query) -> None:  # type: ignore[no-untyped-def]
        if query.query.lstrip().upper().startswith("BEGIN"):
            begins.append(query.query)

    def out(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.driver_connection.add_query_logger(log)

    def back(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.driver_connection.remove_query_logger(log)

    pool = app.state.engine.sync_engine.pool
    event.listen(pool, "checkout", out)
    event.listen(pool, "checkin", back)
    try:
        yield begins
    finally:
        event.remove(pool, "checkout", out)
        event.remove(pool, "checkin", back)


@POSTGRESQL
@pytest.mark.usefixtures("busy")
async def test_a_first_webhook_and_a_plain_hold_poll_take_one_statement_and_no_transaction(
    twilio: Twilio, app, sid, clock
) -> None:
    """On PostgreSQL a step of one statement commits by itself: a caller's first webhook (the
    call stored with its arrival logged) and a hold poll between announcements (the caller
    marked seen) are one round trip each instead of three. A poll that announces checks the
    option's lines and the place in line in a transaction, as a step that needs more does."""
    with begun(app) as begins:
        menu = await twilio.call("/voice/incoming", sid)
    assert menu.find("Gather") is not None and begins == []
    assert [e.kind for e in await _events(app, sid)] == ["incoming"]
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")
    clock.advance(30)
    with begun(app) as begins:  # the last announcement at 0 s in the queue, now 30 s
        hold = await twilio.call("/voice/wait?o=loneliness&n=2&a=0", sid, QueueTime="30")
    assert hold.find("Leave") is None and begins == []
    assert (await _call(app, sid)).last_seen_at == clock()
    with begun(app) as begins:  # a minute after the last: announces
        await twilio.call("/voice/wait?o=loneliness&n=4&a=0", sid, QueueTime="60")
    assert len(begins) == 1
    # Retried by Twilio, the first webhook changes nothing (the call is stored already: the
    # step is looked up in a transaction) and answers the menu again.
    again = await twilio.call("/voice/incoming", sid)
    assert again.find("Gather") is not None
    assert [e.kind for e in await _events(app, sid)].count("incoming") == 1
    assert (await _call(app, sid)).state == "waiting"
