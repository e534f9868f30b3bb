"""A coordinator flags an abusive caller from the console in a real browser, without ever
seeing a number: the caller's next call hears the polite message, and calls again normally
once the coordinator lifts the flag."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.test_console_browser import call, log_in, set_all_lines

pytestmark = pytest.mark.e2e
BLOCKED = "おつなぎすることができません"
PHONE = "+819012345678"  # `hotline call`'s own number (--from)


def last_call_sid(db_file: Path) -> str:
    with sqlite3.connect(db_file) as db:
        row = db.execute("SELECT call_sid FROM calls ORDER BY id DESC LIMIT 1").fetchone()
    return str(row[0])


async def test_a_coordinator_flags_a_caller_from_the_console(  # type: ignore[no-untyped-def]
    new_page, live, db_file, accounts, shots
) -> None:
    set_all_lines(live, db_file, "offline")
    first = call(live, "8")
    assert BLOCKED not in first, first
    sid = last_call_sid(db_file)

    coordinator = await new_page()
    await log_in(coordinator, "sato")
    await coordinator.click("nav >> text=相談者フラグ")
    await expect(coordinator.locator("h1")).to_have_text("相談者フラグ")
    await coordinator.fill("#call_sid", sid)
    await coordinator.select_option("#kind", "abusive")
    await coordinator.select_option("#hours", "168")
    await coordinator.click("button:has-text('フラグを付ける')")  # no reason yet
    await expect(coordinator.locator("#reason:invalid")).to_have_count(1)  # the form stays
    await expect(coordinator.locator("tr[data-flag]")).to_have_count(0)
    await coordinator.fill("#reason", "夜間に暴言が続く")
    await coordinator.click("button:has-text('フラグを付ける')")
    await expect(coordinator.locator(".flash")).to_have_text("フラグを付けました。")
    row = coordinator.locator("tr[data-flag]")
    await expect(row).to_have_count(1)
    await expect(row.locator(".flag-kind")).to_have_text("迷惑・悪質（受け付けない）")
    await expect(row).to_contain_text(sid)
    page_text = await coordinator.content()
    assert PHONE not in page_text and PHONE[1:] not in page_text  # never the number
    await coordinator.screenshot(path=shots / "flags-01-flagged.png", full_page=True)

    blocked = call(live, "8")
    assert BLOCKED in blocked and "119" in blocked, blocked

    await row.get_by_role("button", name="解除する").click()
    await expect(coordinator.locator(".flash")).to_have_text("フラグを解除しました。")
    await expect(coordinator.locator("tr[data-flag]")).to_have_count(0)
    again = call(live, "8")
    assert BLOCKED not in again, again
