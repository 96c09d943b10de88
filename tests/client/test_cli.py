"""The device commands: arguments, one-line errors, and output."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from client.cli import COMMANDS, OneLineUsageError, parse_answers, parse_fields
from client.journal import Account, Journal
from sync.events import BODY_TYPES
from sync.protocol.messages import FeedEntry
from tests.client.conftest import CATALOG, T0, account, entry
from tests.client.fake_server import FakeServer
from tests.client.test_connection import free_port

waymark = click.Group("waymark", commands=COMMANDS)


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(waymark, [*args], env={"WAYMARK_HOME": str(home), **(env or {})})


def one_line_error(result: Result) -> str:
    """The single stderr line of a failed command (and nothing on stdout)."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def prepare(home: Path, *accounts: Account, catalog: bool = True) -> None:
    async def setup() -> None:
        async with await Journal.open(home) as journal:
            for item in accounts:
                await journal.add_account(item)
                if catalog:
                    await journal.store_catalog(item.server_url, CATALOG.version, CATALOG)

    asyncio.run(setup())


def test_fields_become_a_body_with_whole_numbers_where_expected() -> None:
    body = parse_fields(("course=c1", "lesson=2", "seconds=30", "from=0", "to=30", "position=7"))
    assert body == {
        "course": "c1",
        "lesson": "2",
        "seconds": 30,
        "from": 0,
        "to": 30,
        "position": 7,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record"], "Missing argument 'EVENT'"),
        (["record", "lesson.opened", "course"], "expected KEY=VALUE, got 'course'"),
        (["record", "lesson.opened", "=c1"], "expected KEY=VALUE"),
        (["record", "lesson.opened", "seconds=ten"], "seconds must be a whole number"),
        (["record", "lesson.opened", "course=a", "course=b"], "course is given twice"),
        (
            ["record", "lesson.progressed", "course=c1", "lesson=v", "secs=3"],
            "lesson.progressed has no field 'secs' (fields: course, lesson, seconds, position, "
            "from, to)",
        ),
        (["status", "--verbose"], "No such option '--verbose' (see 'waymark status --help')"),
        (["sync", "extra"], "unexpected extra argument"),
        (["login", "http://h"], "Missing argument 'NAME'"),
        (["login", "h:8000", "alice", "--password", "pw"], "must start with http://"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(tmp_path, *args)
    assert message in one_line_error(result)
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args", [["status"], ["sync"], ["record", "lesson.opened", "course=c1", "lesson=read"]]
)
def test_commands_before_any_login_say_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    result = run(tmp_path, *args)
    assert "no learner is logged in" in one_line_error(result)
    assert result.exit_code == 4


def test_an_id_the_cached_catalog_lacks_is_recorded_with_a_warning(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", "lesson.opened", "course=c1", "lesson=zz")
    assert (result.exit_code, result.stdout) == (0, "recorded lesson.opened #1\n")
    assert result.stderr == (
        "warning: no lesson 'zz' in course 'c1' (as this device knows it); "
        "recorded, the server decides\n"
    )
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 1


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (["milestone.started", "path=p1", "milestone=zz"], "no milestone 'zz' in path 'p1'"),
        (["path.enrolled", "path=p9"], "no path 'p9' in the catalog"),
        (["quiz.started", "course=c2", "quiz=q9", "attempt=a"], "no quiz 'q9' in course 'c2'"),
        (["assignment.saved", "course=c9", "assignment=e", "text=t"], "no course 'c9'"),
    ],
)
def test_every_kind_of_unknown_id_is_a_warning_not_a_refusal(
    tmp_path: Path, args: list[str], warning: str
) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", *args)
    assert result.exit_code == 0 and result.stdout == f"recorded {args[0]} #1\n"
    assert result.stderr.startswith(f"warning: {warning}")


