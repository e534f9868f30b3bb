"""Counsellors looked after, in a real browser, on SQLite and PostgreSQL: a counsellor marks
the call they just took as hard, writes the record, and their line rests (the next caller
reaches their colleague's line); the coordinator sees the badge, takes the debrief request
and closes it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from hotline.testing.servers import LiveServer, hotline_env
from tests.browser.conftest import PASSWORD
from tests.browser.test_console_browser import call, log_in
from tests.conftest import pg_database
from tests.e2e.conftest import CONFIG, ROOT, serve

pytestmark = pytest.mark.e2e


def cli(url: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        cwd=ROOT,
        env=hotline_env(url, config=CONFIG),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    """A live server on its own database, with a counsellor and a coordinator."""
    tmp = tmp_path_factory.mktemp(f"care-{request.param}")
    database = pg_database() if request.param == "postgresql" else None
    url = next(database) if database else f"sqlite+aiosqlite:///{tmp / 'hotline.db'}"
    server = serve(url, tmp / "serve.log")
    try:
        live = next(server)
        for name, org, role in (
            ("tanaka", "inochi", "counsellor"),
            ("sato", "sisc", "coordinator"),
        ):
            cli(url, "users", "create", "--org", org, "--role", role, "--name", name,
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        yield live, url
    finally:
        server.close()
        if database:
            database.close()


@pytest.fixture(scope="module")
def live(site: tuple[LiveServer, str]) -> LiveServer:
    return site[0]  # the browser's base URL (tests/browser/conftest.py: new_page)


def staff(site: tuple[LiveServer, str], *ready: str) -> None:
    """Only these lines ready; every other line signed out."""
    live, url = site
    key = cli(url, "keys", "create", "--org", "sisc", "--role", "admin").split()[-1]
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as c:
        for line in c.get("/api/lines").json():
            status = "ready" if line["id"] in ready else "offline"
            assert c.post(f"/api/lines/{line['id']}/status", json={"status": status}).is_success


async def test_a_hard_call_rests_the_line_and_the_coordinator_closes_the_debrief(  # type: ignore[no-untyped-def]
    new_page, site, shots: Path
) -> None:
    staff(site, "inochi-01")
    live = site[0]
    counsellor: Page = await new_page()
    await log_in(counsellor, "tanaka")
    transcript = call(live, "8")
    assert "sip:line01@inochi.example.invalid" in transcript, transcript

    # Right after the call: the counsellor says it was hard, then writes the record.
    await counsellor.click("text=回線の状態")
    row = counsellor.locator("#line-inochi-01")
    await row.get_by_role("button", name="つらい通話だった（休憩・振り返り）").click()
    await expect(counsellor.locator(".flash")).to_contain_text("つらい通話として伝えました")
    await expect(row).to_contain_text("後処理のあと休憩")
    await counsellor.click("text=受けた電話")
    await counsellor.click("text=記録を書く")
    await counsellor.select_option("#age_group", "30代")
    await counsellor.check("text=孤独・孤立")
    await counsellor.select_option("#seriousness", "中程度")
    await counsellor.click("button:has-text('保存する')")
    await expect(counsellor.locator(".flash")).to_have_text("記録を保存しました。")
    await counsellor.click("text=回線の状態")
    await expect(row).to_contain_text("つらい通話のあとの休憩")
    await counsellor.screenshot(path=shots / "care-01-line-resting.png", full_page=True)

    # The next caller reaches a colleague's line, not the resting one.
    staff(site, "inochi-02")
    transcript = call(live, "8")
    assert "sip:line02@inochi.example.invalid" in transcript, transcript
    assert "sip:line01@" not in transcript

    # The coordinator sees the badge, takes the request and closes it.
    coordinator: Page = await new_page()
    await log_in(coordinator, "sato")
    await expect(coordinator.locator("#debriefs-open")).to_have_text("1")
    await coordinator.click("text=振り返り")
    request_row = coordinator.locator("tr[data-debrief]")
    await expect(request_row).to_contain_text("inochi-01")
    await expect(request_row).to_contain_text("相談員が指定")
    await expect(coordinator.locator("#care-counts")).to_contain_text("1")
    await coordinator.screenshot(path=shots / "care-02-debriefs.png", full_page=True)
    await request_row.get_by_role("button", name="引き受ける").click()
    await expect(request_row).to_contain_text("対応中（sato）")
    await request_row.get_by_role("button", name="終了").click()
    await expect(coordinator.locator("text=未終了の振り返りの依頼はありません。")).to_be_visible()
    await expect(coordinator.locator("#debriefs-open")).to_have_count(0)
