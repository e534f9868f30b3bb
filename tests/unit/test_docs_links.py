"""The docs hold together: every relative link of README.md and docs/*.md leads somewhere,
and every file of the repository they name (in a link, in code or in prose) is in it.

The README is a front door and the reference lives in docs/, so a moved file or a renamed
heading would strand a reader; this test finds the link before they do. A link that names a
heading (`page.md#slug`) must match one of that page's headings as GitHub makes its anchors.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
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


# A path the pages name: under a top folder of the repository, or any name with an extension
# of the repository's files. Paths made at run time are ignored by git (`var/`, the scrape
# token's file), and URL paths (`/metrics`) are neither.
TOP = r"(?:hotline|tests|docs|config|deploy|scripts|bench|migrations|\.ci)/"
EXT = r"\.(?:md|py|ya?ml|toml|ini|cfg|html|css|sh|ico)"
FILE_PATH = re.compile(rf"(?<![\w./:#$~-])({TOP}[\w./-]*|(?:[\w-]+/)*[\w.-]+{EXT})(?![\w/-])")


@cache
def tracked() -> tuple[frozenset[str], frozenset[str]]:
    """The repository's files and folders (git's index: what a fresh clone has)."""
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = frozenset(out.stdout.split())
    folders = {str(p) for f in files for p in Path(f).parents if str(p) != "."}
    return files, frozenset(folders)


def missing_files(page: Path) -> list[str]:
    files, folders = tracked()
    known = files | folders
    names = {Path(f).name for f in known}
    out = []
    for match in FILE_PATH.finditer(page.read_text(encoding="utf-8")):
        path = match.group(1).rstrip("./")
        if "/" not in path:
            found = path in names  # a bare name (`flow.py`): some file of the repository
        else:
            here = os.path.relpath(page.parent / path, ROOT)
            found = path in known or here in known or f"hotline/{path}" in known
        if not found and not ignored(path):
            out.append(path)
    return out


def ignored(path: str) -> bool:
    """A path git ignores is one the steps make on the reader's machine (a token file)."""
    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    return done.returncode == 0


def test_a_missing_file_is_seen(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "See DESIGN.md and `shared/trials.yaml`, `hotline/voice/flow.py`, steps.py, "
        "`docs/` and `scripts/serve`; made at run time: `var/hotline.db`, `/metrics`.\n"
    )
    assert missing_files(tmp_path / "a.md") == ["DESIGN.md", "shared/trials.yaml"]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_page_names_is_in_the_repository(page: Path) -> None:
    assert missing_files(page) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_names_an_internal_issue_number(page: Path) -> None:
    """A reader of the repository has no tracker to look `issue 13` up in; #9999 is the
    hotline's number, not an issue."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"\b[Ii]ssues? #?\d+|(?<![\w&])#(?!9999\b)\d+\b", text)
    assert found == []
