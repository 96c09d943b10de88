"""``waymark report``'s rendering (client/cli_report.py): figures, tables and text charts
of a report's JSON, without a server (the commands against a real one are in
tests/integration/test_reports_cli.py)."""

from __future__ import annotations

from rich.console import Console

from client.cli_report import CHART_WIDTH, MAX_ROWS, chart, render
from sync.gamify import zone

REPORT = {
    "course": "python",
    "timezone": "Europe/Paris",
    "completion_rate": 0.25,
    "generated_at": 1_780_000_000_000,  # 2026-05-28 20:26:40 UTC = 22:26 in Paris
    "funnel": [
        {"module": "m1", "started": 8, "completed": 4},
        {"module": "m2", "started": 2, "completed": 1},
    ],
    "rows": [
        {
            "learner": "ada",
            "percent": 50.0,
            "freshness": {"state": "fresh", "last_sync_at": 1_780_000_000_000, "devices": 1},
        },
        {
            "learner": "bo",
            "percent": None,
            "freshness": {"state": "never synced", "last_sync_at": None, "devices": 0},
        },
    ],
}


def _text(report: dict) -> str:  # type: ignore[type-arg]
    console = Console(record=True, width=140, color_system=None)
    render(console, report)
    return console.export_text()


def test_figures_tables_and_charts_of_a_report():
    text = _text(REPORT)
    assert "completion rate: 0.25" in text
    assert "generated at: 2026-05-28 22:26" in text  # in the report's zone
    # The funnel is a chart: m1's 8 started is the full width, m2's 2 a quarter of it.
    m1 = next(line for line in text.splitlines() if "m1" in line)
    m2 = next(line for line in text.splitlines() if "m2" in line)
    assert m1.count("█") == CHART_WIDTH and m2.count("█") == CHART_WIDTH // 4
    # Rows are a table; a nested object (freshness) is one cell: its state and time.
    assert "fresh 2026-05-28 22:26" in text and "50%" in text
    bo = next(line for line in text.splitlines() if "bo " in line)
    assert "never synced" in bo and "—" in bo and "devices" not in text


def test_long_tables_say_how_many_rows_are_left_out():
    rows = [{"learner": f"l{i}", "percent": 1.0} for i in range(MAX_ROWS + 5)]
    text = _text({"rows": rows})
    assert f"l{MAX_ROWS - 1}" in text and f"l{MAX_ROWS}" not in text
    assert "… 5 more rows (--csv gives them all)" in text


def test_a_series_without_numbers_is_no_chart_and_empty_lists_say_none():
    assert chart("weeks", [{"week": "2026-W01"}], zone("UTC")) is None
    assert "funnel: none" in _text({"funnel": []})
