"""Caller flags and the withheld-number policy, through signed webhooks, the API and the
console, on both databases: a caller flagged as abusive hears a polite message with the other
lines until the flag expires; a repeat caller is a neutral note in the whisper; a withheld
number hears what its option's policy says; who may flag is checked, and every change audited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from hotline.app import create_app
from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common.audit import AuditEntry
from hotline.config import ConfigError, HotlineConfig
from hotline.config.loader import parse
from hotline.flags.models import CallerFlag
from hotline.ivr.upkeep import purge_flags
from hotline.ivr.webhooks import replay
from hotline.services import services_of
from hotline.testing.twilio_requests import CALLER, NUMBER_9999
from hotline.voice.spooled import without_numbers
from tests.conftest import ROOT, Clock, Twilio, make_settings, new_sid, says
from tests.service.test_console import csrf_of, login, make_user
from tests.service.test_lines_api import bearer, make_key
from tests.service.test_metrics import scrape, value
from tests.service.test_routing import dialled, leave_and_ring, only_lines, queue

OTHER = "+819012345678"
REASON = "深夜に暴言を繰り返す"


async def _call(app, sid: str) -> Call:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def _audit(app) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        rows = await s.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.entity == "caller_flag")
            .order_by(AuditEntry.id)
        )
        return [(a, d) for a, d in rows]


async def _flag(client, key: str, sid: str, kind: str, hours: int = 24) -> httpx.Response:  # type: ignore[no-untyped-def]  # noqa: E501
    body = {"call_sid": sid, "kind": kind, "reason": REASON, "expires_in_hours": hours}
    return await client.post("/api/flags", json=body, headers=bearer(key))


async def test_an_abusive_caller_is_turned_away_politely_until_the_flag_expires(
    twilio: Twilio, client, app, clock: Clock
) -> None:
    first = new_sid()
    await twilio.call("/voice/incoming", first)
    coordinator = await make_key(app, "sisc", Role.COORDINATOR)
    made = await _flag(client, coordinator, first, "abusive", hours=24)
    assert made.status_code == 201, made.text
    assert made.json()["from_call_sid"] == first and made.json()["kind"] == "abusive"
    assert CALLER not in made.text and CALLER[1:] not in made.text  # never the number

    blocked = new_sid()
    doc = await twilio.call("/voice/incoming", blocked)
    text = " ".join(says(doc))
    assert doc.find("Gather") is None and doc[-1].tag == "Hangup"
    assert "おつなぎすることができません" in text
    assert "よりそいホットライン" in text  # other lines open now
    assert "119" in text and "110" in text
    assert REASON not in text and "#9999" not in text and "9999" not in text
    call = await _call(app, blocked)
    assert (call.state, call.end_stage) == ("abandoned", "blocked")
    # A retried webhook says the same and counts nothing twice.
    again = await twilio.call("/voice/incoming", blocked)
    assert says(again) == says(doc)
    samples = await scrape(client)
    assert value(samples, "hotline_calls_turned_away_total", reason="blocked") == 1
    assert value(samples, "hotline_calls_turned_away_total", reason="withheld") == 0

    # Another number is not concerned.
    other = await twilio.call("/voice/incoming", new_sid(), From=OTHER)
    assert other.find("Gather") is not None

    # The flag stops acting the moment it expires, before any purge.
    clock.advance(24 * 3600 + 1)
    later = await twilio.call("/voice/incoming", new_sid())
    assert later.find("Gather") is not None
    async with app.state.sessions() as s:
        assert len((await s.execute(select(CallerFlag))).all()) == 1
    assert await purge_flags(services_of(app)) == 1
    async with app.state.sessions() as s:
        assert (await s.execute(select(CallerFlag))).all() == []
    listed = await client.get("/api/flags", headers=bearer(coordinator))
    assert listed.json() == []
    actions = await _audit(app)
    assert [a for a, _ in actions] == ["flag.create"]
    assert actions[0][1]["kind"] == "abusive" and REASON not in str(actions[0][1])


async def test_a_repeat_caller_is_a_neutral_note_in_the_whisper(
    twilio: Twilio, client, app
) -> None:
    first = new_sid()
    await twilio.call("/voice/incoming", first)
    operator = await make_key(app, "sisc", Role.OPERATOR)
    assert (await _flag(client, operator, first, "repeat", hours=24 * 30)).status_code == 201

    await only_lines(app, "inochi-01")
    sid = new_sid()
    enq = await queue(twilio, sid, "8")
    assert enq.find("Enqueue") is not None  # a repeat caller is served as any caller
    _, whisper_url, _ = dialled(await leave_and_ring(twilio, sid, enq))
    whisper = " ".join(says(await twilio.call(whisper_url, new_sid())))
    assert "以前から、何度もお電話をいただいている方です。" in whisper
    assert REASON not in whisper and "1を押して" in whisper

    # Another caller's whisper has no note.
    await only_lines(app, "inochi-02")
    other = new_sid()
    doc = await twilio.call("/voice/incoming", other, From=OTHER)
    enq = await twilio.call(doc.find("Gather").get("action"), other, From=OTHER, Digits="8")
    _, whisper_url, _ = dialled(await leave_and_ring(twilio, other, enq))
    assert "何度も" not in " ".join(says(await twilio.call(whisper_url, new_sid())))


async def test_only_coordinators_and_operators_flag_and_the_request_is_checked(
    twilio: Twilio, client, app
) -> None:
    sid = new_sid()
    await twilio.call("/voice/incoming", sid)
    counsellor = await make_key(app, "inochi", Role.COUNSELLOR)
    assert (await _flag(client, counsellor, sid, "abusive")).status_code == 403
    assert (await client.get("/api/flags", headers=bearer(counsellor))).status_code == 403
    admin = await make_key(app, "sisc", Role.ADMIN)
    assert (await _flag(client, admin, sid, "abusive")).status_code == 403
    assert (await client.post("/api/flags", json={})).status_code == 401

    coordinator = await make_key(app, "sisc", Role.COORDINATOR)
    too_short = await _flag(client, coordinator, sid, "abusive", hours=23)
    too_long = await _flag(client, coordinator, sid, "abusive", hours=5 * 365 * 24 + 1)
    assert (too_short.status_code, too_long.status_code) == (422, 422)
    assert "expires_in_hours" in too_short.text
    unknown_kind = await _flag(client, coordinator, sid, "rude")
    assert unknown_kind.status_code == 422 and "repeat, abusive" in unknown_kind.text
    assert (await _flag(client, coordinator, new_sid(), "repeat")).status_code == 404
    nul = await _flag(client, coordinator, "CA\x00", "repeat")
    assert nul.status_code == 422  # text no database can store, refused before any statement
    withheld = new_sid()
    await twilio.call("/voice/incoming", withheld, From="anonymous")
    refused = await _flag(client, coordinator, withheld, "abusive")
    assert refused.status_code == 422 and "withheld" in refused.text

    made = await _flag(client, coordinator, sid, "abusive", hours=5 * 365 * 24)
    assert made.status_code == 201
    twice = await _flag(client, coordinator, sid, "abusive")
    assert twice.status_code == 409 and str(made.json()["id"]) in twice.text
    flag_id = made.json()["id"]
    url = f"/api/flags/{flag_id}"
    assert (await client.delete(url, headers=bearer(counsellor))).status_code == 403
    assert (await client.delete(url, headers=bearer(coordinator))).status_code == 204
    assert (await client.delete(url, headers=bearer(coordinator))).status_code == 404
    assert (await twilio.call("/voice/incoming", new_sid())).find("Gather") is not None
    assert [a for a, _ in await _audit(app)] == ["flag.create", "flag.lift"]


def policies(**withheld: str) -> HotlineConfig:
    """The shipped file with these options' withheld policies."""
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    for option in data["options"]:
        if option["id"] in withheld:
            option["withheld"] = withheld[option["id"]]
    return parse(data)


