"""The web console through HTTP: login, CSRF, sessions, and each role's pages."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy import update as sa_update

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.records.models import ConsultationRecord
from tests.conftest import Clock, new_sid

PASSWORD = "correct horse battery"


async def make_user(app, name: str, org: str, role: Role) -> None:  # type: ignore[no-untyped-def]
    async with app.state.sessions.begin() as s:
        await accounts.create(
            s, name=name, org_id=org, role=role, password=PASSWORD, now=app.state.clock()
        )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, next_url: str = "/console"
) -> httpx.Response:
    page = await client.get(f"/console/login?next={next_url}")
    return await client.post(
        "/console/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password, "next": next_url},
    )


async def connected_call(app, org: str, clock: Clock) -> str:  # type: ignore[no-untyped-def]
    """A call of period_5 that `org` took and finished."""
    sid = new_sid()
    async with app.state.sessions.begin() as s:
        s.add(
            Call(
                call_sid=sid,
                entry="9999",
                period_id="period_5",
                menu_id="period-5",
                option_id="loneliness",
                state="completed",
                priority=0,
                status_seq=-1,
                created_at=clock(),
                waiting_since=clock(),
                connected_at=clock(),
                ended_at=clock(),
                org_id=org,
            )
        )
    return sid


@pytest.fixture
async def users(app) -> None:  # type: ignore[no-untyped-def]
    await make_user(app, "tanaka", "inochi", Role.COUNSELLOR)
    await make_user(app, "suzuki", "jaico", Role.COUNSELLOR)
    await make_user(app, "sato", "sisc", Role.COORDINATOR)
    await make_user(app, "ito", "sisc", Role.OPERATOR)


@pytest.mark.usefixtures("users")
async def test_a_wrong_password_or_name_gets_the_same_message(client) -> None:
    wrong_password = await login(client, "tanaka", "not the password")
    unknown_name = await login(client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_name.status_code == 200
    message = "アカウント名またはパスワードが正しくありません"
    assert message in wrong_password.text and message in unknown_name.text
    assert 'value="tanaka"' in wrong_password.text  # the name is kept, never the password


@pytest.mark.usefixtures("users")
async def test_repeated_wrong_passwords_lock_the_account(client, app, clock: Clock) -> None:
    for _ in range(app.state.settings.login_attempts):
        await login(client, "tanaka", "wrong password!")
    locked = await login(client, "tanaka")
    assert "正しくありません" in locked.text and locked.status_code == 200
    clock.advance(app.state.settings.lockout_minutes * 60 + 1)
    assert (await login(client, "tanaka")).status_code == 303


@pytest.mark.usefixtures("users")
async def test_forms_without_the_right_csrf_token_are_refused(client) -> None:
    resp = await client.post("/console/login", data={"name": "tanaka", "password": PASSWORD})
    assert resp.status_code == 403
    await login(client, "tanaka")
    forged = await client.post(
        "/console/lines/inochi-01/status", data={"csrf": "forged", "status": "break"}
    )
    assert forged.status_code == 403


@pytest.mark.usefixtures("users")
async def test_an_expired_session_goes_to_login_then_back(client, clock: Clock, app) -> None:
    await login(client, "tanaka")
    assert (await client.get("/console/lines")).status_code == 200
    clock.advance(app.state.settings.session_hours * 3600 + 1)
    resp = await client.get("/console/lines")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/console/login?next=/console/lines"
    back = await login(client, "tanaka", next_url="/console/lines")
    assert back.headers["location"] == "/console/lines"


@pytest.mark.usefixtures("users")
async def test_login_never_redirects_off_the_console(client) -> None:
    resp = await login(client, "tanaka", next_url="https://evil.example/")
    assert resp.headers["location"] == "/console/calls"


@pytest.mark.usefixtures("users")
async def test_session_cookie_is_httponly_and_samesite(client) -> None:
    resp = await login(client, "tanaka")
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie


@pytest.mark.usefixtures("users")
async def test_a_counsellor_records_a_call_and_another_org_cannot_read_it(
    client, app, clock: Clock
) -> None:
    sid = await connected_call(app, "inochi", clock)
    await login(client, "tanaka")
    calls = await client.get("/console/calls")
    assert sid in calls.text and "記録なし" in calls.text
    form = await client.get(f"/console/calls/{sid}/record")
    token = csrf_of(form.text)
    # A missing required field: the form again, the message beside it, other values kept.
    bad = await client.post(
        f"/console/calls/{sid}/record",
        data={
            "csrf": token,
            "categories": "孤独・孤立",
            "seriousness": "高い",
            "summary": "話を聞いた",
        },
    )
    assert bad.status_code == 422
    assert 'id="age_group-error"' in bad.text and "話を聞いた" in bad.text
    assert 'value="孤独・孤立" checked' in bad.text
    ok = await client.post(
        f"/console/calls/{sid}/record",
        data={
            "csrf": token,
            "age_group": "40代",
            "categories": "孤独・孤立",
            "seriousness": "高い",
            "linkage_needed": "on",
            "summary": "話を聞いた",
        },
    )
    assert ok.status_code == 303
    record_url = ok.headers["location"].split("?")[0]
    assert "記録あり" in (await client.get("/console/calls")).text
    saved = (await client.get(record_url)).text
    # The linkage case's state in the console's words (open: 未着手), never the stored id.
    assert 'つなぎ支援の状態: <span id="case-status">未着手</span>' in saved
    assert "日本いのちの電話連盟" in saved  # the counsellor's organisation by name
    async with app.state.sessions() as s:
        row = (await s.execute(select(ConsultationRecord))).scalar_one()
        assert "話を聞いた" not in repr(row.summary_enc)
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        await login(other, "suzuki")
        assert (await other.get(record_url)).status_code == 403
        assert sid not in (await other.get("/console/calls")).text


@pytest.mark.usefixtures("users")
async def test_a_coordinator_works_a_case_to_closed(client, app, clock: Clock) -> None:
    sid = await connected_call(app, "inochi", clock)
    counsellor = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with counsellor:
        await login(counsellor, "tanaka")
        form = await counsellor.get(f"/console/calls/{sid}/record")
        await counsellor.post(
            f"/console/calls/{sid}/record",
            data={
                "csrf": csrf_of(form.text),
                "age_group": "20代",
                "categories": "暮らし・お金",
                "seriousness": "緊急",
                "linkage_needed": "on",
            },
        )
    await login(client, "sato")
    cases = await client.get("/console/cases?status=open")
    case_url = re.search(r'href="(/console/cases/\d+)"', cases.text).group(1)
    page = await client.get(case_url)
    token = csrf_of(page.text)
    resp = await client.post(
        f"{case_url}/actions",
        data={"csrf": token, "kind": "面談", "on_date": "2023-12-26", "note": "市役所で面談"},
    )
    assert resp.status_code == 303
    resp = await client.post(
        case_url,
        data={
            "csrf": token,
            "status": "closed",
            "destination_type": "福祉事務所",
            "destination_name": "川崎市 福祉事務所",
        },
    )
    assert resp.status_code == 303
    page = await client.get(case_url)
    assert "終了" in page.text and "市役所で面談" in page.text
    assert "終了" in (await client.get("/console/cases?status=closed")).text


@pytest.mark.usefixtures("users")
async def test_an_operator_sees_figures_but_no_records(client, app, clock: Clock) -> None:
    await connected_call(app, "inochi", clock)
    await login(client, "ito")
    figures = await client.get("/console/dashboard/figures")
    assert 'id="fig-calls">1<' in figures.text and "100.0%" in figures.text
    assert (await client.get("/console/calls")).status_code == 403
    assert (await client.get("/console/reports/period_5")).status_code == 200
    chart = await client.get("/console/reports/period_5/chart.png")
    assert chart.headers["content-type"] == "image/png"


@pytest.mark.usefixtures("users")
async def test_a_counsellor_marks_a_line_on_break(client, app) -> None:
    await login(client, "tanaka")
    page = await client.get("/console/lines")
    resp = await client.post(
        "/console/lines/inochi-01/status", data={"csrf": csrf_of(page.text), "status": "break"}
    )
    assert resp.status_code == 303
    assert "離席（休憩）" in (await client.get("/console/lines")).text
    other_org = await client.post(
        "/console/lines/jaico-01/status", data={"csrf": csrf_of(page.text), "status": "off"}
    )
    assert other_org.status_code == 403


@pytest.mark.usefixtures("users")
async def test_an_operator_frees_a_line_whose_end_was_never_heard(app, client) -> None:
    from tests.conftest import talking_on

    sid = await talking_on(app, "inochi-01")
    await login(client, "ito")
    page = await client.get("/console/lines")
    assert page.status_code == 200 and "解放" in page.text  # every line, with a free button
    freed = await client.post("/console/lines/inochi-01/free", data={"csrf": csrf_of(page.text)})
    assert freed.status_code == 303
    async with app.state.sessions() as s:
        call = (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()
    assert (call.state, call.line_id) == ("completed", None)
    after = await client.get(freed.headers["location"])
    assert "回線を解放しました" in after.text


@pytest.mark.usefixtures("users")
async def test_a_counsellor_cannot_free_a_line(app, client) -> None:
    await login(client, "tanaka")
    page = await client.get("/console/lines")
    assert "/free" not in page.text
    refused = await client.post("/console/lines/inochi-01/free", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403


@pytest.mark.usefixtures("users")
async def test_a_period_without_calls_shows_no_rate_not_zero(client) -> None:
    """No call yet: 応答率 is a dash, never 0.0% (which would read as every caller lost), on
    the dashboard, the period's report and the list of reports; a call makes it a figure."""
    await login(client, "ito")
    figures = (await client.get("/console/dashboard/figures")).text
    assert 'id="fig-calls">0<' in figures
    assert 'id="fig-rate">–<' in figures and 'id="fig-caller-rate">–<' in figures
    assert "0.0%" not in figures
    report = (await client.get("/console/reports/period_5")).text
    assert '<div>応答率</div><div class="value">–</div>' in report and "0.0%" not in report
    listed = (await client.get("/console/reports")).text
    assert "0.0%" not in listed.split("<h2>")[0]


