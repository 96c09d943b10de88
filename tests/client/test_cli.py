"""The device commands: arguments, one-line errors, and output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from client.cli import COMMANDS, parse_fields
from client.journal import Account, Journal
from tests.client.conftest import CATALOG, account
from tests.client.fake_server import FakeServer
from tests.client.test_connection import free_port

waymark = click.Group("waymark", commands=COMMANDS)


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(waymark, [*args], env={"WAYMARK_HOME": str(home)})


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


@pytest.mark.parametrize("args", [["status"], ["sync"], ["record", "x.y"]])
def test_commands_before_any_login_say_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    assert "no learner is logged in" in one_line_error(run(tmp_path, *args))


def test_an_event_the_catalog_rejects_prints_one_line(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", "lesson.opened", "course=c1", "lesson=zz")
    assert one_line_error(result) == "Error: no lesson 'zz' in course 'c1'"


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


def test_an_unknown_event_type_is_kept_with_a_note(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"))
    result = run(tmp_path, "record", "quiz.submitted", "quiz=q1")
    assert result.exit_code == 0 and result.stdout == "recorded quiz.submitted #1\n"
    assert "does not know 'quiz.submitted'" in result.stderr


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
    assert "cannot reach ws://127.0.0.1" in one_line_error(run(tmp_path, "sync", "--once"))


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
    assert "revoked by an admin; log in again" in one_line_error(result)


async def test_sync_of_a_partly_refused_kiosk_names_who_failed(
    tmp_path: Path, server: FakeServer
) -> None:
    bob = server.add("bob")
    server.revoke(bob)
    await asyncio.to_thread(prepare, tmp_path, server.add("alice"), bob)
    result = await asyncio.to_thread(run, tmp_path, "sync")
    assert one_line_error(result) == "Error: not synced: bob (device_revoked: revoked by an admin)"
