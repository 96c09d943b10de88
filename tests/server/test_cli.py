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
