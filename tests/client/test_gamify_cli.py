"""The gamification commands without a server: how achievements, leaderboards and
certificates look (within 80 columns), ``--at``/``--tz`` parsing, one-line errors and the
JSON of ``waymark achievements``. The real-server story is in
tests/integration/test_gamify_commands.py."""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console, RenderableType
from rich.text import Text

from client import present
from client.cli import parse_week
from client.journal import Journal
from sync.gamify import BadgeView, Certificate, GamifyView, StreakView, level_for
from tests.client.conftest import account, entry
from tests.client.test_cli import one_line_error, prepare, run
from tests.client.test_connection import free_port

DAY = 86_400_000
FOUND: dict[str, Any] = {
    "valid": True,
    "code": "K3QF-7XJM-2PZA-L9WD",
    "learner": "Zoë Martín",
    "kind": "course",
    "ref": "shell",
    "title": "Shell basics",
    "issued_at": int(datetime(2026, 3, 30, 9, 30, tzinfo=UTC).timestamp() * 1000),
    "issuer": "Waymark",
    "credential": "http://learn.test/v1/certificates/K3QF-7XJM-2PZA-L9WD/credential",
}


def lines(renderable: RenderableType, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().rstrip("\n").split("\n")


def fits(rendered: list[str], width: int = 80) -> bool:
    return all(Text(line).cell_len <= width for line in rendered)


# -- the learning-time chart ------------------------------------------------------------------


def test_the_chart_has_one_line_per_day_and_fits_80_columns() -> None:
    per_day = [(f"2026-03-{d:02d}", d * 400) for d in range(1, 15)]
    rendered = lines(present.time_chart(per_day, 80))
    assert len(rendered) == 14 and fits(rendered)
    assert rendered[0].startswith("Sun 01 Mar ") and rendered[0].endswith("   6 min")
    assert rendered[-1].startswith("Sat 14 Mar ") and rendered[-1].endswith("  93 min")


def test_the_busiest_day_fills_the_chart_and_the_others_scale_to_it() -> None:
    per_day = [("2026-03-28", 3600), ("2026-03-29", 1800), ("2026-03-30", 0), ("2026-03-31", 5)]
    full, half, none, little = lines(present.time_chart(per_day, 80))
    bar = 80 - present.DAY_LABEL - present.MINUTES_LABEL - 2
    assert full.count(present.BAR_FULL) == bar and len(full) == 80
    assert half.count(present.BAR_FULL) == bar // 2
    assert none.count(present.BAR_FULL) == 0 and none.endswith(" 0 min")
    # A few seconds still show, as one eighth of a cell, labelled "<1 min".
    assert little.count(present.BAR_FULL) == 0 and "▏" in little
    assert little.endswith("<1 min")
    assert half.endswith("30 min") and full.endswith("60 min")


def test_the_chart_scales_to_a_narrow_terminal_and_to_days_without_time() -> None:
    per_day = [("2026-03-28", 7200), ("2026-03-29", 3600)]
    two_hours, one_hour = lines(present.time_chart(per_day, 40))
    assert len(two_hours) == 40 and fits([one_hour], 40)
    assert two_hours.count(present.BAR_FULL) == 2 * one_hour.count(present.BAR_FULL) == 20
    idle = lines(present.time_chart([("2026-03-28", 0)], 80))
    assert idle == ["Sat 28 Mar" + " " * 65 + "0 min"]


# -- level, streak, badges -------------------------------------------------------------------


def test_the_level_bar_shows_progress_and_the_points_still_needed() -> None:
    level = level_for(20, (0, 30, 100))  # level 1, 66 % of the way to 30
    text = present.level_bar(level, 80)
    assert text.cell_len == 80
    assert text.plain.startswith("Level 1  ")
    assert text.plain.endswith(" 66%  10 points to level 2")
    filled, empty = text.plain.count(present.BAR_FULL), text.plain.count(present.BAR_EMPTY)
    assert filled == (filled + empty) * 66 // 100 and empty > 0


def test_the_top_level_bar_is_full_and_says_so() -> None:
    text = present.level_bar(level_for(235, (0, 30, 100)), 60)
    assert text.cell_len == 60 and text.plain.startswith("Level 3  ")
    assert text.plain.endswith("top level") and present.BAR_EMPTY not in text.plain


def test_the_streak_line_shows_freezes_as_marks() -> None:
    line = present.streak_line(StreakView(12, 20, 2, [], False, "2026-03-28")).plain
    assert line == "Streak   12 days (longest 20)  ❄❄ 2 freezes  · learn today to keep it"
    line = present.streak_line(StreakView(1, 3, 0, [], True, "2026-03-28")).plain
    assert line == "Streak   1 day (longest 3)  no freezes  · active today"


def test_badges_earned_come_first_with_their_date_and_the_others_are_dimmed() -> None:
    paris = ZoneInfo("Europe/Paris")
    late_evening = int(datetime(2026, 3, 28, 23, 30, tzinfo=UTC).timestamp() * 1000)
    badges = [
        BadgeView("marathon", "Marathon", "Keep a 10-day streak.", 50, False),
        BadgeView("first", "First lesson", "Complete a lesson.", 5, True, late_evening),
    ]
    table = present.badge_table(badges, paris)
    rendered = lines(table)
    assert rendered[0].split() == ["✓", "First", "lesson", "2026-03-29", "+5"]  # Paris date
    assert rendered[1].split()[:3] == ["·", "Marathon", "Keep"] and rendered[1].endswith("+50")
    assert [row.style for row in table.rows] == [None, "dim"]


def view(**changes: Any) -> GamifyView:
    fields: dict[str, Any] = {
        "points": 20,
        "level": level_for(20, (0, 30, 100)),
        "streak": StreakView(1, 3, 1, [], True, "2026-03-30"),
        "badges": [BadgeView("b" * 60, "N" * 60, "D" * 200, 5, False)],
        "certificates": [Certificate("K3QF-7XJM-2PZA-L9WD", "course", "shell", 0, "T" * 90)],
        "ledger": [],
        "week": "2026-W14",
        "week_points": 20,
        **changes,
    }
    return GamifyView(**fields)


def test_the_whole_achievements_screen_fits_80_columns_even_with_long_names() -> None:
    per_day = [(f"2026-03-{d:02d}", d * 60) for d in range(17, 31)]
    rendered = lines(present.achievements(view(), per_day, user="ann", width=80))
    assert fits(rendered)
    text = "\n".join(rendered)
    assert "ann: 20 points, 20 this week (2026-W14)" in text
    assert "10 points to level 2" in text and "❄ 1 freeze" in text
    assert "K3QF-7XJM-2PZA-L9WD" in text and "Learning time, last 14 days (5 h 29 min)" in text


def test_an_empty_achievements_screen_says_what_is_missing() -> None:
    rendered = "\n".join(
        lines(present.achievements(view(badges=[], certificates=[]), [], user="a"))
    )
    assert "this catalog has no badges" in rendered
    assert "none yet: complete a course or a path" in rendered


# -- leaderboards and certificates ------------------------------------------------------------


def test_the_callers_row_is_marked_and_their_place_shown_when_not_in_the_top() -> None:
    rows = [
        {"rank": 1, "user": "ann", "points": 235, "you": False},
        {"rank": 2, "user": "bob", "points": 20, "you": True},
    ]
    board = {"week": "2026-W47", "rows": rows, "you": rows[1]}
    shown = lines(present.leaderboard(board, scope="group cohort"))
    assert shown[0] == "Leaderboard 2026-W47 · group cohort"
    assert shown[3].split() == ["2", "bob", "(you)", "20"] and len(shown) == 4
    others = {"week": "2026-W47", "rows": rows[:1], "you": {**rows[1], "rank": 7}}
    assert lines(present.leaderboard(others, scope="everyone"))[-1] == "you: #7 with 20 points"
    nobody: dict[str, Any] = {"week": "2026-W47", "rows": [], "you": None}
    assert lines(present.leaderboard(nobody, scope="course c9"))[1:] == [
        "nobody has points on this board yet",
        "you are not on this board",
    ]


def test_the_certificate_panel_fits_80_columns_and_says_verified() -> None:
    rendered = lines(present.certificate_panel(FOUND, UTC))
    assert fits(rendered) and "Certificate of completion" in rendered[0]
    text = "\n".join(rendered)
    for shown in ("Shell basics", "Zoë Martín", "2026-03-30", FOUND["code"], "verified ✓"):
        assert shown in text
    assert any(FOUND["credential"] in line for line in rendered)  # on one line: copyable


def test_the_pdf_is_one_landscape_page_naming_learner_title_and_code() -> None:
    pdf = present.certificate_pdf(FOUND, compress=False)
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") == 1 and b"/MediaBox [0 0 841.89 595.28]" in pdf
    # Outside Latin-1 a built-in PDF font has no glyph: such letters print as '?'. Here
    # every letter is Latin-1, so the name is written as given.
    for shown in (b"Mart\\355n", b"Shell basics", FOUND["code"].encode()):
        assert shown in pdf.replace("í".encode("latin-1"), b"\\355"), shown
    assert present.certificate_pdf({**FOUND, "learner": "Łukasz 李"}).startswith(b"%PDF-")


# -- --at / --tz and --week ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--at", "2026-10-25T02:30", "--tz", "Europe/Paris"],
            "--at: '2026-10-25T02:30' happens twice in Europe/Paris (the clocks go back): "
            "add +02:00 or +01:00",
        ),
        (
            ["--at", "2026-03-29T02:30", "--tz", "Europe/Paris"],
            "--at: '2026-03-29T02:30' does not exist in Europe/Paris (the clocks skip it)",
        ),
        (["--tz", "Mars/Olympus"], "--tz: 'Mars/Olympus' is not an IANA time zone"),
        (["--tz", "../etc/passwd"], "--tz: '../etc/passwd' is not an IANA time zone"),
        (["--at", "yesterday"], "--at: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_record_refuses_a_bad_or_ambiguous_time_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", "lesson.opened", "course=c1", "lesson=read", *args)
    assert message in one_line_error(result)
    assert result.exit_code == 2
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 0