@pytest.mark.usefixtures("users")
async def test_the_dashboards_lines_agree_with_metrics_and_routes(client, app) -> None:
    """受付中の回線／通話中 counts what /metrics and `hotline routes` count: three lines signed
    in (one of them talking), the rest signed out."""
    from hotline.lines.lines import lines_of
    from hotline.lines.models import Line
    from hotline.routing.table import describe_lines
    from hotline.services import services_of
    from tests.conftest import talking_on
    from tests.service.test_metrics import scrape, total
    from tests.service.test_routing import only_lines

    await only_lines(app, "inochi-01", "inochi-02", "sisc-01")
    await talking_on(app, "sisc-01", org="sisc")
    async with app.state.sessions.begin() as s:
        await s.execute(sa_update(Line).where(Line.id == "sisc-01").values(status="talking"))
    await login(client, "ito")
    figures = (await client.get("/console/dashboard/figures")).text
    staffed = int(re.search(r'id="fig-staffed">(\d+)<', figures).group(1))  # type: ignore[union-attr]
    busy = int(re.search(r'id="fig-busy">(\d+)<', figures).group(1))  # type: ignore[union-attr]
    samples = await scrape(client)
    assert (staffed, busy) == (3, 1)
    assert staffed == total(samples, "hotline_lines_staffed")
    assert busy == total(samples, "hotline_lines_busy")
    async with app.state.sessions() as s:
        routes = describe_lines(await lines_of(s, services_of(app).router, None, app.state.clock()))
    signed_in = [r for r in routes.splitlines()[1:] if "offline" not in r and "away" not in r]
    assert len(signed_in) == staffed and sum("talking" in r for r in signed_in) == busy


