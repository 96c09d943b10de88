"""``waymark serve`` that cannot open its database exits at once, non-zero, with one line
(the real command, on real files and a real port nobody listens on)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import waymark
from tests.integration.test_spine import add_users, free_port


def refused(*args: str) -> str:
    """Run ``waymark serve ARGS`` (port 0); it must fail with one line: that line."""
    done = waymark("serve", "--port", "0", *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "listening" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    line = refused("--db", f"sqlite:///{path}")
    assert line == (
        f"Error: cannot open SQLite database {path}: it is not a SQLite database, or it is damaged"
    )


def test_a_truncated_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    add_users(db, "ann")
    data = (tmp_path / "server.db").read_bytes()
    (tmp_path / "server.db").write_bytes(data[:50])  # less than a header
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"server.db{suffix}").unlink(missing_ok=True)
    line = refused("--db", db)
    assert line.startswith(f"Error: cannot open SQLite database {tmp_path / 'server.db'}: ")


def test_a_mistyped_folder_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "server.db"
    line = refused("--db", f"sqlite:///{path}")
    assert "there is no folder" in line and str(path.parent) in line
    assert not path.parent.exists()


def test_a_missing_file_is_not_created_by_serve_or_admin_only_by_admin_init(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sever.db"  # mistyped: a new empty database would serve nobody
    db = f"sqlite:///{path}"
    hint = (
        f"Error: there is no SQLite database {path}: create it with 'waymark admin init --db {db}'"
    )
    assert refused("--db", db).startswith(hint)
    added = waymark("admin", "--db", db, "user", "add", "ann", "--password", "pw")
    assert added.returncode == 1 and added.stderr.startswith(hint), added.stderr
    assert not path.exists()
    made = waymark("admin", "--db", db, "init")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"created SQLite database {path}; schema at version ")
    again = waymark("admin", "--db", db, "init")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    added = waymark("admin", "--db", db, "user", "add", "ann", "--password", "pw")
    assert added.returncode == 0, added.stderr
    migrated = waymark("admin", "--db", db, "migrate")
    assert migrated.returncode == 0 and "nothing to apply" in migrated.stdout


def test_an_unreachable_postgresql() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    line = refused("--db", url)
    assert line.startswith("Error: ") and "PostgreSQL" in line, line


def test_waiting_for_the_database_says_so_once_then_gives_up(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    done = waymark("serve", "--port", "0", "--db", url, "--wait-for-db", "1.5")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("waiting up to 1.5 s for the database: ")
    assert lines[1].startswith("Error: ") and "PostgreSQL" in lines[1]