def test_without_a_catalog_ids_are_not_checked_and_a_warning_says_so(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"), catalog=False)
    result = run(tmp_path, "record", "lesson.opened", "course=c9", "lesson=zz")
    assert result.exit_code == 0 and "no catalog on this device yet" in result.stderr


def test_a_value_the_catalog_refuses_is_bad_input(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    args = ["lesson.progressed", "course=c1", "lesson=video", "from=50", "to=10"]
    result = run(tmp_path, "record", *args)
    assert one_line_error(result) == "Error: watched segment from 50 to 10 is empty or reversed"
    assert result.exit_code == 2
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 0


def test_record_then_status_as_json(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"), account("bob"))
    result = run(
        tmp_path, "record", "lesson.completed", "course=c1", "lesson=read", "--user", "bob"
    )
    assert (result.exit_code, result.stdout) == (0, "recorded lesson.completed #1\n")
    status = json.loads(run(tmp_path, "status", "--json", "--user", "bob").stdout)
    assert (status["user"], status["pending"], status["rejected"]) == ("bob", 1, [])
    assert status["courses"][0]["modules"][0]["lessons"][0]["status"] == "completed"
    assert json.loads(run(tmp_path, "status", "--json").stdout)["courses"][0]["percent"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["lesson.finished", "course=c1", "lesson=read"],
            "unknown event type 'lesson.finished': lesson events are lesson.opened, "
            "lesson.progressed, lesson.completed, lesson.uncompleted "
            "(the types are in 'waymark record --help')",
        ),
        (
            ["badge.polished", "badge=b1"],
            "unknown event type 'badge.polished' (the types are in 'waymark record --help')",
        ),
        (["quizz.started"], "unknown event type 'quizz.started': did you mean quiz.started?"),
        (
            ["lesson.opened", "lesson=read"],
            "lesson.opened needs course=... (fields: course, lesson)",
        ),
        (["quiz.answered", "course=c2", "quiz=q1"], "quiz.answered needs attempt=..."),
        (["lesson.opened", "course=", "lesson=read"], "lesson.opened: course: expected `str` of"),
        (
            ["lesson.progressed", "course=c1", "lesson=video", "seconds=90000"],
            "lesson.progressed: seconds: expected `int` <= 86400",
        ),
    ],
)
def test_unknown_types_and_malformed_bodies_are_refused_in_one_plain_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", *args)
    line = one_line_error(result)
    assert message in line and "$." not in line and "Object missing" not in line
    assert result.exit_code == 2
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 0


def test_record_help_lists_every_known_type(tmp_path: Path) -> None:
    shown = run(tmp_path, "record", "--help").stdout
    assert all(event_type in shown.split() for event_type in BODY_TYPES)


def test_status_shows_courses_modules_and_lessons(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    run(tmp_path, "record", "lesson.progressed", "course=c1", "lesson=video", "seconds=30")
    run(tmp_path, "record", "lesson.completed", "course=c1", "lesson=read")
    result = run(tmp_path, "status")
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == "alice: 2 pending, last sync never"
    assert "Course One in progress 50%" in lines
    assert "Basics in progress 50%" in lines
    assert "Reading completed 0 s" in lines
    assert "video in progress 30 s" in lines


def test_sync_with_the_server_down_prints_one_line(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    result = run(tmp_path, "sync", "--once")
    assert re.fullmatch(
        r"Error: cannot reach the server at http://127\.0\.0\.1:\d+: connection refused; "
        r"your events are kept and will sync later",
        one_line_error(result),
    )
    assert result.exit_code == 3


async def test_sync_once_exits_0_when_in_sync(tmp_path: Path, server: FakeServer) -> None:
    # The fake server runs on this loop; the commands run asyncio.run in a thread.
    await asyncio.to_thread(prepare, tmp_path, server.add("alice"), catalog=False)
    await asyncio.to_thread(run, tmp_path, "record", "lesson.opened", "course=c1", "lesson=read")
    result = await asyncio.to_thread(run, tmp_path, "sync")
    assert (result.exit_code, result.stdout) == (0, "in sync (1 sent, 1 received)\n")


async def test_sync_of_a_revoked_device_prints_one_line(tmp_path: Path, server: FakeServer) -> None:
    alice = server.add("alice")
    server.revoke(alice)
    await asyncio.to_thread(prepare, tmp_path, alice)
    result = await asyncio.to_thread(run, tmp_path, "sync", "--once")
    assert "revoked by an administrator; log in again" in one_line_error(result)


async def test_sync_of_a_partly_refused_kiosk_names_who_failed(
    tmp_path: Path, server: FakeServer
) -> None:
    bob = server.add("bob")
    server.revoke(bob)
    await asyncio.to_thread(prepare, tmp_path, server.add("alice"), bob)
    result = await asyncio.to_thread(run, tmp_path, "sync")
    assert (
        one_line_error(result)
        == "Error: not synced: bob (device_revoked: this device was revoked by an administrator)"
    )


# -- new event types, quizzes -------------------------------------------------------------


def add_feed(home: Path, user_id: str, *entries: FeedEntry) -> None:
    async def apply() -> None:
        async with await Journal.open(home) as journal:
            await journal.apply_feed(user_id, list(entries), now_ms=T0)

    asyncio.run(apply())


def test_choices_are_a_comma_list() -> None:
    assert parse_fields(("question=one", "choices=x,z")) == {
        "question": "one",
        "choices": ["x", "z"],
    }
    assert parse_fields(("choices=a",)) == {"choices": ["a"]}
    assert parse_fields(("choices=",)) == {"choices": []}


@pytest.mark.parametrize(
    ("values", "answers"),
    [
        (("one=a",), {"one": ["a"]}),
        (("one=a", "two=x,z"), {"one": ["a"], "two": ["x", "z"]}),
        (("one=a,two=x,z",), {"one": ["a"], "two": ["x", "z"]}),
        (("one=a, two=x",), {"one": ["a"], "two": ["x"]}),
    ],
)
def test_answers_are_repeated_or_packed_in_one_value(
    values: tuple[str, ...], answers: dict[str, list[str]]
) -> None:
    assert parse_answers(values) == answers


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("a",), "expected Q=CHOICE[,CHOICE...], got 'a'"),
        (("one=",), "expected Q=CHOICE"),
        (("=a",), "expected Q=CHOICE"),
        (("one=a,,b",), "expected Q=CHOICE"),
        (("one=a", "one=b"), "question 'one' is answered twice"),
        (("one=a,one=b",), "question 'one' is answered twice"),
    ],
)
def test_bad_answers_are_usage_errors(values: tuple[str, ...], message: str) -> None:
    with pytest.raises(OneLineUsageError, match=re.escape(message)):
        parse_answers(values)