@pytest.fixture
async def strict(db_url: str, clock: Clock) -> AsyncIterator[tuple[Any, Twilio]]:
    """An app whose 孤独・孤立 (8) asks withheld callers for 186, and 女性 (3) and the
    foreign languages (2) refuse them."""
    cfg = policies(loneliness="ask_186", women="refuse", foreign="refuse")
    application = create_app(make_settings(db_url), cfg, clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, Twilio(c)


async def test_a_withheld_number_hears_its_options_policy(strict: tuple[Any, Twilio]) -> None:
    app, tw = strict
    await only_lines(app, "inochi-01", "sisc-01")
    doc = await queue(tw, new_sid(), "8")
    assert doc.find("Enqueue") is not None  # a caller with a number: queued

    ask = new_sid()
    doc = await tw.call("/voice/incoming", ask, From="anonymous")
    doc = await tw.call(doc.find("Gather").get("action"), ask, From="anonymous", Digits="8")
    text = " ".join(says(doc))
    assert doc.find("Enqueue") is None and doc[-1].tag == "Hangup"
    assert "186" in text and "119" in text
    assert "よりそいホットライン" not in text  # asked to call again, not sent elsewhere
    call = await _call(app, ask)
    assert (call.state, call.end_stage, call.option_id) == ("abandoned", "withheld", "loneliness")

    refused = new_sid()  # Twilio's withheld number before 2023, spelled on the keypad
    doc = await tw.call("/voice/incoming", refused, From="+266696687")
    doc = await tw.call(doc.find("Gather").get("action"), refused, From="+266696687", Digits="3")
    text = " ".join(says(doc))
    assert doc.find("Enqueue") is None and "番号を通知しないお電話はお受けしていません" in text
    assert "よりそいホットライン" in text and "119" in text
    assert (await _call(app, refused)).caller_hash is None

    english = new_sid()  # in the caller's language, with the lines open to them
    doc = await tw.call("/voice/incoming", english, From="anonymous")
    doc = await tw.call(doc.find("Gather").get("action"), english, From="anonymous", Digits="2")
    doc = await tw.call(doc.find("Gather").get("action"), english, From="anonymous", Digits="1")
    assert doc.find("Enqueue") is None and {el.get("language") for el in doc.iter("Say")} == {
        "en-US"
    }
    assert "this line cannot take calls from a withheld number" in " ".join(says(doc))
    assert (await _call(app, english)).language == "en"

    accepted = new_sid()  # 性別 (4) keeps the default: accept
    doc = await tw.call("/voice/incoming", accepted, From="anonymous")
    doc = await tw.call(doc.find("Gather").get("action"), accepted, From="anonymous", Digits="4")
    assert doc.find("Enqueue") is not None
    samples = await scrape(tw.client)
    assert value(samples, "hotline_calls_turned_away_total", reason="withheld") == 3


def test_a_policy_outside_the_three_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError) as refused:
        policies(women="maybe")
    assert "withheld" in str(refused.value) and "options" in str(refused.value)


