"""The console in a real browser: a counsellor, a coordinator and an operator at work.

One story, in order, against one live server: a call reaches the line the counsellor staffed,
the counsellor records it, another organisation cannot see it, the coordinator closes the
linkage case, and the operator watches the answer rate change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PASSWORD, hotline
from tests.e2e.conftest import ROOT, LiveServer, hotline_env

pytestmark = pytest.mark.e2e


async def log_in(page: Page, name: str, shots: Path | None = None) -> None:
    await page.goto("/console/login")
    # Keyboard only from the name field (autofocus is not dependable in a background
    # headless window): type, Tab to the password, Enter submits.
    await page.focus("#name")
    await page.keyboard.type(name)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    if shots:
        await page.screenshot(path=shots / "01-login.png", full_page=True)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.locator("#login-error")).to_have_count(0)


def set_all_lines(live: LiveServer, db_file: Path, status: str, only: str | None = None) -> None:
    key = hotline(db_file, "keys", "create", "--org", "sisc", "--role", "admin").split()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=10) as c:
        for line in c.get("/api/lines").json():
            if only is None or line["id"] == only:
                c.post(f"/api/lines/{line['id']}/status", json={"status": status})


def call(live: LiveServer, *presses: str) -> str:
    args = ["call", "--url", live.url]
    for key in presses:
        args += ["--press", key]
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        cwd=ROOT,
        env=hotline_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


async def test_the_console_story(new_page, live, db_file, accounts, shots) -> None:  # type: ignore[no-untyped-def]
    set_all_lines(live, db_file, "offline")
    counsellor = await new_page()
    await log_in(counsellor, "tanaka", shots)
    await expect(counsellor.locator("h1")).to_have_text("受けた電話（この1週間）")

    # The counsellor staffs their line; a call for loneliness reaches exactly that line.
    await counsellor.click("text=回線の状態")
    row = counsellor.locator("#line-inochi-01")
    await row.get_by_role("button", name="受付開始").click()
    await expect(counsellor.locator("#line-inochi-01 .presence-ready")).to_be_visible()
    await counsellor.screenshot(path=shots / "02-lines.png", full_page=True)
    transcript = call(live, "8")
    assert "[dial sip] sip:line01@inochi.example.invalid" in transcript, transcript
    assert "connected to a counsellor" in transcript, transcript

    # The call is listed without a record; the counsellor writes it.
    await counsellor.click("text=受けた電話")
    await expect(counsellor.locator("text=記録なし")).to_have_count(1)
    await counsellor.screenshot(path=shots / "03-calls-without-record.png", full_page=True)
    await counsellor.click("text=記録を書く")
    await counsellor.check("text=孤独・孤立")
    await counsellor.select_option("#seriousness", "高い")
    await counsellor.fill("#summary", "仕事を失い、誰とも話していないとのこと。")
    await counsellor.click("button:has-text('保存する')")  # no age group yet
    await expect(counsellor.locator("#age_group-error")).to_be_visible()
    await expect(counsellor.locator("#summary")).to_have_value(
        "仕事を失い、誰とも話していないとのこと。"
    )
    await counsellor.screenshot(path=shots / "04-record-form-error.png", full_page=True)
    await counsellor.select_option("#age_group", "50代")
    await counsellor.check("text=つなぎ支援が必要")
    await counsellor.click("button:has-text('保存する')")
    await expect(counsellor.locator(".flash")).to_have_text("記録を保存しました。")
    record_url = counsellor.url.split("?")[0]
    await counsellor.screenshot(path=shots / "05-record-saved.png", full_page=True)
    await counsellor.click("text=受けた電話")
    await expect(counsellor.locator("text=記録あり")).to_have_count(1)

    # A counsellor of another organisation sees neither the call nor the record.
    other = await new_page(width=390)  # and on a small screen
    await log_in(other, "suzuki")
    await expect(other.locator("text=記録あり")).to_have_count(0)
    await other.screenshot(path=shots / "06-other-org-calls-small-screen.png", full_page=True)
    response = await other.goto(record_url)
    assert response is not None and response.status == 403

    # The coordinator works the linkage case to closed.
    coordinator = await new_page()
    await log_in(coordinator, "sato")
    await expect(coordinator.locator("h1")).to_have_text("つなぎ支援の案件")
    await coordinator.locator("tr[data-case] a").first.click()
    await coordinator.select_option("#kind", "面談")
    await coordinator.fill("#note", "福祉事務所で面談した")
    await coordinator.click("button:has-text('対応を記録する')")
    await coordinator.select_option("#destination_type", "福祉事務所")
    await coordinator.fill("#destination_name", "長野市福祉事務所")
    await coordinator.select_option("#status", "closed")
    await coordinator.click("button:has-text('案件を更新する')")
    await expect(coordinator.locator("#case-status")).to_have_text("終了")
    await expect(coordinator.locator("text=福祉事務所で面談した")).to_be_visible()
    await coordinator.screenshot(path=shots / "07-case-closed.png", full_page=True)

    # The operator watches the answer rate: 100% now, 50% after a call nobody could take.
    operator = await new_page()
    await log_in(operator, "ito")
    await expect(operator.locator("#fig-rate")).to_have_text("100.0%")
    await operator.screenshot(path=shots / "08-dashboard.png", full_page=True)
    set_all_lines(live, db_file, "offline", only="inochi-01")
    assert "おつなぎできません" in call(live, "8")  # within its hours, nobody on duty
    await expect(operator.locator("#fig-rate")).to_have_text("50.0%", timeout=15_000)
    await expect(operator.locator("#fig-calls")).to_have_text("2")
    await operator.screenshot(path=shots / "09-dashboard-updated.png", full_page=True)
    await operator.click("text=期間報告")
    await operator.click("a[href='/console/reports/none']")
    await expect(operator.locator("img.chart")).to_be_visible()
    # The period's report says what the story did: two calls, one put through.
    figures = operator.locator(".figures").first.locator(".figure .value")
    await expect(figures.nth(0)).to_have_text("2")  # 呼出件数
    await expect(figures.nth(1)).to_have_text("1")  # 接続完了
    await expect(figures.nth(2)).to_have_text("50.0%")  # 応答率
    await operator.screenshot(path=shots / "10-report.png", full_page=True)


# Each distinct character of an element, drawn alone in the element's own font: its advance
# width and its pixels. A missing font draws the same box for every character.
GLYPHS_JS = """(el) => {
  const style = getComputedStyle(el);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d");
  ctx.font = `${style.fontWeight} 40px ${style.fontFamily}`;
  return [...new Set(el.textContent.trim())].map((c) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.fillText(c, 8, 48);
    return { c, width: ctx.measureText(c).width, pixels: canvas.toDataURL() };
  });
}"""


async def test_japanese_headings_render_with_real_glyphs(new_page, live, shots) -> None:  # type: ignore[no-untyped-def]
    page = await new_page()
    await page.goto("/console/login")
    glyphs = await page.locator("h1").evaluate(GLYPHS_JS)
    assert "".join(g["c"] for g in glyphs) == "ログイン"
    # Japanese glyphs are full width (about one em at 40px), and each looks like itself.
    assert all(36 <= g["width"] <= 44 for g in glyphs), [(g["c"], g["width"]) for g in glyphs]
    assert len({g["pixels"] for g in glyphs}) == len(glyphs), "the same box for every character"
    await page.screenshot(path=shots / "00-login-heading.png", full_page=True)


# Every table cell with words in it, as laid out: its text, width and the font size.
CELLS_JS = """() => [...document.querySelectorAll("th, td")].map((el) => {
  const r = el.getBoundingClientRect();
  const em = parseFloat(getComputedStyle(el).fontSize);
  return { text: el.innerText.trim(), width: r.width, em };
})"""


async def test_an_operator_on_a_phone_reads_every_column_and_sees_the_icon(  # type: ignore[no-untyped-def]
    new_page, live, accounts, shots
) -> None:
    """At phone width no column is squeezed to a character per line (Japanese breaks
    anywhere), the pages carry the favicon, and 回線の状態 is in the operator's menu."""
    page = await new_page(width=375)
    await log_in(page, "ito")
    await expect(page.locator("header nav a", has_text="回線の状態")).to_have_count(1)
    for url, name in (("/console/dashboard", "11-dashboard-phone.png"),
                      ("/console/lines", "12-lines-phone.png"),
                      ("/console/reports/period_5", "13-report-phone.png")):  # fmt: skip
        await page.goto(url)
        await page.screenshot(path=shots / name, full_page=True)
        cells = await page.evaluate(CELLS_JS)
        squeezed = [c for c in cells if len(c["text"]) >= 2 and c["width"] < 2.5 * c["em"]]
        assert squeezed == [], (url, squeezed)
    icon = await page.locator("link[rel=icon]").get_attribute("href")
    assert icon and (await page.request.get(icon)).ok