def test_record_takes_wall_clock_time_in_the_zone_and_an_explicit_offset(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    times = [
        ("2026-03-28T10:00", "Europe/Paris", "2026-03-28T09:00:00+00:00"),
        ("2026-03-30T10:00", "Europe/Paris", "2026-03-30T08:00:00+00:00"),  # after the switch
        ("2026-10-25T02:30+01:00", "Europe/Paris", "2026-10-25T01:30:00+00:00"),  # 2nd 02:30
    ]
    for at, tz, _ in times:
        result = run(
            tmp_path, "record", "lesson.opened", "course=c1", "lesson=read", "--at", at, "--tz", tz
        )
        assert result.exit_code == 0, result.output

    async def recorded() -> list[tuple[int, str]]:
        async with await Journal.open(tmp_path) as journal:
            events = await journal.pending((await journal.account()).device_id, 0)
            return [(e.at, e.tz) for e in events]

    found = asyncio.run(recorded())
    assert [(datetime.fromtimestamp(at / 1000, UTC).isoformat(), tz) for at, tz in found] == [
        (utc, tz) for _, tz, utc in times
    ]


@pytest.mark.parametrize("week", ["2026-W00", "2026-W54", "2025-W53", "2026-47", "W47"])
def test_a_week_that_does_not_exist_is_refused(tmp_path: Path, week: str) -> None:
    prepare(tmp_path, account("alice"))
    message = one_line_error(run(tmp_path, "leaderboard", "--week", week))
    assert f"--week: expected an ISO week YYYY-Www (e.g. 2026-W47), got {week!r}" in message
    assert parse_week("2026-W53") == "2026-W53"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["leaderboard", "--group", "g", "--course", "c1"], "give --group or --course", 2),
        (["leaderboard", "--opt-out", "--opt-in"], "give --opt-out or --opt-in, not both", 2),
        (["leaderboard", "--opt-out", "--group", "g"], "--opt-out and --opt-in take no", 2),
        (["leaderboard", "--limit", "0"], "Invalid value for '--limit'", 2),
        (["leaderboard"], "leaderboards need the server: cannot reach the server at", 3),
        (["leaderboard", "--opt-out"], "leaderboards need the server: cannot reach", 3),
        (["achievements", "--days", "0"], "Invalid value for '--days'", 2),
        (["certificate", "show", " "], "CODE is empty", 2),
        (["certificate", "show", "X", "--server", "h:1"], "--server must start with http", 2),
        (["certificate", "show", "X"], "cannot reach the server at http://127.0.0.1:", 3),
        (["certificate", "print"], "No such command 'print'", 2),
    ],
)
def test_gamification_commands_refuse_in_one_line(
    tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    prepare(tmp_path, account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    result = run(tmp_path, *args)
    assert message in one_line_error(result)
    assert result.exit_code == code


def test_verifying_with_server_needs_no_login_nor_a_journal(tmp_path: Path) -> None:
    home = tmp_path / "nobody"
    url = f"http://127.0.0.1:{free_port()}"
    result = run(home, "certificate", "show", "X", "--server", url)
    assert "cannot reach" in one_line_error(result) and result.exit_code == 3
    assert not home.exists()


# -- achievements --json ----------------------------------------------------------------------


def test_achievements_json_has_the_gamify_view_and_time_per_day(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice", timezone="UTC"))
    now = time.time_ns() // 1_000_000

    async def award() -> None:
        body = {"key": "points:lesson-completed:c1/read", "points": 30, "rule": "lesson-completed"}
        async with await Journal.open(tmp_path) as journal:
            server = entry(1, "points.awarded", origin="server", body=body, at=now)
            await journal.apply_feed("u-alice", [server], now_ms=now)

    asyncio.run(award())
    env = {"TZ": "UTC"}
    body = ["course=c1", "lesson=read", "seconds=90"]
    assert run(tmp_path, "record", "lesson.progressed", *body, env=env).exit_code == 0
    result = run(tmp_path, "achievements", "--json", "--days", "2", env=env)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == {
        "user",
        "points",
        "level",
        "streak",
        "badges",
        "certificates",
        "ledger",
        "week",
        "week_points",
        "time_per_day",
    }
    assert (found["user"], found["points"]) == ("alice", 30)
    assert found["level"]["level"] == 1 and found["level"]["to_next"] == 70  # default levels
    assert set(found["streak"]) >= {"current", "longest", "freezes"}
    assert found["streak"]["current"] == 1
    assert [set(d) for d in found["time_per_day"]] == [{"day", "seconds"}] * 2
    assert sum(d["seconds"] for d in found["time_per_day"]) == 90  # today, or just before

    shown = run(tmp_path, "achievements", "--days", "2", env=env)
    assert shown.exit_code == 0 and fits(shown.stdout.splitlines())
    assert "alice: 30 points" in shown.stdout and "1 min" in shown.stdout