def test_the_shipped_file_accepts_withheld_numbers_everywhere(cfg: HotlineConfig) -> None:
    assert {o.withheld for o in cfg.options} == {"accept"}


async def test_a_coordinator_flags_from_the_console_and_a_counsellor_cannot(
    twilio: Twilio, client, app
) -> None:
    sid = new_sid()
    await twilio.call("/voice/incoming", sid)
    await make_user(app, "tanaka", "inochi", Role.COUNSELLOR)
    await login(client, "tanaka")
    assert (await client.get("/console/flags")).status_code == 403
    calls = await client.get("/console/calls")
    await client.post("/console/logout", data={"csrf": csrf_of(calls.text)})

    await make_user(app, "sato", "sisc", Role.COORDINATOR)
    await login(client, "sato")
    page = await client.get(f"/console/flags?call={sid}")
    assert page.status_code == 200 and f'value="{sid}"' in page.text
    form = {"csrf": csrf_of(page.text), "call_sid": sid, "kind": "abusive", "hours": "168"}
    empty = await client.post("/console/flags", data=form)
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text
    done = await client.post("/console/flags", data={**form, "reason": REASON})
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert "フラグを付けました" in shown.text and REASON in shown.text and CALLER not in shown.text
    assert (await twilio.call("/voice/incoming", new_sid())).find("Gather") is None
    async with app.state.sessions() as s:
        flag_id = (await s.execute(select(CallerFlag.id))).scalar_one()
    lift = await client.post(f"/console/flags/{flag_id}/lift", data={"csrf": csrf_of(shown.text)})
    assert lift.status_code == 303
    assert (await twilio.call("/voice/incoming", new_sid())).find("Gather") is not None


async def test_an_arrival_replayed_from_the_spool_is_not_turned_away(
    twilio: Twilio, client, app, clock: Clock
) -> None:
    """While the database was away the fallback served the caller, flag or not: the replayed
    arrival records the call, it does not end it as blocked."""
    first = new_sid()
    await twilio.call("/voice/incoming", first)
    coordinator = await make_key(app, "sisc", Role.COORDINATOR)
    assert (await _flag(client, coordinator, first, "abusive")).status_code == 201
    services = services_of(app)
    secret = services.settings.caller_secret
    params = without_numbers(
        {"CallSid": (sid := new_sid()), "From": CALLER, "To": NUMBER_9999}, secret
    )
    entry = {"path": "/voice/incoming", "at": clock().isoformat(), "params": params, "query": ""}
    await replay(services, entry)
    call = await _call(app, sid)
    assert call.state == "menu" and call.end_stage is None
    # The spooled hash reached the replay whole: the same caller as their live call.
    assert call.caller_hash == (await _call(app, first)).caller_hash
