"""A real Prometheus scraping the real service: its recording rules give what `hotline report`
prints, and its alerts fire on the service's own metrics.

Debian's `prometheus` binary (installed by scripts/check-prometheus, as promtool is) runs with
a temporary copy of deploy/prometheus/prometheus.yml pointed at a live `hotline serve` on
127.0.0.1, scraping and evaluating every second. The scrape token is made by the steps of
docs/metrics.md ("Watching a local service"), run as written in a copy of the checkout's
layout: `scripts/metrics-token` writes the file the config reads, and the service runs with
`HOTLINE_METRICS_TOKEN="$(cat deploy/prometheus/hotline-metrics-token)"`. The rule files are
the project's own, with only their timing shortened (see `quick_rules`).
Every wait is a poll with a deadline.

To check a new alert: bring the service into its state (calls with `hotline_call`, lines
with `set_lines`), then `prometheus.wait_for_alert("Name", label="value")`; and, once the
state is undone, `prometheus.wait_for_no_alert(...)`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from sqlalchemy import insert

from hotline import config as config_mod
from hotline.calls.models import Call
from hotline.db import make_engine, session_factory
from hotline.testing.rows import callback_row
from hotline.testing.servers import free_port
from tests.e2e.conftest import (
    CONFIG,
    ROOT,
    Caller,
    LiveServer,
    hotline_env,
    serve,
)

pytestmark = pytest.mark.e2e

DEPLOY = ROOT / "deploy" / "prometheus"
QUICK = "1s"  # scrape and rule evaluation interval
DOCS = ROOT / "docs" / "metrics.md"
QUICK_FOR = "2s"  # an alert's `for`: still pending first, then firing
WITHIN = 90.0  # seconds for a condition to hold (the service refreshes its totals every 15 s)
POLL_EVERY = 0.5
T = TypeVar("T")


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        message = "prometheus is missing: scripts/check-prometheus installs Debian's package"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test")
        pytest.skip(message)
    return found


def quick_rules(src: Path, dst: Path) -> Path:
    """A copy of a rule file with only its timing shortened: every group evaluated each
    second, every alert's `for` cut to seconds. The project's groups are evaluated every
    minute and hold alerts for minutes, which no test should wait for; the expressions,
    names, labels and annotations are the file's own."""
    rules = yaml.safe_load(src.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = QUICK
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = QUICK_FOR
    dst.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return dst


def docs_steps() -> list[str]:
    """The shell lines of docs/metrics.md's "Watching a local service", comments cut."""
    text = DOCS.read_text(encoding="utf-8").split("### Watching a local service", 1)[1]
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block, "docs/metrics.md: no steps under Watching a local service"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines()]


def checkout_copy(tmp: Path) -> Path:
    """The files the steps use, laid out as in the checkout: scripts/ and deploy/prometheus/."""
    (tmp / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "metrics-token", tmp / "scripts")
    shutil.copytree(DEPLOY, tmp / "deploy" / "prometheus", dirs_exist_ok=True)
    return tmp


def run_token_steps(tmp: Path) -> str:
    """Run the docs' steps that make the scrape token, in `tmp` (a checkout_copy); return the
    token the service is started with, taken the way the docs' serve line takes it."""
    steps = docs_steps()
    assert "scripts/metrics-token" in steps, steps
    serve_line = next(s for s in steps if s.endswith("scripts/serve"))
    env_part = serve_line.removesuffix("scripts/serve").strip()
    assert env_part.startswith("HOTLINE_METRICS_TOKEN="), serve_line
    subprocess.run(["bash", "-c", "scripts/metrics-token"], cwd=tmp, check=True, timeout=30)
    value = env_part.removeprefix("HOTLINE_METRICS_TOKEN=")
    done = subprocess.run(["bash", "-c", f"printf %s {value}"], cwd=tmp, capture_output=True,
                          text=True, check=True, timeout=30)  # fmt: skip
    assert len(done.stdout) >= 32, "the token must pass production's length rule too"
    return done.stdout


