"""The dashboard and the rules only use metric names the service exports or the rules define."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hotline.config import HotlineConfig
from hotline.metrics.collector import StoredTotals
from hotline.metrics.prom import Metrics
from hotline.routing.store import Router

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
KEYWORDS |= {"bool", "offset", "inf", "nan", "le"}


def exported(cfg: HotlineConfig) -> set[str]:
    metrics = Metrics(cfg)
    metrics.registry.register(StoredTotals(cfg, Router(cfg, reservation_timeout=30, cooldown=60)))
    metrics.routes(["/voice/incoming"])
    text = generate_latest(metrics.registry).decode()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    # Families without samples yet (live gauges before the first scrape) still have a TYPE.
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names |= (
            {name + s for s in ("_bucket", "_count", "_sum")} if kind == "histogram" else {name}
        )
    return names


def recorded() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "recording.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"]}


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that name series (not functions, labels, keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[m.end() :].lstrip()
        if not rest.startswith("(") and m.group() not in KEYWORDS:
            names.add(m.group())
    return names


def dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "hotline.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    return exprs + [v["query"]["query"] for v in dash["templating"]["list"]]


def rule_exprs() -> list[str]:
    out = []
    for name in ("recording.yml", "alerts.yml"):
        rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / name).read_text())
        out += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return out


def test_the_parser_finds_series_names_only() -> None:
    expr = 'histogram_quantile(0.9, sum by (le, option) (rate(x_bucket{outcome="a"}[1h]))) / y'
    assert metric_names(expr) == {"x_bucket", "y"}
    assert metric_names("a:b:ratio1h < 0.5 and c >= 20") == {"a:b:ratio1h", "c"}


def known_names(cfg: HotlineConfig) -> set[str]:
    return exported(cfg) | recorded()


def test_every_dashboard_panel_uses_known_names(cfg: HotlineConfig) -> None:
    known = known_names(cfg)
    for expr in dashboard_exprs():
        # label_values(metric, label): the second argument is a label.
        expr = re.sub(r"label_values\((\w+),\s*\w+\)", r"label_values(\1)", expr)
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} uses {unknown}, which nothing exports or records"


def test_every_rule_uses_known_names(cfg: HotlineConfig) -> None:
    known = known_names(cfg)
    for expr in rule_exprs():
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} uses {unknown}"


def test_process_metric_names_follow_the_conventions(cfg: HotlineConfig) -> None:
    for name in exported(cfg):
        assert name.startswith("hotline_")
        if name.endswith(("_bucket", "_count", "_sum")):
            assert "_seconds_" in name, name  # histograms measure seconds
