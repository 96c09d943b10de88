"""``waymark bench`` through the real command line: the shape of its figures and its
errors. Speed is never asserted (docs/performance.md holds the figures)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import PG_URL, require_pg, waymark

REQUIRED = ("name", "events", "events_per_s", "baseline_per_s", "ratio")


def _figures(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert list(out) == ["scenarios"]
    figures: list[dict[str, Any]] = out["scenarios"]
    for figure in figures:
        assert all(key in figure for key in REQUIRED), figure
        assert figure["events_per_s"] > 0 and figure["baseline_per_s"] > 0
        assert figure["ratio"] == pytest.approx(figure["events_per_s"] / figure["baseline_per_s"])
    return figures


def test_one_learner_on_sqlite_reports_end_to_end_baseline_and_their_ratio() -> None:
    result = waymark(
        "bench",
        "--db",
        "sqlite",
        "--scenario",
        "one-learner",
        "--events",
        "300",
        "--repeat",
        "1",
        "--json",
    )
    [figure] = _figures(result)
    assert figure["name"] == "one-learner" and figure["events"] == 300
    assert figure["db"] == "sqlite" and figure["runs"] == 1
    assert figure["learners"] == 1 and figure["batch"] == 200


@pytest.mark.postgres
def test_every_scenario_in_miniature_on_postgresql(request: pytest.FixtureRequest) -> None:
    require_pg(request)
    result = waymark(
        "bench",
        "--db",
        PG_URL,
        "--events",
        "200",
        "--learners",
        "2",
        "--history",
        "300",
        "--push",
        "100",
        "--samples",
        "5",
        "--active",
        "2",
        "--idle",
        "5",
        "--batch",
        "50",
        "--repeat",
        "2",
        "--report-learners",
        "12",
        "--report-lessons",
        "10",
        "--report-attempts",
        "36",
        "--json",
        timeout=900,  # a dozen servers start and stop: slow on a busy machine
    )
    figures = {f["name"]: f for f in _figures(result)}
    names = [
        "one-learner",
        "many-learners",
        "long-history",
        "live",
        "live-loaded",
        "login-flood",
        "overhead",
        "device",
        "report-course",
        "report-quiz",
    ]
    assert list(figures) == names
    assert all(f["db"] == "postgresql" and f["runs"] == 2 for f in figures.values())
    assert figures["many-learners"]["learners"] == 2
    assert figures["long-history"]["events"] == 100
    assert figures["long-history"]["history"] == 300
    for name in ("live", "live-loaded"):
        live = figures[name]
        assert live["events"] == 5
        assert 0 < live["p50_ms"] <= live["p95_ms"] <= live["p99_ms"]
    load = figures["live-loaded"]["load"]
    assert load["connections"] == 2 * 2 + 5 and load["failed_connections"] == 0
    assert load["errors"] == 0
    assert load["server_rss_mb"] > 0  # read from /proc while the load was connected
    flood = figures["login-flood"]
    assert flood["p99_vs_quiet"] > 0 and flood["quiet_p99_ms"] > 0  # medians of the runs
    assert figures["overhead"]["baseline_env"]["WAYMARK_INSTRUMENTATION"] == "false"
    assert figures["overhead"]["events"] == 200
    # The reports: timed GETs of a real server over the merged learners and attempts.
    assert figures["report-course"]["events"] == 12 and figures["report-quiz"]["events"] == 36
    for name in ("report-course", "report-quiz"):
        report = figures[name]
        assert 0 < report["p50_ms"] <= report["p99_ms"] and report["bytes"] > 0
        assert report["baseline_p50_ms"] > 0 and report["ratio"] > 0
    # The server's CPU over each arm's push, read from /proc (a 200-event merge takes
    # tens of milliseconds of CPU: several 10 ms ticks).
    overhead = figures["overhead"]
    assert overhead["cpu_ms_per_1k_on"] > 0 and overhead["cpu_ms_per_1k_off"] > 0
    assert overhead["cpu_ratio"] > 0
    statuses = flood["flood"]["statuses"]
    assert set(statuses) <= {"401", "429"} and statuses.get("429", 0) > 0  # throttled


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--db", "sqlite:///x.db"), "sqlite, postgresql or a postgresql:// URL"),
        (("--scenario", "everything"), "everything"),
        (("--events", "0"), "--events"),
        (("--events", "3", "--learners", "8"), "fewer than --learners"),
        (("--repeat", "many"), "many"),
    ],
)
def test_a_bad_argument_gets_one_line_and_exit_status_2(args: tuple[str, ...], needle: str) -> None:
    result = waymark("bench", *args)
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
