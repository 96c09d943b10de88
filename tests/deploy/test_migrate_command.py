"""``waymark admin migrate``, the deployment's migration step (Dockerfile, compose's
``migrate`` service, the Kubernetes Job), and ``waymark admin init``, which also creates
a missing SQLite file, run as the real command line on both engines."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import server.storage
from tests.conftest import init_db, waymark

MIGRATIONS = Path(server.storage.__file__).parent / "migrations"


def _numbers() -> list[int]:
    """Every migration the package ships, by the number in its file name."""
    found = {
        int(m.group(1)) for p in MIGRATIONS.rglob("*.sql") if (m := re.match(r"(\d+)_", p.name))
    }
    return sorted(found)


def test_migrate_applies_every_migration_once_then_reports_up_to_date(db_url: str) -> None:
    numbers = _numbers()
    first = waymark("admin", "--db", init_db(db_url), "migrate")
    assert first.returncode == 0, first.stdout + first.stderr
    listed = ", ".join(str(n) for n in numbers)
    assert first.stdout.strip() == f"applied migrations {listed}; schema at version {numbers[-1]}"

    again = waymark("admin", "migrate", env={"WAYMARK_DATABASE_URL": db_url})
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == (f"schema up to date at version {numbers[-1]}; nothing to apply")


def test_init_leaves_a_fresh_sqlite_file_with_every_version_recorded(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    result = waymark("admin", "--db", f"sqlite:///{path}", "init")
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == _numbers()


def test_migrate_on_a_damaged_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"this is not a database" * 100)
    result = waymark("admin", "--db", f"sqlite:///{path}", "migrate")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