@pytest.mark.usefixtures("users")
async def test_an_operators_pages_name_organisations_and_the_current_menu_only(
    client, app, clock: Clock
) -> None:
    await connected_call(app, "inochi", clock)
    await login(client, "ito")
    dashboard = (await client.get("/console/dashboard")).text
    # 回線の状態 one click away; organisations by name, never by id.
    assert '<a href="/console/lines">回線の状態</a>' in dashboard
    assert "社会的包摂サポートセンター" in dashboard and "（sisc）" not in dashboard
    lines = (await client.get("/console/lines")).text
    assert "<td>日本いのちの電話連盟</td>" in lines and "<td>inochi</td>" not in lines
    # Only the keys of 第5期's menu (in force now): not 第1期's suicidal or poverty.
    shown = re.findall(r'<tr id="option-([\w-]+)">', dashboard)
    assert shown == ["under18", "foreign", "women", "gender", "loneliness"], shown
    # An option without calls has no rate (–), not 0.0%.
    figures = (await client.get("/console/dashboard/figures")).text
    assert "<td>女性の悩み</td><td>0</td><td>0</td><td>–</td>" in figures
    report = (await client.get("/console/reports/period_5")).text
    assert "第5期（2023-12-15 09:00〜2024-01-04 09:00）" in report  # the period's end too
    assert "<td>女性の悩み</td><td>0</td><td>0</td><td>–</td>" in report


async def test_every_page_links_a_favicon_that_is_served(client) -> None:
    page = await client.get("/console/login")
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
    assert link, "no favicon link"
    icon = await client.get(link.group(1))
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