NEW_EVENTS = [
    ["quiz.started", "course=c2", "quiz=q1", "attempt=a1"],
    ["quiz.answered", "course=c2", "quiz=q1", "attempt=a1", "question=two", "choices=x,z"],
    ["quiz.submitted", "course=c2", "quiz=q1", "attempt=a1"],
    ["assignment.saved", "course=c2", "assignment=essay", "text=a first draft"],
    ["assignment.submitted", "course=c2", "assignment=essay", "url=https://x.test/e"],
    ["path.enrolled", "path=p1"],
    ["path.paused", "path=p1"],
    ["path.resumed", "path=p1"],
    ["path.dropped", "path=p1"],
    ["milestone.started", "path=p1", "milestone=first"],
    ["milestone.completed", "path=p1", "milestone=first"],
    ["milestone.reset", "path=p1", "milestone=second"],
    ["course.reset", "course=c1"],
]


def test_the_new_event_list_covers_every_type_but_the_lesson_ones() -> None:
    assert {args[0] for args in NEW_EVENTS} == {
        t for t in BODY_TYPES if not t.startswith("lesson.")
    }


@pytest.mark.parametrize("args", NEW_EVENTS, ids=[a[0] for a in NEW_EVENTS])
def test_record_takes_every_new_event_type(tmp_path: Path, args: list[str]) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", *args)
    assert (result.exit_code, result.stdout) == (0, f"recorded {args[0]} #1\n"), result.output
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["quiz.answered", "course=c2", "quiz=q1", "attempt=a", "question=two", "choices=x,w"],
            "Error: question 'two' has no choice 'w'",
        ),
        (
            ["quiz.answered", "course=c2", "quiz=q1", "attempt=a", "question=two", "choices="],
            "Error: no choice given for question 'two'",
        ),
        (["path.enrolled", "path=p1", "reason=x"], "path.enrolled has no field 'reason'"),
    ],
)
def test_record_refuses_new_events_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    prepare(tmp_path, account("alice"))
    assert message in one_line_error(run(tmp_path, "record", *args))


