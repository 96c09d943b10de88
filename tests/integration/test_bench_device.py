"""``waymark bench --scenario device`` through the real command line: the shape of its
figures. Speed is never asserted (docs/performance.md holds the figures)."""

from __future__ import annotations

import json

from tests.conftest import waymark

FIGURES = (
    "status_small_ms",
    "status_large_ms",
    "status_ratio",
    "full_small_ms",
    "full_large_ms",
    "cli_small_ms",
    "cli_large_ms",
    "status_after_record_large_ms",
    "record_per_s",
    "record_raw_per_s",
)


def test_the_device_scenario_reports_status_on_both_feeds_and_feed_pages_against_raw_rows() -> None:
    result = waymark(
        "bench",
        "--db",
        "sqlite",
        "--scenario",
        "device",
        "--history",
        "600",
        "--repeat",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [figure] = json.loads(result.stdout)["scenarios"]
    assert figure["name"] == "device" and figure["events"] == 600
    assert figure["small_feed"] == 100 and figure["large_feed"] == 600 and figure["page"] == 500
    assert figure["events_per_s"] > 0 and figure["baseline_per_s"] > 0
    assert all(figure[key] > 0 for key in FIGURES), figure
    assert figure["status_ratio"] == figure["status_large_ms"] / figure["status_small_ms"]
