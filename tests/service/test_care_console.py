"""Counsellors looked after, in the console: a counsellor marks a call hard on the lines page
(or in the record form); a coordinator sees the badge, the counts and the request, takes it
and closes it. Through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from hotline.auth.models import Role
from tests.conftest import Clock, Twilio, new_sid
from tests.service.test_console import csrf_of, login, make_user
from tests.service.test_presence import talk_and_hang_up
from tests.service.test_records import SECRET
from tests.service.test_routing import _line, only_lines

RECORD = {
    "age_group": "40代",
    "categories": "孤独・孤立",
    "seriousness": "中程度",
    "summary": SECRET,
}


@pytest.fixture
async def people(app) -> None:  # type: ignore[no-untyped-def]
    await make_user(app, "tanaka", "inochi", Role.COUNSELLOR)
    await make_user(app, "sato", "sisc", Role.COORDINATOR)


@pytest.mark.usefixtures("people")
async def test_a_counsellor_marks_a_call_hard_and_a_coordinator_closes_the_debrief(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    await login(client, "tanaka")
    lines = await client.get("/console/lines")
    assert "つらい通話だった" in lines.text
    marked = await client.post(
        "/console/lines/inochi-01/hard-call", data={"csrf": csrf_of(lines.text)}
    )
    assert marked.status_code == 303
    after = (await client.get(marked.headers["location"])).text
    assert "つらい通話として伝えました" in after and "後処理のあと休憩" in after
    form = await client.get(f"/console/calls/{first}/record")
    saved = await client.post(
        f"/console/calls/{first}/record", data={"csrf": csrf_of(form.text), **RECORD}
    )
    assert saved.status_code == 303, saved.text
    line = await _line(app, "inochi-01")
    assert (line.status, line.away_reason) == ("away", "hard_call")
    assert "つらい通話のあとの休憩" in (await client.get("/console/lines")).text
    await client.post("/console/logout", data={"csrf": csrf_of(form.text)})

    await login(client, "sato")
    page = await client.get("/console/debriefs")
    assert 'id="debriefs-open"' in page.text  # the badge on every page
    assert "inochi-01" in page.text and "相談員が指定" in page.text
    assert SECRET not in page.text and first not in page.text and "+81" not in page.text
    debrief = page.text.split('data-debrief="', 1)[1].split('"', 1)[0]
    for action, shown in (("acknowledge", "対応中（sato）"), ("close", "終了にしました")):
        done = await client.post(
            f"/console/debriefs/{debrief}", data={"csrf": csrf_of(page.text), "action": action}
        )
        assert done.status_code == 303
        page = await client.get(done.headers["location"])
        assert shown in page.text
    assert "未終了の振り返りの依頼はありません" in page.text
    assert 'id="debriefs-open"' not in page.text


@pytest.mark.usefixtures("people")
async def test_the_record_forms_box_marks_the_call_hard(
    twilio: Twilio, app, client: httpx.AsyncClient, clock: Clock
) -> None:
    await only_lines(app, "inochi-01")
    first = new_sid()
    await talk_and_hang_up(twilio, app, clock, first)
    await login(client, "tanaka")
    form = await client.get(f"/console/calls/{first}/record")
    assert 'name="hard_call"' in form.text and "「高い」「緊急」" in form.text
    saved = await client.post(
        f"/console/calls/{first}/record",
        data={"csrf": csrf_of(form.text), **RECORD, "hard_call": "on"},
    )
    assert saved.status_code == 303
    assert (await _line(app, "inochi-01")).away_reason == "hard_call"
    # A counsellor does not see the coordinators' page.
    assert (await client.get("/console/debriefs")).status_code == 403
