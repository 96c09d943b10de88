"""The gamification commands through the real command line and a real server, on SQLite
and PostgreSQL: a learner records offline over several days (``--at``/``--tz``), syncs, and
sees points, level, streak, badges and a certificate; anyone verifies the certificate by
its code (and gets a PDF); instructors' groups rank learners, and the opt-out hides one
from the others' board but not from their own.

Catalog: tests/fixtures/gamify.yaml (default points: lesson 10, module 25, course 100,
streak day 5; badges first-lesson +5, finisher +20)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import RunningServer, init_db, waymark
from tests.integration.test_spine import free_port

CATALOG = Path(__file__).parent.parent / "fixtures" / "gamify.yaml"
PARIS = ZoneInfo("Europe/Paris")
# Days 1 and 2 straddle the spring-forward switch (2026-03-29 02:00 in Paris).
OFFLINE = [
    ("2026-03-28T10:00", "lesson.progressed", "l1", 600),
    ("2026-03-28T10:10", "lesson.completed", "l1", None),
    ("2026-03-29T10:00", "lesson.progressed", "l2", 1500),
    ("2026-03-29T10:30", "lesson.completed", "l2", None),
    ("2026-03-30T09:00", "lesson.completed", "l3", None),
    ("2026-03-30T09:30", "lesson.completed", "l4", None),
]
# 4 lessons, 2 modules, the course, 4 active days (3 offline + today), 2 badges.
ANN_POINTS = 4 * 10 + 2 * 25 + 100 + 4 * 5 + 5 + 20
BOB_POINTS = 10 + 5 + 5  # one lesson today, its streak day, first-lesson


def ms(local: str) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=PARIS).timestamp() * 1000)


def one_line(result: Any) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return str(lines[0])


class Learner:
    """One learner's device home, driven through ``waymark``."""

    def __init__(self, home: Path, server: RunningServer, name: str) -> None:
        self.home, self.server, self.name = home, server, name

    def __call__(self, *args: str, ok: bool = True) -> Any:
        env = {"WAYMARK_HOME": str(self.home), "TZ": "Europe/Paris", "COLUMNS": "80"}
        result = waymark(*args, env=env)
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def login(self) -> Learner:
        self("login", self.server.url, self.name, "--password", "pw")
        return self

    def status(self) -> dict[str, Any]:
        return json.loads(self("status", "--json").stdout)  # type: ignore[no-any-return]


def admin(db: str, *args: str, ok: bool = True) -> Any:
    result = waymark("admin", "--db", db, *args)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def server(start_server: Callable[..., RunningServer], db_url: str) -> RunningServer:
    init_db(db_url)
    for name in ("ann", "bob"):
        admin(db_url, "user", "add", name, "--password", "pw", "--timezone", "Europe/Paris")
    return start_server(db_url, catalog=CATALOG)


def finish_the_course_offline(ann: Learner) -> None:
    for at, event, lesson, seconds in OFFLINE:
        fields = ["course=shell", f"lesson={lesson}"]
        if seconds is not None:
            fields.append(f"seconds={seconds}")
        ann("record", event, *fields, "--at", at, "--tz", "Europe/Paris")
    ann("record", "lesson.progressed", "course=shell", "lesson=l4", "seconds=120")  # today


def test_offline_days_then_a_sync_show_points_level_streak_badges_and_certificate(
    server: RunningServer, tmp_path: Path
) -> None:
    ann = Learner(tmp_path / "ann", server, "ann").login()
    finish_the_course_offline(ann)

    offline = ann.status()
    # The streak counts this device's own activity at once; awards are the server's.
    assert (offline["points"], offline["badges"], offline["certificates"]) == (0, [], [])
    assert offline["streak"] == {"current": 1, "longest": 3, "freezes": 0}

    ann("sync")
    status = ann.status()
    assert status["points"] == ANN_POINTS
    assert (status["level"], status["next_level_at"], status["points_to_next_level"]) == (
        3,
        None,
        None,
    )
    assert status["streak"] == {"current": 1, "longest": 3, "freezes": 0}
    assert [(b["id"], b["earned_at"]) for b in status["badges"]] == [
        ("first-lesson", ms("2026-03-28T10:10")),
        ("finisher", ms("2026-03-30T09:30")),  # all: 4 lessons, 3-day streak; any: course
    ]
    [cert] = status["certificates"]
    assert (cert["course"], cert["issued_at"]) == ("shell", ms("2026-03-30T09:30"))
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", cert["code"])

    shown = ann("achievements").stdout
    assert all(len(line) <= 80 for line in shown.splitlines())
    for text in (f"ann: {ANN_POINTS} points", "top level", "Finisher", "Marathon", cert["code"]):
        assert text in shown
    assert re.search(r"Learning time, last 14 days \(\d+ min\)", shown)

    found = json.loads(ann("achievements", "--json", "--days", "2").stdout)
    assert found["points"] == ANN_POINTS and found["certificates"][0]["code"] == cert["code"]
    assert sum(d["seconds"] for d in found["time_per_day"]) == 120  # today (or just before)
    assert {b["id"]: b["earned"] for b in found["badges"]} == {
        "first-lesson": True,
        "finisher": True,
        "marathon": False,
    }