def quick_config(deploy: Path, target: str) -> Path:
    """deploy/prometheus/prometheus.yml (copied to `deploy`) with the live service as its one
    target; its token file as shipped, which the docs' steps wrote beside it."""
    cfg = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    cfg["global"].update(scrape_interval=QUICK, evaluation_interval=QUICK)
    cfg["rule_files"] = [
        str(quick_rules(DEPLOY / name, deploy / Path(name).name)) for name in cfg["rule_files"]
    ]
    for job in cfg["scrape_configs"]:
        # Relative to the config's folder, as Prometheus reads it: the file the steps wrote.
        assert (deploy / job["authorization"]["credentials_file"]).is_file()
        for static in job["static_configs"]:
            static["targets"] = [target]
    path = deploy / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Prometheus:
    """Prometheus's HTTP API, with polls bounded by WITHIN seconds."""

    url: str
    log: Path

    def _get(self, path: str, **params: str) -> Any:
        resp = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        resp.raise_for_status()
        return resp.json()["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query: {sorted labels without __name__: value}."""
        return {
            tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")): float(
                r["value"][1]
            )
            for r in self._get("/api/v1/query", query=expr)["result"]
        }

    def alerts(self, name: str, state: str = "firing") -> list[dict[str, str]]:
        """Labels of the alerts of that name in that state."""
        return [
            a["labels"]
            for a in self._get("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state
        ]

    def wait_until(self, what: str, probe: Callable[[], T | None]) -> T:
        """Poll `probe` until it returns something other than None (or fail at WITHIN)."""
        deadline, last = time.monotonic() + WITHIN, None
        while time.monotonic() < deadline:
            try:
                found = probe()
            except (httpx.HTTPError, AssertionError) as e:
                found, last = None, e
            if found is not None:
                return found
            time.sleep(POLL_EVERY)
        log = self.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"Prometheus: {what} did not hold within {WITHIN:.0f}s ({last!r}):\n{log}")

    def wait_for_alert(self, name: str, **labels: str) -> dict[str, str]:
        def probe() -> dict[str, str] | None:
            found = [a for a in self.alerts(name) if labels.items() <= a.items()]
            return found[0] if found else None

        return self.wait_until(f"{name}{labels} firing", probe)

    def wait_for_no_alert(self, name: str, **labels: str) -> None:
        def probe() -> bool | None:
            active = self.alerts(name, "firing") + self.alerts(name, "pending")
            return None if [a for a in active if labels.items() <= a.items()] else True

        self.wait_until(f"{name}{labels} resolved", probe)


def _ready(proc: subprocess.Popen[bytes], prom: Prometheus) -> Prometheus:
    def probe() -> bool | None:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}:\n{prom.log.read_text()}")
        return httpx.get(f"{prom.url}/-/ready", timeout=2).status_code == 200 or None

    prom.wait_until("ready", probe)
    return prom


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus-e2e") / "hotline.db"


@pytest.fixture(scope="module")
def checkout(db_file: Path) -> Path:
    """A copy of the checkout's scripts/ and deploy/prometheus/ after the docs' token steps."""
    return checkout_copy(db_file.parent / "checkout")


@pytest.fixture(scope="module")
def metrics_token(checkout: Path) -> str:
    return run_token_steps(checkout)


@pytest.fixture(scope="module")
def live(db_file: Path, metrics_token: str) -> Iterator[LiveServer]:
    log = db_file.with_suffix(".log")
    yield from serve(f"sqlite+aiosqlite:///{db_file}", log, HOTLINE_METRICS_TOKEN=metrics_token)


