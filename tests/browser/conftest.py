"""A live server, console accounts and headless Chromium (Debian's, driven by Playwright).

Screenshots of every page go to a temporary folder that pytest cleans up; set
HOTLINE_SCREENSHOTS=/some/dir to keep them and look at them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from hotline.testing.servers import LiveServer, hotline_env
from tests.e2e.conftest import CONFIG, ROOT, serve

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a long console password"


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser") / "hotline.db"


@pytest.fixture(scope="module")
def live(db_file: Path) -> Iterator[LiveServer]:
    yield from serve(f"sqlite+aiosqlite:///{db_file}", db_file.with_suffix(".log"))


def hotline(db_file: Path, *args: str, stdin: str = "") -> str:
    env = hotline_env(f"sqlite+aiosqlite:///{db_file}", config=CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def accounts(live: LiveServer, db_file: Path) -> dict[str, str]:
    people = {
        "tanaka": ("inochi", "counsellor"),
        "suzuki": ("jaico", "counsellor"),
        "sato": ("sisc", "coordinator"),
        "ito": ("sisc", "operator"),
    }
    for name, (org, role) in people.items():
        hotline(
            db_file,
            "users",
            "create",
            "--org",
            org,
            "--role",
            role,
            "--name",
            name,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    return {name: org for name, (org, _) in people.items()}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("HOTLINE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return Path(keep)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-chromium installs Debian's chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        await b.close()


@pytest.fixture
async def new_page(browser: Browser, live: LiveServer):  # type: ignore[no-untyped-def]
    """new_page(width=...) -> a Page in a fresh browser context (its own cookies)."""
    contexts = []

    async def make(width: int = 1100) -> Page:
        ctx = await browser.new_context(
            base_url=live.url, locale="ja-JP", viewport={"width": width, "height": 900}
        )
        contexts.append(ctx)
        return await ctx.new_page()

    yield make
    for ctx in contexts:
        await ctx.close()