ATTEMPT_LINE = re.compile(r"attempt ([0-9a-f]{32}): submitted, scored when online\n")


def test_quiz_take_records_an_attempt_offline(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "quiz", "take", "c2", "q1", "--answers", "one=a", "-a", "two=x,z")
    assert result.exit_code == 0, result.output
    found = ATTEMPT_LINE.fullmatch(result.stdout)
    assert found is not None and result.stderr == ""
    status = json.loads(run(tmp_path, "status", "--json").stdout)
    assert status["pending"] == 4  # started, two answers, submitted
    [quiz] = status["courses"][1]["modules"][0]["quizzes"]
    [attempt] = quiz["attempts"]
    assert (attempt["id"], attempt["status"]) == (found[1], "submitted")
    assert (attempt["number"], attempt["counted"], attempt["score"]) == (None, None, None)


def test_quiz_take_takes_every_answer_in_one_value_and_notes_unanswered(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "quiz", "take", "c2", "q1", "--answers", "two=x,z")
    assert result.exit_code == 0 and ATTEMPT_LINE.fullmatch(result.stdout)
    assert result.stderr == "note: unanswered, counted as wrong: one\n"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["c2", "q1", "-a", "three=a"], "Error: quiz 'q1' has no question 'three' (one, two)", 2),
        (["c2", "q1", "-a", "one=c"], "Error: question 'one': no choice 'c' (a, b)", 2),
        (["c2", "zz", "-a", "one=a"], "Error: no quiz 'zz' in course 'c2'", 2),
        (["c2", "q1"], "Missing option '--answers'", 2),
        (["c2", "q1", "-a", "one"], "expected Q=CHOICE[,CHOICE...], got 'one'", 2),
        (["c2"], "Missing argument 'QUIZ'", 2),
    ],
)
def test_quiz_take_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "quiz", "take", *args)
    assert message in one_line_error(result)
    assert result.exit_code == code
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 0


def test_an_unknown_quiz_subcommand_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "quiz", "retake")
    assert "No such command 'retake'" in one_line_error(result)
    assert result.exit_code == 2


