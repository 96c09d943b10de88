"""The Grafana dashboard (deploy/grafana/waymark-dashboard.json): valid JSON, every query
reads metrics of the contract, and promtool parses every query."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.contract import DEPLOY, names_in, promtool, series_names

DASHBOARD = DEPLOY / "grafana" / "waymark-dashboard.json"


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in _dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def _as_promql(expr: str) -> str:
    """Grafana's variables replaced by what they stand for at query time."""
    return expr.replace("$__rate_interval", "1m").replace("$job", ".*").replace("$instance", ".*")


def test_the_dashboard_is_grafana_json_with_unique_panel_ids() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "waymark-health"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job", "instance"}
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


def test_every_query_reads_metrics_of_the_contract() -> None:
    known = series_names()
    for title, expr in _exprs():
        used = names_in(expr)
        assert used, title
        assert used <= known, f"{title}: {sorted(used - known)} not in metrics.txt"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    used = set().union(*(names_in(expr) for _, expr in _exprs()))
    assert {
        "waymark_requests_total",
        "waymark_request_duration_seconds_bucket",
        "waymark_requests_error_total",
        "waymark_merge_duration_seconds_bucket",
        "waymark_events_total",
        "waymark_sync_connections",
        "waymark_fanout_lag_seconds_bucket",
        "waymark_logins_failed_total",
        "waymark_rate_limited_total",
        "waymark_db_pool_in_use",
    } <= used


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query as a recording rule: ``promtool check rules`` parses its PromQL."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _as_promql(expr)}
        for i, (_, expr) in enumerate(_exprs())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
