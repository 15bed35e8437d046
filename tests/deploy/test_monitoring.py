"""deploy/: the Grafana dashboard and the Prometheus alerts name only metrics shield exposes, and the
alerts pass promtool (Debian's `prometheus` package, installed by ./dev test)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shield.observe.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "shield.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
METRIC = re.compile(r"\bshield_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("_sum", "_count", "_created"), "info": ("_info",)}


def exposed_names() -> set[str]:
    """Every series name shield's registry can expose (label children need not exist yet)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def dashboard_exprs() -> Iterator[str]:
    dash = json.loads(DASHBOARD.read_text())
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for var in dash["templating"]["list"]:
        if isinstance(var.get("query"), str):
            yield var["query"]


def alert_exprs() -> Iterator[str]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


@pytest.mark.parametrize("source", [dashboard_exprs, alert_exprs], ids=["dashboard", "alerts"])
def test_every_metric_named_exists_in_the_registry(source: object) -> None:
    exprs = list(source())  # type: ignore[operator]
    named = {m for expr in exprs for m in METRIC.findall(expr)}
    assert named, "no metric found: the pattern or the file is wrong"
    assert named - exposed_names() == set()


def test_the_dashboard_shows_what_on_call_watches() -> None:
    text = " ".join(dashboard_exprs())
    for metric in ("shield_decisions_total", "shield_rule_hits_total", "shield_store_up", "shield_rules_reloads_total",
                   "shield_pipeline_seconds_bucket", "shield_takeover_suspected_total"):
        assert metric in text


def test_the_alerts_cover_takeover_rules_store_and_errors() -> None:
    names = {rule["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for rule in g["rules"]}
    assert {"ShieldTakeoverSuspected", "ShieldRulesRejected", "ShieldStoreDegraded", "ShieldErrorRate"} <= names


def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: ./dev test installs Debian's prometheus package")
    return tool


def test_promtool_check_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fire_each_alert() -> None:
    tests = Path(__file__).with_name("alerts_test.yaml")
    result = subprocess.run([promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_panels_are_distinct_and_use_the_datasource_variable() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert "datasource" in {v["name"] for v in dash["templating"]["list"]}
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
