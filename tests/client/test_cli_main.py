"""The whole ``waymark`` group (``cli/main.py``) run in-process: lazy loading, global
options, exit statuses, and the device commands that only read the journal."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from cli.main import LAZY, main
from tests.client.conftest import CATALOG, T0, account
from tests.client.test_cli import one_line_error, prepare
from tests.client.test_connection import free_port

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("litestar", "textual", "asyncpg", "uvicorn", "server")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [*args], env=env, prog_name="waymark")


def test_client_commands_import_neither_litestar_nor_textual_nor_asyncpg(tmp_path: Path) -> None:
    """A fresh interpreter runs the device commands in-process, then reports what loaded."""
    prepare(tmp_path, account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    script = textwrap.dedent(
        f"""
        import json, sys
        from click.testing import CliRunner
        from cli.main import main
        home = {str(tmp_path)!r}
        commands = [
            ["--version"],
            ["record", "lesson.opened", "course=c1", "lesson=read"],
            ["record", "lesson.finished"],
            ["status"], ["status", "--json"], ["whoami"], ["learners"], ["courses"],
            ["sync"], ["quiz", "take", "c2", "q1", "-a", "one=a"], ["achievements"],
            ["leaderboard"], ["logout", "--force"],
            ["login", "http://127.0.0.1:9", "bob", "--password", "pw"],
        ]
        codes = [CliRunner().invoke(main, ["--home", home, *c]).exit_code for c in commands]
        heavy = sorted(m for m in sys.modules if m.partition(".")[0] in {HEAVY!r})
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    # ran for real: ok, bad input, ok..., unreachable (3) where the server is needed
    assert found["codes"] == [0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 3, 0, 3]
    assert found["heavy"] == []


def test_every_lazy_command_loads_and_is_listed_in_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    assert listed == set(LAZY)
    assert "3 server unreachable" in " ".join(result.stdout.split())


