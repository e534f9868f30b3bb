"""The live call card and the supervisor's board in a real browser, in Japanese, on SQLite
and PostgreSQL: the card appears for a connected call, hold and resume show on another open
page without reloading it (server-sent events), the emergency escalation asks for a
confirmation, a prefecture without a direct line says what to do instead, a supervisor
listening shows on the counsellor's card, and a help request on the supervisor's board.

The app runs in this process (uvicorn on a free port) so that Twilio's side can be the
recording stand-in of `ConferenceControl` the conference tests use; the rest is real: the
database, the console, the hub, the events, Chromium.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update

from hotline.app import HotlineApp, create_app
from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.conference.models import CallParty
from hotline.testing.servers import free_port
from tests.browser.conftest import PASSWORD
from tests.browser.test_console_browser import log_in
from tests.conftest import Clock, make_settings
from tests.service.conference_kit import Control, control, in_conference
from tests.service.test_console_live import NAGANO_FIRE, live_config

pytestmark = pytest.mark.e2e
LIVE = 15_000  # ms: a bound on waiting for an event, well above the hub's 5 s safety net


@dataclass
class Site:
    app: HotlineApp
    url: str
    fake: Control


@pytest.fixture
async def site(db_url: str, clock: Clock) -> AsyncIterator[Site]:
    app = create_app(make_settings(db_url), live_config(), clock=clock)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
        access_log=False, timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        fake = control(app)
        for name, role in (("tanaka", Role.COUNSELLOR), ("yamada", Role.SUPERVISOR)):
            async with app.state.sessions.begin() as s:
                await accounts.create(
                    s, name=name, org_id="sisc", role=role, password=PASSWORD, now=clock()
                )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # up: waiting for it, not timing it
            await asyncio.sleep(0.02)
        try:
            yield Site(app, f"http://127.0.0.1:{port}", fake)
        finally:
            server.should_exit = True
            await serving


@pytest.fixture
async def pages(browser: Browser, site: Site) -> AsyncIterator[list[Page]]:
    """Pages of their own browser contexts (each its own cookies), closed afterwards."""
    size = {"width": 1100, "height": 900}
    contexts = [
        await browser.new_context(base_url=site.url, locale="ja-JP", viewport=size)
        for _ in range(3)
    ]
    yield [await c.new_page() for c in contexts]
    for c in contexts:
        await c.close()


async def stays(page: Page) -> None:
    """Mark the page: the mark survives only as long as the page is not loaded again."""
    await page.evaluate("window.__notReloaded = true")


async def not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.__notReloaded === true"))


async def test_the_live_card_the_emergency_and_the_supervisor(
    site: Site, pages: list[Page], shots: Path
) -> None:
    card_page, other, board = pages
    call = await in_conference(site.app, "sisc-01", "sisc", language="en", waited=95)
    card = f"#call-{call.id}"

    # The card appears for the connected call, in Japanese, with the notice for 東京都.
    await log_in(card_page, "tanaka")
    await card_page.goto("/console/live")
    await expect(card_page.locator(f"{card} h2")).to_contain_text("孤独・孤立")
    await expect(card_page.locator(f"{card} .language")).to_have_text("英語")
    await expect(card_page.locator(f"{card} .phase")).to_have_text("通話中")
    notice = card_page.locator(f"{card} .emergency-missing")
    await expect(notice).to_contain_text(
        "東京都: 消防・警察の指令センター直通番号は登録されていません"
    )
    await expect(notice).to_contain_text("119")
    await card_page.screenshot(path=shots / "live-01-card.png", full_page=True)

    # Hold on one page: the other page of the card shows it without being loaded again.
    await log_in(other, "tanaka")
    await other.goto("/console/live")
    await stays(other)
    await card_page.locator(card).get_by_role("button", name="保留", exact=True).click()
    await expect(card_page.locator(".flash")).to_have_text("相談者を保留にしました。")
    await expect(other.locator(f"{card} .phase")).to_contain_text("保留中", timeout=LIVE)
    assert await not_reloaded(other)
    assert site.fake.named("hold")[-1]["on"] is True
    # ... and resume from that other page shows on the first, again live.
    await stays(card_page)
    await other.locator(card).get_by_role("button", name="保留を解除").click()
    await expect(card_page.locator(f"{card} .phase")).to_have_text("通話中", timeout=LIVE)
    assert await not_reloaded(card_page)

    # The emergency escalation asks first; a prefecture without a line says what to do.
    await card_page.goto("/console/live")
    await card_page.select_option(f"#prefecture-{call.id}", "東京都")
    await card_page.locator(card).get_by_label("警察").check()
    await card_page.locator(card).get_by_role("button", name="緊急通報…（確認があります）").click()
    await expect(card_page.locator(".emergency-missing")).to_contain_text(
        "東京都: 警察の指令センター直通番号は登録されていません"
    )
    await expect(card_page.get_by_role("button", name="発信する")).to_have_count(0)
    await card_page.goto("/console/live")
    await card_page.select_option(f"#prefecture-{call.id}", "長野県")
    await card_page.locator(card).get_by_role("button", name="緊急通報…（確認があります）").click()
    await expect(card_page.locator("h1")).to_have_text("緊急通報の確認")
    await expect(card_page.locator(".emergency-confirm")).to_contain_text(
        "長野県の消防指令センターの直通番号に発信し、この通話に加えます。"
    )
    assert site.fake.named("add_party") == []  # nothing dialled before the confirmation
    await card_page.screenshot(path=shots / "live-02-emergency-confirm.png", full_page=True)
    await card_page.get_by_role("button", name="発信する").click()
    await expect(card_page.locator(".flash")).to_contain_text("指令センターを呼び出しています")
    assert site.fake.named("add_party")[-1]["to"] == NAGANO_FIRE
    await expect(card_page.locator(f"{card} .parties")).to_contain_text("長野県 消防 指令センター")

    # A supervisor listens from the board: the counsellor's card shows who, live.
    await stays(card_page)
    await log_in(board, "yamada")
    await board.goto("/console/board")
    row = board.locator(f"#board-call-{call.id}")
    await expect(row).to_contain_text("孤独・孤立")
    await row.get_by_role("button", name="聞く").click()
    await expect(board.locator(".flash")).to_contain_text("通話を聞いています")
    assert site.fake.named("add_party")[-1]["muted"] is True
    listening = card_page.locator(f"{card} .listening")
    await expect(listening).to_contain_text("当番スーパーバイザー1: 呼出中", timeout=LIVE)
    async with site.app.state.sessions.begin() as s:  # Twilio's callback: the leg joined
        await s.execute(
            update(CallParty).where(CallParty.role == "supervisor").values(status="joined")
        )
    site.app.services.live.poke()
    await expect(listening).to_contain_text("当番スーパーバイザー1: 聞いています", timeout=LIVE)
    assert await not_reloaded(card_page)
    await card_page.screenshot(path=shots / "live-03-listening.png", full_page=True)

    # The counsellor asks for help: it comes up on the supervisor's board, live.
    await stays(board)
    await (
        card_page.locator(card)
        .get_by_role("button", name="スーパーバイザーにヘルプを求める")
        .click()
    )
    await expect(board.locator("#help-requests")).to_contain_text(
        "ヘルプ要請があります", timeout=LIVE
    )
    assert await not_reloaded(board)
    await board.screenshot(path=shots / "live-04-board.png", full_page=True)
