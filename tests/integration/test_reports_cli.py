"""``waymark report`` through the real command line and a real server, on SQLite and
PostgreSQL: an instructor who teaches a group sees its learner's course report as tables
and charts, as JSON and as CSV with the same rows, saves a learner's PDF, is refused a
group they do not teach, and a learner is refused reports (exit 4)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningServer, init_db
from tests.integration.test_gamify_commands import CATALOG, Learner, admin, one_line


@pytest.fixture
def server(start_server: Callable[..., RunningServer], db_url: str) -> RunningServer:
    init_db(db_url)
    admin(db_url, "user", "add", "ann", "--password", "pw")
    admin(db_url, "user", "add", "ivy", "--password", "pw", "--role", "instructor")
    admin(db_url, "user", "add", "bob", "--password", "pw")
    for group, member in (("morning", "ann"), ("evening", "bob")):
        admin(db_url, "group", "add", group)
        admin(db_url, "group", "members", group, "--add", member)
    admin(db_url, "group", "teacher", "add", "morning", "ivy")
    return start_server(db_url, catalog=CATALOG)


def test_an_instructor_reads_reports_a_learner_is_refused(
    server: RunningServer, tmp_path: Path
) -> None:
    ann = Learner(tmp_path / "ann", server, "ann").login()
    for lesson in ("l1", "l2"):
        ann("record", "lesson.completed", "course=shell", f"lesson={lesson}")
    ann("sync")
    ivy = Learner(tmp_path / "ivy", server, "ivy").login()

    shown = ivy("report", "course", "shell").stdout
    assert "ann" in shown and "bob" not in shown  # bob is in a group ivy does not teach
    assert "█" in shown  # the funnel, as a chart

    data = json.loads(ivy("report", "course", "shell", "--json").stdout)
    rows = list(csv.DictReader(io.StringIO(ivy("report", "course", "shell", "--csv").stdout)))
    assert len(rows) == len(data["rows"]) > 0
    assert {r["module"] for r in rows} == {r["module"] for r in data["rows"]}
    m1 = next(r for r in data["rows"] if r["module"] == "m1")
    assert m1["status"] == "completed"  # both of m1's lessons

    pdf = tmp_path / "ann.pdf"
    assert "saved" in ivy("report", "learner", "ann", "--pdf", str(pdf)).stdout
    assert pdf.read_bytes().startswith(b"%PDF")

    refused = ivy("report", "course", "shell", "--group", "evening", ok=False)
    assert refused.returncode == 4 and "you do not teach group 'evening'" in one_line(refused)
    learner = ann("report", "course", "shell", ok=False)
    assert learner.returncode == 4 and "reports are for instructors" in one_line(learner)
    bad = ivy("report", "course", "shell", "--since", "yesterday", ok=False)
    assert bad.returncode == 2 and "YYYY-MM-DD" in one_line(bad)
    unknown = ivy("report", "course", "nope", ok=False)
    assert unknown.returncode == 1 and "nope" in one_line(unknown)