def test_anyone_verifies_a_certificate_by_its_code_and_gets_a_pdf(
    server: RunningServer, tmp_path: Path
) -> None:
    ann = Learner(tmp_path / "ann", server, "ann").login()
    finish_the_course_offline(ann)
    ann("sync")
    [cert] = ann.status()["certificates"]

    stranger = Learner(tmp_path / "stranger", server, "nobody")  # never logged in
    pdf = tmp_path / "out.pdf"
    result = stranger(
        "certificate", "show", cert["code"], "--server", server.url, "--pdf", str(pdf)
    )
    out = result.stdout
    *panel, written = out.splitlines()
    assert all(len(line) <= 80 for line in panel)
    assert written == f"PDF certificate written to {pdf}"
    for text in ("Shell basics", "ann", "2026-03-30", cert["code"], "Waymark", "verified ✓"):
        assert text in out, text
    assert f"{server.url}/v1/certificates/{cert['code']}/credential" in out
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/Title (Certificate: Shell basics, ann)" in data

    # The learner's own device verifies against its server without --server.
    assert cert["code"] in ann("certificate", "show", cert["code"]).stdout

    unknown = stranger(
        "certificate", "show", "AAAA-BBBB-CCCC-DDDD", "--server", server.url, "--pdf", str(pdf),
        ok=False,
    )  # fmt: skip
    message = one_line(unknown)
    assert message == "Error: certificate: no certificate has code 'AAAA-BBBB-CCCC-DDDD'"
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert pdf.read_bytes() == data  # nothing written for a code that is not valid

    away = f"http://127.0.0.1:{free_port()}"
    gone = stranger("certificate", "show", cert["code"], "--server", away, ok=False)
    assert one_line(gone) == f"Error: cannot reach the server at {away}: connection refused"
    assert gone.returncode == 3


def test_groups_rank_learners_and_the_opt_out_hides_one_from_the_others_only(
    server: RunningServer, tmp_path: Path, db_url: str
) -> None:
    ann = Learner(tmp_path / "ann", server, "ann").login()
    bob = Learner(tmp_path / "bob", server, "bob").login()
    finish_the_course_offline(ann)
    ann("sync")
    bob("record", "lesson.completed", "course=shell", "lesson=l1")
    bob("sync")

    assert admin(db_url, "group", "add", "cohort").stdout.startswith("group cohort created")
    refused = admin(db_url, "group", "add", "cohort", ok=False)
    assert one_line(refused) == "Error: group 'cohort' already exists"
    nobody = admin(db_url, "group", "members", "cohort", "--add", "ann", "--add", "zed", ok=False)
    assert one_line(nobody) == "Error: no user 'zed'"
    assert admin(db_url, "group", "members", "cohort").stdout == "group cohort: 0 members\n"
    added = admin(db_url, "group", "members", "cohort", "--add", "ann", "--add", "bob")
    assert added.stdout == "group cohort: 2 members\n  ann\n  bob\n"
    listed = admin(db_url, "group", "list").stdout
    assert listed == "group cohort: 2 members (created by admin)\n"

    def board(learner: Learner) -> list[list[str]]:
        out = learner("leaderboard", "--group", "cohort").stdout
        assert out.startswith("Leaderboard ") and "· group cohort, top 10" in out
        return [line.split() for line in out.splitlines()[1:]]

    ranked = [["rank", "learner", "points"], ["1", "ann", str(ANN_POINTS)]]
    assert board(bob) == [*ranked, ["2", "bob", "(you)", str(BOB_POINTS)]]
    assert board(ann) == [
        ranked[0],
        ["1", "ann", "(you)", str(ANN_POINTS)],
        ["2", "bob", str(BOB_POINTS)],
    ]

    assert "opted out" in ann("leaderboard", "--opt-out").stdout
    assert board(bob) == [ranked[0], ["1", "bob", "(you)", str(BOB_POINTS)]]
    # Ann still sees her own place, under a board that leaves her out.
    assert board(ann) == [
        ranked[0],
        ["1", "bob", str(BOB_POINTS)],
        ["you:", "#1", "with", str(ANN_POINTS), "points"],
    ]
    assert "opted in" in ann("leaderboard", "--opt-in").stdout
    assert board(bob)[1] == ranked[1]

    top = bob("leaderboard", "--group", "cohort", "--limit", "1").stdout.splitlines()
    assert top[-1] == f"you: #2 with {BOB_POINTS} points"

    everyone = bob("leaderboard", "--course", "shell").stdout
    assert "course shell" in everyone and "ann" in everyone

    removed = admin(db_url, "group", "remove", "cohort")
    assert removed.stdout == "group cohort: 2 members, removed\n"
    gone = bob("leaderboard", "--group", "cohort", ok=False)
    assert one_line(gone) == "Error: leaderboard: no group 'cohort'" and gone.returncode == 1
    assert admin(db_url, "group", "list").stdout == "no groups\n"
    missing = admin(db_url, "group", "members", ok=False)
    assert one_line(missing).startswith("Error: Missing argument 'NAME'")
    assert missing.returncode == 2


def test_leaderboards_need_the_server(tmp_path: Path, server: RunningServer) -> None:
    bob = Learner(tmp_path / "bob", server, "bob").login()
    server.stop()
    offline = bob("leaderboard", ok=False)
    assert one_line(offline).startswith("Error: leaderboards need the server: cannot reach")
    assert offline.returncode == 3
    bob("record", "lesson.completed", "course=shell", "lesson=l1")  # recording still works
