"""What each command installs: the service's environment (`scripts/serve`, the image) has the
service's dependencies and no test tool; the image's are pinned and hashed in requirements.lock
(scripts/lock), which covers every declared one; the health check survives every build format."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = ROOT / "requirements.lock"
# Test and development tools, and the charts extra: none is needed to serve.
DEV_TOOLS = {"pytest", "_pytest", "playwright", "mypy", "hypothesis", "schemathesis", "grimp"}
DEV_TOOLS |= {"ruff", "importlinter", "pytest_asyncio", "pytest_timeout", "pytest_randomly"}
CHARTS = {"matplotlib", "matplotlib_fontja"}


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in the lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def needed(requirements: list[str]) -> list[Requirement]:
    """The requirements that apply to the image (Python 3.11 on Linux)."""
    env = default_environment() | {"python_version": "3.11", "sys_platform": "linux"}
    env |= {"platform_system": "Linux", "extra": ""}
    parsed = [Requirement(r) for r in requirements]
    return [r for r in parsed if r.marker is None or r.marker.evaluate(env)]


def test_the_lock_pins_every_declared_runtime_dependency_with_hashes() -> None:
    pins = locked()
    declared = needed(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["charts"])
    assert declared
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but not in requirements.lock: scripts/lock"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {req}: run scripts/lock"
        )
    assert all(hashes for _, hashes in pins.values()), "every pin has its hashes"


def test_the_lock_holds_no_test_tool() -> None:
    pins = locked()
    dev = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["dev"]}
    # packaging is also matplotlib's own dependency; the test tools proper are not there.
    assert not (dev - {"packaging"}) & set(pins), "requirements.lock holds test tools"


def test_the_service_imports_no_test_tool_and_no_charts() -> None:
    """Every module of the package but the test support imports with the test tools and the
    charts unimportable, as in the service's own environment (`scripts/serve`)."""
    blocked = sorted(DEV_TOOLS | CHARTS)
    program = f"""
import importlib, pkgutil, sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as when not installed
import hotline
from hotline.reports import chart
for m in pkgutil.walk_packages(hotline.__path__, "hotline."):
    if not m.name.startswith("hotline.testing"):
        importlib.import_module(m.name)
assert not chart.available()
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_serve_command_installs_the_service_alone_and_test_adds_the_tooling() -> None:
    serve = (ROOT / "scripts" / "serve").read_text()
    test = (ROOT / "scripts" / "test").read_text()
    assert re.search(r"^scripts/bootstrap(\s+#.*)?$", serve, re.M), "serve: no extras"
    assert re.search(r"^scripts/bootstrap dev,charts$", test, re.M)
    for name in ("playwright", "mypy", "schemathesis", "pytest", "matplotlib"):
        assert not [d for d in PROJECT["dependencies"] if d.startswith(name)], name


def test_the_image_installs_the_lock_and_keeps_its_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile  # nothing resolved outside the lock
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*/readyz", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert not [x for x in ignored if x.endswith(".lock") or x in {"*", "requirements*"}]
    # podman's default format (OCI) has no HEALTHCHECK: the build script asks for Docker's.
    assert "build --format docker" in (ROOT / "scripts" / "image").read_text()
    for compose in ROOT.glob("**/*compose*.y*ml"):
        assert "healthcheck:" in compose.read_text(), f"{compose}: no healthcheck"