def test_an_unknown_command_is_one_line_and_exit_2() -> None:
    result = run("recrod")
    assert one_line_error(result) == (
        "Error: No such command 'recrod'. Did you mean 'record'? (see 'waymark --help')"
    )
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--home", "{home}", "whoami", "--json"],
        ["whoami", "--home", "{home}", "--json"],
        ["whoami", "--json"],  # WAYMARK_HOME
    ],
)
def test_home_is_global_before_or_after_the_command(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "here"
    prepare(home, account("alice"))
    env = {"WAYMARK_HOME": str(home)} if "--home" not in args else {}
    result = run(*(a.format(home=home) for a in args), env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["user"] == "alice"


def test_home_on_the_command_line_wins_over_the_variable(tmp_path: Path) -> None:
    prepare(tmp_path / "a", account("alice"))
    prepare(tmp_path / "b", account("bob"))
    env = {"WAYMARK_HOME": str(tmp_path / "a")}
    before = run("--home", str(tmp_path / "b"), "whoami", "--json", env=env)
    assert json.loads(before.stdout)["user"] == "bob"
    after = run("--home", str(tmp_path / "a"), "whoami", "--json", "--home", str(tmp_path / "b"))
    assert json.loads(after.stdout)["user"] == "bob"  # the command's own wins


def test_whoami_and_learners(tmp_path: Path) -> None:
    prepare(
        tmp_path,
        account("alice", timezone="Europe/Berlin", is_default=True, synced_at=T0),
        account("bob"),
    )
    me = run("--home", str(tmp_path), "whoami")
    when = datetime.fromtimestamp(T0 / 1000, ZoneInfo("Europe/Berlin")).strftime(
        "%Y-%m-%d %H:%M %Z"
    )
    assert me.stdout == (
        "alice on http://server.test (device d-alice, learner, plan free, zone Europe/Berlin); "
        f"0 pending, last sync {when}\n"
    )
    listed = run("--home", str(tmp_path), "learners")
    assert listed.stdout.splitlines() == [
        f"* alice  http://server.test  0 pending, last sync {when}",
        "  bob  http://server.test  0 pending, last sync never",
    ]
    as_json = json.loads(run("--home", str(tmp_path), "learners", "--json").stdout)
    assert [(x["user"], x["default"], x["device_id"]) for x in as_json] == [
        ("alice", True, "d-alice"),
        ("bob", False, "d-bob"),
    ]


def test_learners_on_a_fresh_device_says_how_to_log_in(tmp_path: Path) -> None:
    result = run("--home", str(tmp_path), "learners")
    assert (result.exit_code, result.stdout) == (
        0,
        "no learner is logged in on this device: run 'waymark login'\n",
    )
    assert json.loads(run("--home", str(tmp_path), "learners", "--json").stdout) == []


def test_courses_lists_every_id_record_takes_offline(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    result = run("--home", str(tmp_path), "courses")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "course c1  Course One",
        "  module m1  Basics",
        "    lesson read  Reading",
        "    lesson video",
        "course c2  Course Two",
        "  module m2  Checks",
        "    quiz q1  Quick check",
        "    assignment essay  Essay",
        "path p1  Track",
        "  milestone first  First steps (course c1)",
        "  milestone second  Checks (course c2)",
    ]
    found = json.loads(run("--home", str(tmp_path), "courses", "--json").stdout)
    assert found["version"] == CATALOG.version
    lessons = [lesson["id"] for lesson in found["courses"][0]["modules"][0]["lessons"]]
    assert lessons == ["read", "video"]
    assert [m["id"] for m in found["paths"][0]["milestones"]] == ["first", "second"]


def test_courses_without_a_catalog_says_to_sync(tmp_path: Path) -> None:
    prepare(tmp_path, account("alice"), catalog=False)
    result = run("--home", str(tmp_path), "courses")
    assert "no catalog of http://server.test on this device yet" in one_line_error(result)
    assert result.exit_code == 1


def test_status_shows_times_in_the_learners_zone(tmp_path: Path) -> None:
    synced = int(datetime(2026, 7, 1, 22, 30, tzinfo=UTC).timestamp() * 1000)
    prepare(tmp_path, account("alice", timezone="Asia/Tokyo", synced_at=synced))
    result = run("--home", str(tmp_path), "status")
    assert result.stdout.splitlines()[0] == (
        "alice: 0 pending, last sync 2026-07-02 07:30 JST"  # UTC would be 07-01 22:30
    )
    assert json.loads(run("--home", str(tmp_path), "status", "--json").stdout)["timezone"] == (
        "Asia/Tokyo"
    )


def test_tui_refuses_without_a_terminal(tmp_path: Path) -> None:
    result = run("--home", str(tmp_path), "tui")  # CliRunner's streams are not terminals
    assert one_line_error(result).startswith("Error: waymark tui needs a terminal")
    assert result.exit_code == 2
    assert "textual" not in result.stderr and "\x1b" not in result.output


def test_bash_completion_script_is_generated() -> None:
    """docs/cli.md: eval "$(_WAYMARK_COMPLETE=bash_source waymark)"."""
    result = CliRunner().invoke(
        main, [], prog_name="waymark", env={"_WAYMARK_COMPLETE": "bash_source"}
    )
    assert result.exit_code == 0
    assert "_waymark_completion()" in result.stdout and "complete -o nosort" in result.stdout


def test_completion_offers_commands_and_event_types() -> None:
    env = {"_WAYMARK_COMPLETE": "bash_complete", "COMP_WORDS": "waymark rec", "COMP_CWORD": "1"}
    result = CliRunner().invoke(main, [], prog_name="waymark", env=env)
    assert result.stdout.split() == ["plain,record"]
    env |= {"COMP_WORDS": "waymark record lesson.c", "COMP_CWORD": "2"}
    result = CliRunner().invoke(main, [], prog_name="waymark", env=env)
    assert result.stdout.split() == ["plain,lesson.completed"]
