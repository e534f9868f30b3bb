"""Hours per option and operators' closures, through the webhooks, the API and the console,
on both databases: a key outside its hours answers with its opening time and the lines open
now; an operator closes and reopens a key at once, audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common.audit import AuditEntry
from hotline.config import TOKYO
from tests.conftest import Clock, Twilio, new_sid, says
from tests.service.test_console import csrf_of, login, make_user
from tests.service.test_lines_api import bearer, make_key
from tests.service.test_routing import only_lines, queue


async def _call(app, sid: str) -> Call:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()


async def _audit(app, entity_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        rows = await s.execute(select(AuditEntry.action).where(AuditEntry.entity_id == entity_id))
        return list(rows.scalars())


def tokyo(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=TOKYO)


async def test_a_key_outside_its_hours_says_when_it_opens_and_what_is_open_now(
    twilio: Twilio, app, clock: Clock
) -> None:
    # 年末年始 2022/23, 10:00: 18歳以下 takes calls 16:00-21:00 only (menus.yaml).
    clock.now = tokyo(2022, 12, 29, 10)
    await only_lines(app, "childline-01", "inochi-01")
    sid = new_sid()
    doc = await queue(twilio, sid, "1")
    text = " ".join(says(doc))
    assert doc.find("Enqueue") is None and doc.find("Hangup") is None
    assert "受付時間外です" in text and "12月29日午後4時から受け付けます" in text
    assert "孤独・孤立でお悩みの方は8番です。続けてメニューをお聞きください" in text  # 24h
    assert "おかけ直し" not in text and "119番" in text
    assert "性別の違和や同性愛に関して相談したい方は4番" not in text  # outside its hours too
    # Other keys are open: the menu again at once, not the other lines and a hang-up.
    assert "0120-279-338" not in text
    assert (await _call(app, sid)).state == "menu"
    doc = await twilio.call(doc.find("Gather").get("action"), sid, Digits="8")
    assert doc.find("Enqueue") is not None  # the caller chose again without redialling
    call = await _call(app, sid)
    assert call.state in ("waiting", "reserved") and call.option_id == "loneliness"


async def test_a_closed_key_with_no_other_key_open_names_the_other_lines_and_ends(
    twilio: Twilio, app, clock: Clock
) -> None:
    # 年末年始 2022/23, 10:00, no line on duty for loneliness either: nothing to choose.
    clock.now = tokyo(2022, 12, 29, 10)
    await only_lines(app, "childline-01")
    sid = new_sid()
    doc = await queue(twilio, sid, "8")
    text = " ".join(says(doc))
    assert doc.find("Gather") is None and doc[-1].tag == "Hangup"
    assert "ただいまこの窓口ではおつなぎできません" in text and "受付時間外" not in text
    assert "よりそいホットライン、0120-279-338" in text and "119番" in text
    assert "0120-783-556" not in text  # いのちの電話 opens at 16:00
    call = await _call(app, sid)
    assert (call.state, call.option_id) == ("closed", "loneliness")


async def test_the_same_key_within_its_hours_queues_the_caller(
    twilio: Twilio, app, clock: Clock
) -> None:
    clock.now = tokyo(2022, 12, 29, 16)
    await only_lines(app, "childline-01")
    sid = new_sid()
    doc = await queue(twilio, sid, "1")
    assert doc.find("Enqueue") is not None
    assert (await _call(app, sid)).state in ("waiting", "reserved")


async def test_a_period_starts_to_the_minute(twilio: Twilio, app, clock: Clock) -> None:
    clock.now = tokyo(2022, 7, 7, 9, 59)
    before = new_sid()
    await twilio.call("/voice/incoming", before)
    clock.now = tokyo(2022, 7, 7, 10, 0)
    first = new_sid()
    doc = await twilio.call("/voice/incoming", first)
    assert "死にたいほどつらい気持ちの方は3を" in " ".join(says(doc))  # 第1期's 8 options
    assert (await _call(app, before)).period_id == "none"
    assert (await _call(app, first)).period_id == "period_1"


async def test_an_operator_closes_a_key_at_once_and_reopens_it(
    twilio: Twilio, client, app, clock: Clock
) -> None:
    clock.now = tokyo(2023, 12, 20, 10)  # 第5期, a Wednesday morning
    key = await make_key(app, "sisc", Role.OPERATOR)
    closed = await client.post(
        "/api/options/women/close", json={"reason": "回線障害"}, headers=bearer(key)
    )
    assert closed.status_code == 200
    body = closed.json()
    assert (body["open"], body["closed_by_operator"], body["changed"]) == (False, True, True)
    again = await client.post("/api/options/women/close", headers=bearer(key))
    assert again.json()["changed"] is False

    sid = new_sid()
    doc = await queue(twilio, sid, "3")
    text = " ".join(says(doc))
    assert doc.find("Enqueue") is None and "受け付けます" not in text  # no opening time
    # Said as what it is, a pause, and the menu again with the keys open now.
    assert "受付を一時停止しています" in text and "受付時間外" not in text
    assert "孤独・孤立でお悩みの方は8番" in text and "女性の悩みは3番" not in text
    assert doc.find("Gather") is not None and (await _call(app, sid)).state == "menu"

    reopened = await client.post("/api/options/women/reopen", headers=bearer(key))
    assert reopened.json()["open"] is True
    listed = {o["id"]: o for o in (await client.get("/api/options", headers=bearer(key))).json()}
    assert listed["women"]["closed_by_operator"] is False
    doc = await queue(twilio, new_sid(), "3")
    assert doc.find("Enqueue") is not None
    assert await _audit(app, "women") == ["option.close", "option.reopen"]


async def test_only_operators_and_admins_close_a_key(client, app) -> None:
    counsellor = await make_key(app, "inochi", Role.COUNSELLOR)
    refused = await client.post("/api/options/loneliness/close", headers=bearer(counsellor))
    assert refused.status_code == 403
    admin = await make_key(app, "sisc", Role.ADMIN)
    unknown = await client.post("/api/options/nothing/close", headers=bearer(admin))
    assert unknown.status_code == 404
    assert (await client.post("/api/options/loneliness/close")).status_code == 401
    assert await _audit(app, "loneliness") == []


async def test_an_english_caller_of_a_closed_key_hears_only_english_and_open_lines(
    twilio: Twilio, client, app, clock: Clock
) -> None:
    key = await make_key(app, "sisc", Role.OPERATOR)
    await client.post("/api/options/foreign/close", headers=bearer(key))
    clock.now = tokyo(2023, 12, 20, 10)
    doc = await queue(twilio, new_sid(), "2", "1")
    assert {el.get("language") for el in doc.iter("Say")} == {"en-US"}
    assert "TELL Lifeline, 03-5774-0992." in says(doc)  # 09:00-23:00
    clock.now = tokyo(2023, 12, 20, 23, 30)
    doc = await queue(twilio, new_sid(), "2", "1")
    assert "TELL Lifeline, 03-5774-0992." not in says(doc)


@pytest.mark.parametrize("role", [Role.OPERATOR])
async def test_the_dashboard_closes_and_reopens_a_key(client, app, role: Role) -> None:
    await make_user(app, "ito", "sisc", role)
    await login(client, "ito")
    page = await client.get("/console/dashboard")
    assert page.status_code == 200 and 'action="/console/options/gender/close"' in page.text
    done = await client.post(
        "/console/options/gender/close", data={"csrf": csrf_of(page.text), "reason": "点検"}
    )
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "窓口の受付を停止しました" in after.text and "受付停止中" in after.text
    forged = await client.post("/console/options/gender/reopen", data={"csrf": "x"})
    assert forged.status_code == 403
    await client.post("/console/options/gender/reopen", data={"csrf": csrf_of(after.text)})
    assert await _audit(app, "gender") == ["option.close", "option.reopen"]
