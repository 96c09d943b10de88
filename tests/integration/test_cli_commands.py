"""The device commands against a real server (``waymark serve``) and the demo's server:
the server-down line and exit status, ``demo --port``, and the demo's commands run as
printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.client.test_connection import free_port
from tests.conftest import ROOT, RunningServer, launch_server, waymark

SCRIPT = Path(sys.executable).parent / "waymark"


def test_server_down_is_one_friendly_line_exit_3_and_the_events_are_kept(tmp_path: Path) -> None:
    server: RunningServer = launch_server(f"sqlite:///{tmp_path / 's.db'}")
    home = {"WAYMARK_HOME": str(tmp_path / "home")}
    try:
        waymark("admin", "user", "add", "ann", "--password", "pw", "--db", server.db)
        login = waymark("login", server.url, "ann", "--password", "pw", env=home)
        assert login.returncode == 0, login.stderr
        recorded = waymark("record", "lesson.opened", "course=c1", "lesson=read", env=home)
        assert recorded.returncode == 0, recorded.stderr
    finally:
        server.stop()
    down = waymark("sync", env=home)
    assert (down.returncode, down.stdout) == (3, "")
    assert down.stderr == (
        f"Error: cannot reach the server at {server.url}: connection refused; "
        "your events are kept and will sync later\n"
    )
    status = json.loads(waymark("status", "--json", env=home).stdout)
    assert status["pending"] == 1
    board = waymark("leaderboard", env=home)
    assert board.returncode == 3 and "Errno" not in board.stderr


def test_demo_script_on_a_chosen_port_keeps_request_logs_out_of_the_story() -> None:
    port = free_port()
    result = waymark("demo", "--script", "--port", str(port))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Waymark demo server at http://127.0.0.1:{port}" in result.stdout
    both = result.stdout + result.stderr
    assert "waymark.http" not in both and "INFO" not in both


def test_the_commands_the_demo_prints_run_as_printed(tmp_path: Path) -> None:
    """The demo's "your turn" lines, pasted into a shell without the venv on PATH."""
    port = free_port()
    entry = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "cli.main"]
    demo = subprocess.Popen(
        [*entry, "demo", "--no-tui", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        # As after the quick start: the venv is not on PATH (tests/check.sh puts it there).
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        for line in demo.stdout:  # blocks until the demo speaks; EOF if it died
            lines.append(line.rstrip("\n"))
            if "Press Ctrl-C to stop." in line:
                break
        else:
            raise AssertionError("\n".join(lines))
        home = next(x for x in lines if x.strip().startswith("export WAYMARK_HOME="))
        env = {
            "PATH": "/usr/bin:/bin",  # the venv is not activated
            "WAYMARK_HOME": shlex.split(home.strip().removeprefix("export WAYMARK_HOME="))[0],
        }
        dashboard = f"open http://127.0.0.1:{port}/dashboard in a browser and sign in as iris"
        assert any(dashboard in x and "iris-demo" in x for x in lines), lines
        login = next(x for x in lines if " login http://" in x)
        assert f"login http://127.0.0.1:{port} leo --password leo-demo" in login
        ran = subprocess.run(
            shlex.split(login), env=env, capture_output=True, text=True, timeout=120, cwd="/"
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith("logged in as leo")
        record = next(x for x in lines if " record lesson.opened" in x)
        ran = subprocess.run(
            shlex.split(record), env=env, capture_output=True, text=True, timeout=120, cwd="/"
        )
        assert (ran.returncode, ran.stderr) == (0, ""), ran.stderr
        first = shlex.split(login)[0]
        assert first == "waymark" or Path(first).is_absolute(), login
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
    assert not re.search(r"\bINFO\b", "\n".join(lines) + rest)
