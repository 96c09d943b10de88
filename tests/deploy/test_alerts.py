"""The alert rules (deploy/prometheus/alerts.yml): promtool accepts them and their unit
tests pass, every alert is tested both firing and quiet, and every rule reads metrics of
the contract and links a runbook entry that exists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.contract import (
    OPERATIONS,
    PROMETHEUS,
    anchors,
    names_in,
    promtool,
    series_names,
)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=PROMETHEUS,
        timeout=120,
    )


def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    rules = _run("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in rules.stdout
    config = _run("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_the_rules_unit_tests_pass() -> None:
    result = _run("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_fails_when_a_threshold_changes(tmp_path: Path) -> None:
    """The unit tests can fail: with the enrollment threshold moved from 5 % to 10 %, the
    9 % case no longer fires and promtool says so."""
    text = (PROMETHEUS / "alerts.yml").read_text()
    assert text.count(") > 0.05") == 1
    (tmp_path / "alerts.yml").write_text(text.replace(") > 0.05", ") > 0.10"))
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "enrollment failures at 9 % fire" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules()}
    assert fired == alerts
    assert quiet == alerts


def test_the_seeds_alerts_are_there() -> None:
    names = {rule["alert"] for rule in _rules()}
    assert {
        "WaymarkEnrollmentFailures",
        "WaymarkAssessmentSubmissionFailures",
        "WaymarkLearnersStuckOnMilestone",
        "WaymarkRequestLatencyHigh",
        "WaymarkFanoutBacklogGrowing",
    } <= names


def test_every_rule_reads_metrics_of_the_contract() -> None:
    known = series_names()
    for rule in _rules():
        used = names_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']}: {sorted(used - known)} not in metrics.txt"


def test_every_alert_has_a_severity_a_summary_and_a_runbook_entry() -> None:
    headings = anchors(OPERATIONS)
    for rule in _rules():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md"
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/operations.md has no heading for {rule['alert']}"
