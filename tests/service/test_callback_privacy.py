"""A callback that outs no one: the caller's leg is answered by a machine, by someone who
presses nothing (or another key), and by the caller; only the caller, after their 1, hears
anything that names the hotline. Who may ask for a callback at all: not under-18 or women's
callers in the shipped config, not a foreign number, not when the wait would outlast the
request; and a request that expires calls nobody, and is counted.

Twilio's REST API is the local stand-in, through the service's own adapter (as in
test_callback.py, whose fixtures and helpers these tests share), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from hotline.testing.twilio_api import Created
from tests.conftest import new_sid
from tests.service import test_callback as base
from tests.service.test_callback import (
    LINE,
    PUBLIC,
    accepted,
    booked,
    call_of,
    free_line,
    holding,
    leg,
    says,
    status,
)
from tests.service.test_metrics import scrape, total

# The fixtures of test_callback.py: the app on the REST stand-in, every line busy.
api, app, twilio, busy_lines = base.api, base.app, base.twilio, base.busy_lines

# What would tell whoever answers what the call is about (the hotline, a counsellor, a request).
NAMING = ("9999", "シャープ", "相談", "折り返し", "ご依頼", "孤独")
OFFER = "お電話することもできます"  # the hold's callback offer


def heard(*docs: ET.Element) -> str:
    """Everything said or played in these documents, in order."""
    spoken = [el for d in docs for el in d.iter() if el.tag in {"Say", "Play"}]
    return " ".join((el.text or "").strip() for el in spoken)


async def next_try(twilio: Any, app: Any, api: Any, n: int) -> Created:
    """The counsellor's leg of try `n` rings, accepts: the caller's leg placed then."""
    assert len(await free_line(app)) == 1, f"try {n} was not made"
    return await accepted(twilio, app, api, f"CA{n:032d}")


async def not_reached(twilio: Any, sid: str, caller_leg: Created, n: int, clock: Any) -> None:
    """The try's leg ends; the counsellor is told and let go; the pause between tries."""
    await status(twilio, caller_leg.status_callback or "", f"CB{n:032d}", "completed")
    told = await leg(twilio, f"{PUBLIC}/voice/callback/hold?call={sid}&line={LINE}", "CAx")
    # The counsellor waiting in the conference hears it (a waitUrl: words, never a Hangup);
    # the service then takes their leg out of it, to the Dial's action, which ends it.
    assert told.find("Say") is not None and told.find(".//Hangup") is None
    let_go = await leg(twilio, f"{PUBLIC}/voice/callback/held?call={sid}&line={LINE}", "CAx")
    assert let_go[-1].tag == "Hangup"
    clock.advance(5 * 60)


async def test_only_the_caller_hears_anything_that_names_the_hotline(
    app, api, twilio, busy_lines, clock
) -> None:
    sid = await booked(twilio)

    # Try 1: a voicemail box answers. Twilio's detection says so before our URL is fetched.
    first = await next_try(twilio, app, api, 1)
    assert first.params["MachineDetection"] == "Enable"  # synchronous: AnsweredBy comes first
    assert first.timeout is not None and first.timeout < 15  # before a Japanese voicemail
    machine = await leg(twilio, first.url, f"CB{1:032d}", AnsweredBy="machine_start")
    assert [el.tag for el in machine] == ["Hangup"]  # not a word is recorded
    await not_reached(twilio, sid, first, 1, clock)
    assert (await call_of(app, sid)).state == "callback"  # tried again later

    # Try 2: someone answers and presses nothing (a parent, a partner): the neutral question,
    # then the line goes dead. Another key: not a word either.
    second = await next_try(twilio, app, api, 2)
    nobody = await leg(twilio, second.url, f"CB{2:032d}", AnsweredBy="human")
    gather = nobody.find("Gather")
    assert gather is not None and [el.tag for el in nobody] == ["Gather", "Hangup"]
    other_key = await leg(twilio, gather.get("action") or "", f"CB{2:032d}", Digits="2")
    assert [el.tag for el in other_key] == ["Hangup"]
    await not_reached(twilio, sid, second, 2, clock)
    assert (await call_of(app, sid)).state == "callback"

    # Try 3: the caller answers and presses 1: only now are they told who is calling.
    third = await next_try(twilio, app, api, 3)
    question = await leg(twilio, third.url, f"CB{3:032d}", AnsweredBy="human")
    key_url = question.find("Gather").get("action")  # type: ignore[union-attr]
    joined = await leg(twilio, key_url or "", f"CB{3:032d}", Digits="1")
    assert joined.find(".//Dial/Conference") is not None  # joins the counsellor waiting
    assert (await call_of(app, sid)).state == "connected"

    by_whom = {
        "machine": heard(machine),
        "someone who pressed nothing": heard(nobody),
        "someone who pressed another key": heard(nobody, other_key),
        "the caller": heard(question, joined),
    }
    assert by_whom["someone who pressed nothing"] == (
        "お申し込みいただいたお電話です。ご本人でしたら1を押してください。"
    )
    for who, words in by_whom.items():
        named = [w for w in NAMING if w in words]
        assert bool(named) == (who == "the caller"), (who, words)


