"""The docs hold together: every relative link of README.md and docs/*.md leads somewhere.

The README is a front door and the reference lives in docs/, so a moved file or a renamed
heading would strand a reader; this test finds the link before they do. A link that names a
heading (`page.md#slug`) must match one of that page's headings as GitHub makes its anchors.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without code blocks: what they show is not a link."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in HEADING.findall(prose(page.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    text = CODE.sub("", prose(page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def broken(page: Path) -> list[str]:
    out = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            out.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{target}: no heading #{anchor} in {os.path.relpath(dest, page.parent)}")
    return out


def test_slugs_are_githubs() -> None:
    assert slug("Hours per option, the calendar, and closing a key at once") == (
        "hours-per-option-the-calendar-and-closing-a-key-at-once"
    )
    assert slug("`config/menus.yaml`") == "configmenusyaml"
    assert slug("Where this differs from DESIGN.md") == "where-this-differs-from-designmd"
    assert slug("/metrics") == "metrics"


def test_a_broken_link_is_seen(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Here\n\n[ok](#here) [gone](b.md) [no](#there)\n")
    assert broken(tmp_path / "a.md") == ["b.md: no such file", "#there: no heading #there in a.md"]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []


def test_every_reference_page_is_one_hop_from_the_readme() -> None:
    readme = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    docs = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert docs - readme == set(), "a page of docs/ the README does not link to"