def test_quiz_take_warns_when_no_attempts_are_left(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    scored = {"course": "c2", "quiz": "q1", "score": 0.0, "passed": False, "counted": True}
    add_feed(
        tmp_path,
        "u-alice",
        *(  # a free learner's two counted attempts, made on another device
            entry(
                n,
                "quiz.scored",
                origin="server",
                body={**scored, "attempt": f"old{n}", "number": n},
                device_id=None,
                seq=None,
            )
            for n in (1, 2)
        ),
    )
    result = run(tmp_path, "quiz", "take", "c2", "q1", "-a", "one=a,two=x")
    assert result.exit_code == 0 and ATTEMPT_LINE.fullmatch(result.stdout)
    assert "note: no attempts left" in result.stderr


async def test_quiz_take_with_sync_prints_the_servers_score(
    tmp_path: Path, server: FakeServer
) -> None:
    await asyncio.to_thread(prepare, tmp_path, server.add("alice"))
    args = ("quiz", "take", "c2", "q1", "-a", "one=a,two=x,z", "--sync")
    result = await asyncio.to_thread(run, tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"attempt [0-9a-f]{32}: #1, 100%, passed\n", result.stdout)
    args = ("quiz", "take", "c2", "q1", "-a", "one=b,two=x", "--sync")
    result = await asyncio.to_thread(run, tmp_path, *args)
    assert re.fullmatch(
        r"attempt [0-9a-f]{32}: #2, 0%, not passed, not counted: cool-down: .*\n", result.stdout
    )
    assert "note: cool-down until" in result.stderr


def test_quiz_take_with_sync_while_offline_keeps_the_attempt(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    result = run(tmp_path, "quiz", "take", "c2", "q1", "-a", "one=a,two=x", "--sync")
    assert result.exit_code == 0 and ATTEMPT_LINE.fullmatch(result.stdout)
    assert result.stderr.startswith("note: not synced: cannot reach the server at http://127.0.0.1")
    assert json.loads(run(tmp_path, "status", "--json").stdout)["pending"] == 4


def test_status_json_has_the_documented_keys(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    run(tmp_path, "quiz", "take", "c2", "q1", "-a", "one=a")
    status = json.loads(run(tmp_path, "status", "--json").stdout)
    assert {"user", "pending", "rejected", "synced_at", "courses", "paths"} <= set(status)
    assert {"competencies", "summary"} <= set(status)
    module = status["courses"][1]["modules"][0]
    assert {"id", "status", "passed", "best_score", "attempts"} <= set(module["quizzes"][0])
    assert {"id", "number", "score", "passed", "counted", "reason"} <= set(
        module["quizzes"][0]["attempts"][0]
    )
    assert {"id", "status", "score"} <= set(module["assignments"][0])
    assert {"id", "status", "percent", "milestones"} <= set(status["paths"][0])
    assert {"id", "status"} <= set(status["paths"][0]["milestones"][0])
    assert {"id", "level", "status"} <= set(status["competencies"][0])


def test_status_shows_quizzes_assignments_paths_and_competencies_in_80_columns(
    tmp_path: Path,
) -> None:
    prepare(tmp_path, account("alice"))
    run(tmp_path, "quiz", "take", "c2", "q1", "-a", "one=a,two=x,z")
    run(tmp_path, "record", "assignment.submitted", "course=c2", "assignment=essay", "text=hi")
    now = time.time_ns() // 1_000_000
    scored = {"course": "c2", "quiz": "q1", "attempt": "old", "number": 1, "score": 0.5}
    scored |= {"passed": False, "counted": True, "at": now}
    old = {"course": "c2", "quiz": "q1", "attempt": "old"}
    facts = [("quiz.started", old), ("quiz.submitted", old)]  # from the learner's phone
    decisions = [
        ("quiz.scored", scored),
        ("enrollment.changed", {"path": "p1", "from": None, "to": "enrolled"}),
        ("milestone.unlocked", {"path": "p1", "milestone": "first"}),
    ]
    add_feed(
        tmp_path,
        "u-alice",
        *(entry(n, kind, body=body, at=now) for n, (kind, body) in enumerate(facts, 1)),
        *(
            entry(n, kind, origin="server", body=body, device_id=None, seq=None)
            for n, (kind, body) in enumerate(decisions, 3)
        ),
    )
    result = run(tmp_path, "status", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    quiz = next(line for line in lines if line.startswith("quiz: Quick check"))
    # The detail may wrap onto the next line at 80 columns.
    assert quiz.startswith("quiz: Quick check submitted best 50%, 1 attempt left, cool-down")
    assert "attempt #1 50%, not passed" in lines
    assert any(re.fullmatch(r"attempt [0-9a-f]{8} submitted, scored when online", x) for x in lines)
    assert "assignment: Essay submitted" in lines
    assert "Track enrolled 0%" in lines
    assert "First steps available" in lines
    assert "Checks locked" in lines
    assert "Reading skill not started level 0%" in lines
    assert lines[-1] == "done: 0/2 courses, 0/2 lessons, 0/1 quizzes, 0/1 assignments; 0 min spent"