@pytest.mark.parametrize("answered_by", ["fax", "machine_end_beep"])
async def test_a_fax_or_a_machine_hears_nothing(
    app, api, twilio, busy_lines, answered_by: str
) -> None:
    await booked(twilio)
    caller_leg = await next_try(twilio, app, api, 1)
    doc = await leg(twilio, caller_leg.url, "CB" + "f" * 32, AnsweredBy=answered_by)
    assert [el.tag for el in doc] == ["Hangup"]


@pytest.mark.parametrize(("key", "option"), [("1", "under18"), ("3", "women")])
async def test_under_18_and_women_callers_are_not_offered_a_callback(
    app, api, twilio, busy_lines, key: str, option: str
) -> None:
    sid = new_sid()
    await twilio.call("/voice/incoming", sid)
    await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits=key)
    hold = await twilio.call(f"/voice/wait?o={option}&n=1", sid)
    assert says(hold) and OFFER not in says(hold)  # the hold says nothing of a callback
    doc = await twilio.call(f"/voice/hold-key?o={option}&n=1", sid, Digits="1")
    assert doc.find(".//Redirect") is not None  # back to the hold, place kept
    assert (await call_of(app, sid)).state == "waiting" and api.created == []


@pytest.mark.parametrize("number", ["+12025550123", "+81120494949", "+815012345678"])
async def test_a_number_we_do_not_call_back_is_told_plainly_and_keeps_its_place(
    app, api, twilio, busy_lines, number: str
) -> None:
    sid = new_sid()
    hold = await holding(twilio, sid, caller=number)
    assert OFFER not in says(hold)
    doc = await twilio.call("/voice/hold-key?o=loneliness&n=1", sid, From=number, Digits="1")
    assert "日本国内の携帯電話と固定電話" in says(doc) and doc.find(".//Redirect") is not None
    assert (await call_of(app, sid)).state == "waiting" and api.created == []


async def test_the_callback_is_not_offered_when_the_wait_would_outlast_the_request(
    app, api, twilio, busy_lines
) -> None:
    # 10 minutes a caller ahead, 240 minutes for an option open around the clock (shipped):
    # with 24 callers ahead it may still come in time, with 25 it would only expire.
    for n in range(25):
        await holding(twilio, new_sid(), caller=f"+8190{n:08d}")
    sid = new_sid()
    hold = await holding(twilio, sid)
    assert "20人より多く" in says(hold) and OFFER not in says(hold)
    doc = await twilio.call("/voice/hold-key?o=loneliness&n=1", sid, Digits="1")
    assert "お受けできません" in says(doc) and (await call_of(app, sid)).state == "waiting"


async def test_an_expired_request_calls_nobody_and_is_counted(
    app, api, twilio, client, busy_lines, clock
) -> None:
    sid = await booked(twilio)
    until = (await call_of(app, sid)).callback_until
    assert until is not None
    clock.advance((until - clock()).total_seconds() + 1)
    async with app.state.sessions.begin() as s:
        await app.state.router.assign(s, clock())  # the sweeps run with the pass
    await app.state.pushes.drain()
    call = await call_of(app, sid)
    assert (call.state, call.end_stage, call.callback_number) == ("abandoned", "cb-expired", None)
    assert api.created == []  # nothing rings anyone: not the caller, not a counsellor
    samples = await scrape(client)
    assert total(samples, "hotline_callbacks_total", outcome="expired") == 1
