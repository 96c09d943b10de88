"""A report's rows as CSV (server/reports/tables.py)."""

from __future__ import annotations

import csv
import io

import msgspec

from server.reports.tables import csv_text


class Row(msgspec.Struct, frozen=True):
    learner: str
    percent: float | None
    passed: bool
    last_sync_at: int | None
    tags: list[str]


def test_rows_become_csv_lines_under_the_field_names():
    text = csv_text(
        Row,
        [
            Row("ada, the first", 50.0, True, 1_780_000_000_000, ["a", "b"]),
            Row('bo "b"', None, False, None, []),
        ],
    )
    assert list(csv.reader(io.StringIO(text))) == [
        ["learner", "percent", "passed", "last_sync_at", "tags"],
        ["ada, the first", "50.0", "true", "2026-05-28T20:26:40+00:00", "a;b"],
        ['bo "b"', "", "false", "", ""],
    ]