@pytest.fixture(scope="module")
def prometheus(live: LiveServer, db_file: Path, checkout: Path) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    tmp, port = db_file.parent, free_port()
    prom = Prometheus(f"http://127.0.0.1:{port}", tmp / "prometheus.log")
    args = [
        binary,
        f"--config.file={quick_config(checkout / 'deploy' / 'prometheus', live.url.removeprefix('http://'))}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with prom.log.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            yield _ready(proc, prom)
        finally:
            proc.terminate()  # SIGTERM to its process id
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_the_docs_steps_give_a_config_promtool_accepts(tmp_path: Path) -> None:
    """The shipped config reads a token file no checkout has: promtool refuses it until the
    docs' steps have written the file, and accepts it after, as it stands in deploy/."""
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is missing: scripts/check-prometheus installs Debian's package"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test")
        pytest.skip(message)
    deploy = checkout_copy(tmp_path) / "deploy" / "prometheus"
    (deploy / "hotline-metrics-token").unlink(missing_ok=True)  # a fresh clone has none

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=deploy,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    before = check()
    assert before.returncode != 0 and "hotline-metrics-token" in before.stdout + before.stderr
    token = run_token_steps(tmp_path)
    assert check().returncode == 0, check().stdout + check().stderr
    assert (deploy / "hotline-metrics-token").read_text().strip() == token
    assert (deploy / "hotline-metrics-token").stat().st_mode & 0o777 == 0o600


def hotline(db_file: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        cwd=ROOT,
        env=hotline_env(f"sqlite+aiosqlite:///{db_file}"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def set_lines(live: LiveServer, db_file: Path, status: str, only: set[str] | None = None) -> None:
    """Set the status of every line (or of those in `only`) through the line API."""
    key = hotline(db_file, "keys", "create", "--org", "sisc", "--role", "admin").split()[-1]
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as c:
        for line in c.get("/api/lines").json():
            if only is None or line["id"] in only:
                resp = c.post(f"/api/lines/{line['id']}/status", json={"status": status})
                assert resp.status_code == 200, resp.text


def percent(ratio: float) -> float:
    """A recorded ratio as `hotline report` prints it: percent, half up to one decimal."""
    value = Decimal(repr(100 * ratio)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return float(value)


def by(labels: dict[tuple[tuple[str, str], ...], float], key: str) -> dict[str, float]:
    return {dict(k)[key]: v for k, v in labels.items()}


def test_the_recorded_answer_rate_is_the_one_hotline_report_prints(
    live: LiveServer, db_file: Path, prometheus: Prometheus, hotline_call: Caller
) -> None:
    # Only the two lines of いのちの電話 staffed: loneliness (8) connects; then none at all,
    # and women (3) and under-18 (1) find no line and count as closed (with a line on duty
    # for another key they would hear the menu again instead).
    # The other tests of this module share its server and database, in any order: what
    # these calls add is asserted, not the period's totals.
    cfg = config_mod.load(CONFIG)
    now = cfg.period_at(dt.datetime.now(dt.UTC))
    period = now.id if now else "none"
    before = json.loads(hotline(db_file, "report", "--period", period, "--format", "json"))
    set_lines(live, db_file, "offline")
    set_lines(live, db_file, "ready", {"inochi-01", "inochi-02"})
    for key in ("8", "8"):
        t = hotline_call(live, key)
        assert t.returncode == 0 and "[talk] connected" in t.stdout, str(t)
    set_lines(live, db_file, "offline")
    for key in ("3", "1"):
        t = hotline_call(live, key)
        assert t.returncode == 0 and "おつなぎできません" in t.stdout, str(t)

    report = json.loads(hotline(db_file, "report", "--period", period, "--format", "json"))
    added = (report["calls"] - before["calls"], report["connected"] - before["connected"])
    assert added == (2 + 2, 2)  # loneliness twice, put through; women and under-18 closed

    def recorded_calls() -> float | None:
        calls = by(prometheus.query("period:hotline_calls:sum"), "period")
        return calls[period] if calls.get(period) == report["calls"] else None

    prometheus.wait_until(f"period:hotline_calls:sum == {report['calls']}", recorded_calls)
    connected = by(prometheus.query("period:hotline_connected:sum"), "period")
    rate = by(prometheus.query("period:hotline_answer_rate:ratio"), "period")
    assert connected[period] == report["connected"]
    assert percent(rate[period]) == report["answer_rate"]

    # Per option, over the calls that chose it.
    sel = f'{{period="{period}"}}'
    calls = by(prometheus.query(f"period_option:hotline_calls:sum{sel}"), "option")
    connected = by(prometheus.query(f"period_option:hotline_connected:sum{sel}"), "option")
    rate = by(prometheus.query(f"period_option:hotline_answer_rate:ratio{sel}"), "option")
    for option in report["options"]:
        oid = option["id"]
        assert calls.get(oid, 0) == option["calls"], (oid, calls)
        assert connected.get(oid, 0) == option["connected"], (oid, connected)
        assert percent(rate.get(oid, 0)) == option["answer_rate"], (oid, rate)
    was = {o["id"]: (o["calls"], o["connected"]) for o in before["options"]}
    after = {o["id"]: (o["calls"], o["connected"]) for o in report["options"]}
    added_by_option = {
        oid: (calls - was.get(oid, (0, 0))[0], connected - was.get(oid, (0, 0))[1])
        for oid, (calls, connected) in after.items()
    }
    assert {oid: n for oid, n in added_by_option.items() if n != (0, 0)} == {
        "loneliness": (2, 2),
        "women": (1, 0),
        "under18": (1, 0),
    }


def test_an_option_without_a_staffed_line_alerts_until_one_is_staffed(
    live: LiveServer, db_file: Path, prometheus: Prometheus
) -> None:
    # Every line of 社会的包摂サポートセンター off: women (its only organisation) is offered
    # by the menu, its lines are scheduled round the clock, and none is ready.
    set_lines(live, db_file, "ready")
    set_lines(live, db_file, "offline", {"sisc-01", "sisc-02", "sisc-03"})
    alert = prometheus.wait_for_alert("HotlineOptionUnstaffed", option="women")
    assert alert["severity"] == "critical"
    # The options staffed again (another test may have left only いのちの電話's lines on)
    # resolve once the rules have read the new figures; loneliness, staffed throughout,
    # never alerts.
    for option in ("under18", "foreign"):
        prometheus.wait_for_no_alert("HotlineOptionUnstaffed", option=option)
    active = prometheus.alerts("HotlineOptionUnstaffed") + prometheus.alerts(
        "HotlineOptionUnstaffed", "pending"
    )
    assert {a["option"] for a in active} <= {"women", "gender"}, active

    set_lines(live, db_file, "ready", {"sisc-02"})
    prometheus.wait_for_no_alert("HotlineOptionUnstaffed", option="women")


def test_the_recorded_callbacks_are_the_ones_hotline_report_prints(
    live: LiveServer, db_file: Path, prometheus: Prometheus
) -> None:
    # Callback requests as the callback core leaves them, stored beside the calls above.
    cfg = config_mod.load(CONFIG)
    now = dt.datetime.now(dt.UTC)
    period = cfg.period_at(now)
    period_id = period.id if period else "none"
    rows = [
        callback_row(now, "completed", tries=1, caller_hash="a" * 64),
        callback_row(now, "failed", tries=3, caller_hash="b" * 64),
        # Not due for a day: the module's other tests staff lines on the same server, and a
        # due request would take one of them (its number a placeholder nobody can call).
        callback_row(
            now, "queued", caller_hash="c" * 64, callback_after=now + dt.timedelta(days=1)
        ),
    ]
    asyncio.run(store_rows(db_file, [{**r, "period_id": period_id} for r in rows]))
    report = json.loads(hotline(db_file, "report", "--period", period_id, "--format", "json"))
    assert report["callbacks"] == {
        "requested": 3,
        "attempted": 5,
        "connected": 1,
        "failed": 1,
        "expired": 0,
    }

    def recorded() -> dict[str, float] | None:
        # The rule groups are evaluated apart: wait for both to have read the new totals.
        sel = f'period_outcome:hotline_callbacks:sum{{period="{period_id}"}}'
        found = by(prometheus.query(sel), "outcome")
        calls = by(prometheus.query("period:hotline_calls:sum"), "period")
        ready = found.get("requested") == 3 and calls.get(period_id) == report["calls"]
        return found if ready else None

    found = prometheus.wait_until("the callbacks and calls recorded", recorded)
    assert found == report["callbacks"]
    # The per-attempt figures still agree: the callbacks are calls, none of them connected.
    connected = by(prometheus.query("period:hotline_connected:sum"), "period")
    assert connected[period_id] == report["connected"]


async def store_rows(db_file: Path, rows: list[dict[str, Any]]) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with session_factory(engine).begin() as s:
            await s.execute(insert(Call), rows)
    finally:
        await engine.dispose()
