"""Settings through the real command line and a real server: ``waymark config show``
(values, sources, masking), a bad setting is one line and exit 2 before anything starts,
and a running server enforces the configured enrollment limit and hands devices the
catalog with the configured quiz defaults."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT, RunningServer, init_db, waymark
from tests.integration.test_spine import add_users
from tests.integration.wire import http, login

REST_CATALOG = ROOT / "tests" / "fixtures" / "learning_rest.yaml"


def test_config_show_lists_every_value_with_its_source_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "waymark.toml"
    config.write_text('port = 9000\nfree_enrollment_limit = "unlimited"\nlog_level = "debug"\n')
    env = {
        "WAYMARK_CONFIG": str(config),
        "WAYMARK_LOG_LEVEL": "warning",
        "WAYMARK_METRICS_TOKEN": "sekrit-token",
        "WAYMARK_DATABASE_URL": "postgresql://waymark:hunter2@db.internal/waymark",
    }
    done = waymark("config", "show", "--json", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["port"] == {"value": 9000, "source": f"file {config}", "env": "WAYMARK_PORT"}
    assert shown["free_enrollment_limit"]["value"] is None
    assert shown["log_level"] == {
        "value": "warning",
        "source": "env WAYMARK_LOG_LEVEL",
        "env": "WAYMARK_LOG_LEVEL",
    }
    assert shown["host"] == {"value": "127.0.0.1", "source": "default", "env": "WAYMARK_HOST"}
    assert shown["metrics_token"]["value"] == "****"
    assert shown["database_url"]["value"] == "postgresql://waymark:****@db.internal/waymark"
    assert "sekrit" not in done.stdout and "hunter2" not in done.stdout

    text = waymark("config", "show", "--config", str(config), env={"WAYMARK_CONFIG": ""})
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines()}
    assert lines["port"].split()[1:] == ["9000", "file", str(config)]
    assert lines["free_enrollment_limit"].split()[1] == "unlimited"
    assert "not yet used" in lines["progress_notifications_enabled"]  # said, not pretended
    assert "not yet used" not in lines["token_lifetime_days"]


def one_line(done: object) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)  # type: ignore[attr-defined]
    lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return str(lines[0])


def test_a_bad_setting_is_one_line_and_exit_2_for_every_command(tmp_path: Path) -> None:
    bad_env = {"WAYMARK_PORT": "abc"}
    expected = "Error: WAYMARK_PORT: expected an integer from 0 to 65535, got 'abc'"
    assert one_line(waymark("config", "show", env=bad_env)) == expected
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert one_line(waymark("serve", "--db", db, env=bad_env)) == expected
    assert one_line(
        waymark("admin", "--db", db, "user", "add", "x", "--password", "p", env=bad_env)
    )
    assert not (tmp_path / "s.db").exists()  # refused before anything was opened

    config = tmp_path / "w.toml"
    config.write_text("prot = 8000\n")
    line = one_line(waymark("serve", "--db", db, "--config", str(config)))
    assert line == f"Error: {config}: unknown setting 'prot' (see 'waymark config show')"
    # The option wins over the variable, so a good option hides nothing bad: still checked.
    line = one_line(waymark("serve", "--port", "0", env={"WAYMARK_FREE_ENROLLMENT_LIMIT": "-1"}))
    assert line.startswith("Error: WAYMARK_FREE_ENROLLMENT_LIMIT: expected an integer from 0")


def test_a_server_enforces_the_configured_limits_and_ships_the_resolved_catalog(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    config = tmp_path / "waymark.toml"
    config.write_text(
        "free_enrollment_limit = 1\n"
        "free_assessment_attempt_limit = 4\n"
        "premium_assessment_attempt_limit = 7\n"
        "assessment_cooldown_hours = 0.5\n"
        "assessment_passing_score = 80\n"
    )
    server = start_server(db, catalog=REST_CATALOG, extra=("--config", str(config)))
    token = login(server.url, "ann")["token"]
    status, _ = http("POST", f"{server.url}/v1/me/enrollments/track", token=token)
    assert status == 201
    status, body = http("POST", f"{server.url}/v1/me/enrollments/p2", token=token)
    assert status == 409 and "limit" in json.dumps(body), body

    status, body = http("GET", f"{server.url}/v1/catalog", token=token)
    assert status == 200
    quizzes = {
        q["id"]: q
        for c in body["catalog"]["courses"]
        for m in c["modules"]
        for q in m.get("quizzes", [])
    }
    # q1 sets passing_score, max_attempts and cooldown_seconds; q2 max_attempts_free and
    # cooldown_seconds: what a quiz sets wins, what it leaves out is the setting's.
    q1, q2 = quizzes["q1"], quizzes["q2"]
    assert (q1["passing_score"], q1["max_attempts"], q1["cooldown_seconds"]) == (0.5, 2, 3600)
    assert q1["max_attempts_free"] == 4
    assert (q2["max_attempts_free"], q2.get("cooldown_seconds", 0)) == (1, 0)
    assert (q2["passing_score"], q2["max_attempts"]) == (0.8, 7)


def test_admin_catalog_load_takes_the_same_quiz_defaults(tmp_path: Path) -> None:
    db_file = tmp_path / "server.db"
    env = {"WAYMARK_ASSESSMENT_PASSING_SCORE": "90", "WAYMARK_FREE_ASSESSMENT_ATTEMPT_LIMIT": "5"}
    done = waymark(
        "admin",
        "--db",
        init_db(f"sqlite:///{db_file}"),
        "catalog",
        "load",
        str(REST_CATALOG),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_file) as conn:
        (body,) = conn.execute("SELECT body FROM catalog WHERE id = 1").fetchone()
    quizzes = {
        q["id"]: q
        for c in json.loads(body)["courses"]
        for m in c["modules"]
        for q in m.get("quizzes", [])
    }
    assert (quizzes["q1"]["passing_score"], quizzes["q1"]["max_attempts_free"]) == (0.5, 5)
    assert (quizzes["q2"]["passing_score"], quizzes["q2"]["max_attempts_free"]) == (0.9, 1)
