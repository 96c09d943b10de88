"""The composite commands through the real command line: ``demo --script`` (``bench``:
test_bench.py), and one-line usage errors."""

from __future__ import annotations

import pytest

from tests.conftest import init_db, waymark


def test_demo_script_plays_the_two_device_story_and_exits_zero() -> None:
    result = waymark("demo", "--script")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "waiting to sync" in out and "phone ← maya: lesson.completed" in out
    assert "submitted, scored when online" in out
    assert "the server scored attempt #1: 100%, passed" in out
    assert "milestones foundations in_progress, data-literacy locked" in " ".join(out.split())
    assert "Both devices and the server show the same progress" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("serve", "--port", "99999"), "99999"),
        (
            ("admin", "--db", "mysql://x", "user", "add", "a", "--password", "p"),
            "unsupported database URL",
        ),
        (("admin", "catalog", "load", "/nonexistent.yaml"), "No such file"),
        (("admin", "user", "add", "x", "--password", "p", "--role", "king"), "king"),
        (("serve", "--port", "abc"), "'abc' is not a valid integer"),
        (("admin", "verify", "--bogus"), "No such option '--bogus'"),
        (("admin", "outbox", "tail", "-n", "0"), "0 is not in the range"),
        (("admin", "nosuch"), "No such command 'nosuch'"),
        (("serve", "--stale-device-days", "0"), "0 is not in the range"),
    ],
)
def test_bad_command_line_arguments_get_one_line_and_no_traceback(
    args: tuple[str, ...], needle: str
) -> None:
    result = waymark(*args)
    assert result.returncode != 0
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_malformed_catalog_is_refused_whole_with_its_location(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "courses:\n  - id: c1\n    modules:\n      - id: m1\n        lessons:\n"
        "          - {id: l1, completion: 'watched:150', duration: 10}\n"
    )
    db = init_db(f"sqlite:///{tmp_path / 's.db'}")
    result = waymark("admin", "--db", db, "catalog", "load", str(bad))
    assert result.returncode == 1
    assert "$.courses[0].modules[0].lessons[0]" in result.stderr and "watched" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
