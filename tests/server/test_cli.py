"""``waymark admin``'s own options (``--db``, ``--config``) before or after the subcommand,
and ``admin devices --json``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from server.cli import hoist
from server.storage.store import Store


def admin(*args: str) -> Result:
    return CliRunner().invoke(main, ["admin", *args], prog_name="waymark")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["user", "add", "bob", "--db", "X"], ["--db", "X", "user", "add", "bob"]),
        (["devices", "--db=X", "bob"], ["--db=X", "devices", "bob"]),
        (["--db", "X", "devices", "bob"], ["--db", "X", "devices", "bob"]),
        (["devices", "bob", "--", "--db", "X"], ["devices", "bob", "--", "--db", "X"]),
        (["devices", "--db"], ["--db", "devices"]),
    ],
)
def test_hoist_moves_the_groups_options_to_the_front(args: list[str], expected: list[str]) -> None:
    assert hoist(args, {"--db"}) == expected


def test_admin_db_before_or_after_the_subcommand(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert admin("init", "--db", db).exit_code == 0
    added = admin("user", "add", "bob", "--password", "pw", "--db", db)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("user bob (learner, UTC) id ")
    for args in (["--db", db, "devices", "bob"], ["devices", "bob", "--db", db]):
        result = admin(*args, "--json")
        assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_admin_devices_json_lists_each_device(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    assert admin("init", "--db", f"sqlite:///{path}").exit_code == 0

    async def setup() -> str:
        store = Store.for_url(str(path))
        await store.open()
        user = await store.create_user("ann", "pw")
        device, _ = await store.register_device(user.id, "laptop")
        await store.close()
        return device.id

    device_id = asyncio.run(setup())
    result = admin("devices", "ann", "--json", "--db", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    assert (found["id"], found["name"], found["revoked_at"]) == (device_id, "laptop", None)
    assert "token" not in json.dumps(found)
    plain = admin("devices", "ann", "--db", f"sqlite:///{path}")
    assert plain.stdout == f"{device_id}  'laptop'  active  acked_seq=0\n"

    async def said_hello() -> None:
        store = Store.for_url(str(path))
        await store.open()
        found = await store.device_by_id(device_id)
        assert found is not None
        await store.device_heard(found, None, recorded=3)  # holds 3 it has not pushed
        await store.close()

    asyncio.run(said_hello())
    plain = admin("devices", "ann", "--db", f"sqlite:///{path}")
    assert plain.stdout == f"{device_id}  'laptop'  active  acked_seq=0  pending=3\n"
    [found] = json.loads(admin("devices", "ann", "--json", "--db", f"sqlite:///{path}").stdout)
    assert found["reported_seq"] == 3 and found["reported_at"] is not None


def test_admin_group_list_json(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert admin("init", "--db", db).exit_code == 0
    assert admin("user", "add", "ann", "--password", "pw", "--db", db).exit_code == 0
    assert admin("group", "add", "cohort", "--db", db).exit_code == 0
    assert admin("group", "members", "cohort", "--add", "ann", "--db", db).exit_code == 0
    result = admin("group", "list", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    [group] = json.loads(result.stdout)
    assert (group["name"], group["members"], group["created_by"]) == ("cohort", ["ann"], "admin")


def test_admin_group_teachers_and_due_date(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert admin("init", "--db", db).exit_code == 0
    for name, role in [("ann", "learner"), ("ivy", "instructor"), ("ian", "instructor")]:
        added = admin("user", "add", name, "--password", "pw", "--role", role, "--db", db)
        assert added.exit_code == 0, added.output
    assert admin("group", "add", "cohort", "--by", "ivy", "--db", db).exit_code == 0
    added = admin("group", "teacher", "add", "cohort", "ian", "--db", db)
    assert added.exit_code == 0, added.output
    assert added.stdout == "group cohort: created by ivy, teachers: ian\n"
    learner = admin("group", "teacher", "add", "cohort", "ann", "--db", db)
    assert (learner.exit_code, learner.output) == (
        1,
        "Error: ann is not an instructor (role learner)\n",
    )
    nobody = admin("group", "teacher", "add", "nope", "ian", "--db", db)
    assert (nobody.exit_code, nobody.output) == (1, "Error: no group 'nope'\n")
    removed = admin("group", "teacher", "remove", "cohort", "ian", "--db", db)
    assert removed.stdout == "group cohort: created by ivy, teachers: none\n"

    due = admin("group", "due", "cohort", "2026-06-30", "--db", db)
    assert due.stdout == "group cohort: due 2026-06-30\n"
    listed = admin("group", "list", "--json", "--db", db)
    assert json.loads(listed.stdout)[0]["due"] == "2026-06-30"
    bad = admin("group", "due", "cohort", "2026-02-30", "--db", db)
    assert bad.exit_code == 2 and "'2026-02-30' is not a date YYYY-MM-DD" in bad.output
    neither = admin("group", "due", "cohort", "--db", db)
    assert (neither.exit_code, neither.output) == (
        2,
        "Error: give either DUE (YYYY-MM-DD) or --clear\n",
    )
    both = admin("group", "due", "cohort", "2026-06-30", "--clear", "--db", db)
    assert both.exit_code == 2
    cleared = admin("group", "due", "cohort", "--clear", "--db", db)
    assert cleared.stdout == "group cohort: due none\n"
