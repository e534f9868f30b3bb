"""The counsellor's live call card and the supervisor's board through HTTP, on SQLite and
PostgreSQL: the card shows the call (never a number), its forms call the conference room's
service, a refusal is said in words on the page, the emergency escalation asks for a
confirmation first and, where no direct line is configured, says what to do instead; a
supervisor listening shows on the counsellor's card. The live updates themselves (server-sent
events) are in tests/browser/test_live_calls_browser.py."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
import yaml

from hotline.app import create_app
from hotline.auth.models import Role
from hotline.conference.duty import SupervisorDuty
from hotline.config import HotlineConfig, parse
from hotline.console.events import event
from tests.conftest import ROOT, Clock, make_settings
from tests.service.conference_kit import control, in_conference
from tests.service.test_console import csrf_of, login, make_user

NAGANO_FIRE = "+815055550119"  # fictional, like the rest of the tests' numbers


def live_config() -> HotlineConfig:
    """The shipped file with direct lines for 長野県 (fictional numbers) and none elsewhere."""
    raw = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    checked = {"checked_by": "山田", "checked_on": dt.date(2023, 12, 1)}
    raw["directory"]["emergency"] = [
        {
            "prefecture": "長野県",
            "fire": {"number": NAGANO_FIRE, **checked},
            "police": {"number": "+815055550110", **checked},
        }
    ]
    return parse(raw)


@pytest.fixture
async def site(db_url: str, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db_url), live_config(), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def as_user(site: httpx.AsyncClient, name: str, org: str, role: Role) -> httpx.AsyncClient:
    app = site.app  # type: ignore[attr-defined]
    await make_user(app, name, org, role)
    resp = await login(site, name)
    assert resp.status_code == 303, resp.text
    return site


async def post(site: httpx.AsyncClient, page: str, url: str, **data: str) -> httpx.Response:
    csrf = csrf_of((await site.get(page)).text)
    return await site.post(url, data={"csrf": csrf, **data})


async def test_the_card_shows_the_call_and_the_hold_goes_to_the_conference(
    site: httpx.AsyncClient,
) -> None:
    app = site.app  # type: ignore[attr-defined]
    fake = control(app)
    call = await in_conference(app, "sisc-01", "sisc", language="en", waited=95)
    other = await in_conference(app, "inochi-01", "inochi")
    await as_user(site, "tanaka", "sisc", Role.COUNSELLOR)
    page = await site.get("/console/live")
    assert page.status_code == 200
    html = page.text
    assert f'id="call-{call.id}"' in html and f'id="call-{other.id}"' not in html
    assert "孤独・孤立" in html and "英語" in html and "1分35秒" in html and "通話中" in html
    assert "+81" not in html and call.call_sid not in html  # never a number, nor a SID
    # A transfer offers the other options of the menu in force, open now; not the call's own.
    queues = html.split(f'id="queue-{call.id}"', 1)[1].split("</select>", 1)[0]
    assert '<option value="under18">' in queues and 'value="loneliness"' not in queues
    # 東京都 (the organisation's prefecture) has no direct line: said, with what to do.
    assert "東京都: 消防・警察の指令センター直通番号は登録されていません" in html
    assert "119" in html and "110" in html
    held = await post(site, "/console/live", f"/console/live/{call.id}/hold", on="1")
    assert held.status_code == 303 and held.headers["location"] == "/console/live?done=hold"
    assert fake.named("hold")[0]["on"] is True
    after = (await site.get(held.headers["location"])).text
    assert "相談者を保留にしました。" in after and "保留を解除" in after
    # A refusal is said on the page, in words, with the service's status.
    again = await post(site, "/console/live", f"/console/live/{call.id}/hold", on="1")
    assert again.status_code == 409 and "できませんでした" in again.text
    back = await post(site, "/console/live", f"/console/live/{call.id}/hold", on="0")
    assert back.headers["location"] == "/console/live?done=resume"


async def test_the_emergency_escalation_asks_first_and_says_what_to_do_without_a_line(
    site: httpx.AsyncClient,
) -> None:
    app = site.app  # type: ignore[attr-defined]
    fake = control(app)
    call = await in_conference(app, "sisc-01", "sisc")
    await as_user(site, "tanaka", "sisc", Role.COUNSELLOR)
    url = f"/console/live/{call.id}/emergency"
    ask = await post(site, "/console/live", url, prefecture="長野県", service="fire")
    assert ask.status_code == 200 and "緊急通報の確認" in ask.text
    assert "長野県の消防指令センターの直通番号に発信し" in ask.text and "発信する" in ask.text
    assert NAGANO_FIRE not in ask.text and fake.named("add_party") == []  # nothing dialled yet
    none = await post(site, "/console/live", url, prefecture="東京都", service="police")
    assert "東京都: 警察の指令センター直通番号は登録されていません" in none.text
    assert "110" in none.text and "発信する" not in none.text
    done = await post(
        site, "/console/live", url, prefecture="長野県", service="fire", confirm="yes"
    )
    assert done.status_code == 303, done.text
    assert fake.named("add_party")[0]["to"] == NAGANO_FIRE
    card = (await site.get("/console/live")).text
    assert "長野県 消防 指令センター（緊急通報）: 呼出中" in card


async def test_a_supervisor_listening_shows_on_the_counsellors_card(
    site: httpx.AsyncClient, db_url: str
) -> None:
    app = site.app  # type: ignore[attr-defined]
    fake = control(app)
    call = await in_conference(app, "sisc-01", "sisc")
    await make_user(app, "tanaka", "sisc", Role.COUNSELLOR)
    await as_user(site, "yamada", "sisc", Role.SUPERVISOR)
    board = await site.get("/console/board")
    assert board.status_code == 200 and f'id="board-call-{call.id}"' in board.text
    listen = await post(
        site, "/console/board", f"/console/board/{call.id}/supervise",
        mode="listen", supervisor_id="sisc-sv-01",
    )  # fmt: skip
    assert listen.status_code == 303, listen.text
    assert fake.named("add_party")[0]["muted"] is True
    await site.post("/console/logout", data={"csrf": csrf_of(board.text)})
    await login(site, "tanaka")
    card = (await site.get("/console/live")).text
    assert "スーパーバイザー 当番スーパーバイザー1: 呼出中" in card


def test_an_event_carries_html_line_by_line() -> None:
    assert event("calls", "<p>\r\n保留中</p>") == "event: calls\ndata: <p>\ndata: 保留中</p>\n\n"


async def test_operators_see_every_organisations_live_calls_and_change_nothing(
    site: httpx.AsyncClient,
) -> None:
    app = site.app  # type: ignore[attr-defined]
    control(app)
    ours = await in_conference(app, "sisc-01", "sisc")
    theirs = await in_conference(app, "inochi-01", "inochi")
    await as_user(site, "ito", "sisc", Role.OPERATOR)
    board = await site.get("/console/board")
    assert board.status_code == 200
    assert "通話中の電話（すべての団体）" in board.text
    assert f'id="board-call-{ours.id}"' in board.text
    assert f'id="board-call-{theirs.id}"' in board.text and "日本いのちの電話連盟" in board.text
    assert ">聞く</button>" not in board.text and "当番を始める" not in board.text
    resp = await post(
        site, "/console/board", f"/console/board/{ours.id}/supervise",
        mode="listen", supervisor_id="sisc-sv-01",
    )  # fmt: skip
    assert resp.status_code == 403


async def test_a_help_request_taken_by_a_supervisor_shows_on_the_card(
    site: httpx.AsyncClient,
) -> None:
    app = site.app  # type: ignore[attr-defined]
    control(app)
    call = await in_conference(app, "sisc-01", "sisc")
    await make_user(app, "yamada", "sisc", Role.SUPERVISOR)
    await as_user(site, "tanaka", "sisc", Role.COUNSELLOR)
    asked = await post(site, "/console/live", f"/console/live/{call.id}/help")
    assert asked.headers["location"] == "/console/live?done=help"
    card = (await site.get("/console/live")).text
    assert "ヘルプを求めています（スーパーバイザーに通知済み）" in card
    await site.post("/console/logout", data={"csrf": csrf_of(card)})
    await login(site, "yamada")
    board = (await site.get("/console/board")).text
    assert "ヘルプ要請があります" in board and "未対応" in board
    help_id = board.split('action="/console/board/help/', 1)[1].split('"', 1)[0]
    taken = await post(
        site, "/console/board", f"/console/board/help/{help_id}", action="acknowledge"
    )
    assert taken.headers["location"] == "/console/board?done=acknowledge"
    await site.post("/console/logout", data={"csrf": csrf_of(board)})
    await login(site, "tanaka")
    card = (await site.get("/console/live")).text
    assert "スーパーバイザーがヘルプ要請に対応しています" in card


async def test_the_events_need_a_session_and_a_role_that_sees_live_calls(
    site: httpx.AsyncClient,
) -> None:
    for url in ("/console/live/events", "/console/board/events"):
        resp = await site.get(url)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/console/login")
    await as_user(site, "sato", "sisc", Role.COORDINATOR)
    for url in ("/console/live", "/console/live/events", "/console/board"):
        assert (await site.get(url)).status_code == 403, url


async def test_the_card_brings_in_a_supervisor_on_duty_and_says_so_when_none_is(
    site: httpx.AsyncClient,
) -> None:
    app = site.app  # type: ignore[attr-defined]
    fake = control(app)
    call = await in_conference(app, "sisc-01", "sisc")
    await as_user(site, "tanaka", "sisc", Role.COUNSELLOR)
    html = (await site.get("/console/live")).text
    options = html.split(f'id="target-{call.id}"', 1)[1].split("</select>", 1)[0]
    assert "スーパーバイザー（当番中の方）" in options
    supervisor = options.split('value="supervisor:', 1)[1].split('"', 1)[0]
    off = await post(
        site, "/console/live", f"/console/live/{call.id}/parties", target=f"supervisor:{supervisor}"
    )
    assert off.status_code == 409 and "できませんでした" in off.text
    assert not fake.named("add_party")
    # On duty (the board's button; here its row), the same form dials them.
    async with app.state.console_sessions.begin() as session:
        now = app.services.clock()
        session.add(SupervisorDuty(org_id="sisc", supervisor_id=supervisor, on_at=now))
    done = await post(
        site, "/console/live", f"/console/live/{call.id}/parties", target=f"supervisor:{supervisor}"
    )
    assert done.status_code == 303, done.text
    assert fake.named("add_party")[-1]["label"].startswith("p")  # a third party, heard by all
