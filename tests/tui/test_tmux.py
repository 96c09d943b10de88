"""``waymark tui`` as a learner meets it: the real command in a real terminal (tmux, 80x24)
against a real server, driven only by the keys its footers show.

tmux is a program outside Python: without it this test is skipped and named at the end of
the run, and under ``CI`` it fails (``.ci/run`` installs tmux).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.api import Device
from tests.conftest import RunningServer, init_db, waymark
from tests.tui.conftest import CATALOG_YAML
from tests.tui.test_quiz import BURST, FOUR, answers

WIDTH, HEIGHT = 80, 24
_script = Path(sys.executable).with_name("waymark")
WAYMARK = [str(_script)] if _script.exists() else [sys.executable, "-m", "cli.main"]
"""The installed ``waymark`` command (as a learner runs it)."""
ENV = {"TERM": "xterm-256color", "COLORTERM": "truecolor", "LANG": "C.UTF-8"}
TIMEOUT = 90.0
"""Seconds a wait on the screen gives up after (the CPU may be saturated by others)."""


class Terminal:
    """One tmux session on a private socket, running one command."""

    def __init__(self, socket: Path, command: list[str], env: dict[str, str]) -> None:
        self.socket = socket
        # Its own configuration (nothing from the user's), and the pane stays when the
        # command ends, to see how it ended.
        self.config = socket.with_suffix(".conf")
        self.config.write_text("set -g remain-on-exit on\n")
        # The exit status, written by a shell around the command: tmux does not always
        # reap a pane's process at once, so it cannot be asked reliably. The shell traps
        # SIGINT (ctrl+c) so that it outlives the command; the command gets it as usual.
        self.status = socket.with_suffix(".status")
        self.status.unlink(missing_ok=True)
        settings = [f"-e{name}={value}" for name, value in env.items()]
        script = f'trap : INT; "$@"; echo $? > {self.status}'
        wrapped = ["sh", "-c", script, "sh", *command]
        self._tmux(
            "new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), *settings, "--", *wrapped
        )

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-f", str(self.config), "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p")

    def size(self) -> tuple[int, int]:
        width, height = self._tmux("display-message", "-p", "#{pane_width} #{pane_height}").split()
        return int(width), int(height)

    def wait_for_exit(self, timeout: float = TIMEOUT) -> int:
        """The command's exit status, once it has ended."""
        deadline = time.monotonic() + timeout
        while not (self.status.exists() and self.status.read_text().strip()):
            assert time.monotonic() < deadline, f"still running:\n{self.screen()}"
            time.sleep(0.05)
        return int(self.status.read_text())

    def press(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", key)

    def burst(self, *keys: str) -> None:
        """``keys`` in one write to the terminal, with no delay between them."""
        self._tmux("send-keys", *keys)

    def wait_for(self, *wanted: str, keys: tuple[str, ...] = (), timeout: float = TIMEOUT) -> str:
        """The screen once it shows every one of ``wanted``, and the footer (the last
        line) every one of ``keys``, in one capture. A terminal sends no event when it
        redraws, so this re-reads it, briefly, until it does or ``timeout`` (generous: on
        a busy machine a screen can take long to draw, and a redraw can be caught half
        done; a passing run never waits that long)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            last = text.rstrip("\n").splitlines()[-1] if text.strip() else ""
            missing = [w for w in wanted if w not in text] + [k for k in keys if k not in last]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {missing}:\n{text}")
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30
        )


async def login(home: Path, url: str) -> None:
    async with Device(home) as device:
        await device.login(url, "alice", "pw", "kiosk")


async def status_of(home: Path) -> dict[str, Any]:
    async with Device(home) as device:
        return await device.status("alice")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed; CI must run the terminal test")
        pytest.skip("tmux is not installed: waymark tui was not tried in a real terminal")
    opened: list[Terminal] = []

    def open_terminal(command: list[str], env: dict[str, str]) -> Terminal:
        # Socket paths are limited to about 100 bytes: keep it short and unique.
        socket = Path("/tmp") / f"waymark-tmux-{os.getpid()}-{len(opened)}-{tmp_path.name[:20]}"
        term = Terminal(socket, command, env)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()
        term.socket.unlink(missing_ok=True)
        term.config.unlink(missing_ok=True)
        term.status.unlink(missing_ok=True)


@pytest.fixture
def alice_home(tmp_path: Path, start_server: Callable[..., RunningServer]) -> Callable[[str], Path]:
    """A real server with the catalog given (YAML) and alice (password ``pw``) logged in
    on a device home, which it returns."""

    def make(catalog_yaml: str) -> Path:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(catalog_yaml)
        db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
        added = waymark("admin", "--db", db, "user", "add", "alice", "--password", "pw")
        assert added.returncode == 0, added.stderr
        server = start_server(db, catalog=catalog)
        home = tmp_path / "kiosk"
        asyncio.run(login(home, server.url))
        return home

    return make


def test_waymark_tui_in_tmux_reaches_every_view_by_its_footer_keys(
    alice_home: Callable[[str], Path], terminal: Callable[..., Terminal]
) -> None:
    home = alice_home(CATALOG_YAML)

    term = terminal([*WAYMARK, "tui", "--home", str(home)], ENV)
    assert term.size() == (WIDTH, HEIGHT)

    # The dashboard, online, with its keys in the footer.
    dashboard = ("⏎ Open", "a Achievements", "l Learners", "^q Quit")
    term.wait_for("Course / path", "Course One", "Path: Track", "● online", keys=dashboard)

    term.press("a")  # Achievements
    term.wait_for(
        "Waymark — Achievements", "Badges", "Leaderboard", "Time per day", keys=("esc Back",)
    )
    term.press("Escape")
    term.wait_for("Course / path")

    term.press("l")  # Learners: the sign-in and switch screen
    term.wait_for("Learners on this device", "alice", "Sign in", keys=("esc Back",))
    term.press("Escape")
    term.wait_for("Course / path")

    term.press("Enter")  # Course One: the tree
    term.wait_for(
        "Waymark — Course One", "Basics", "Reading", "Watching", keys=("space Fold/unfold",)
    )
    term.press("Down", "Enter")  # the lesson Reading
    term.wait_for("Reading well", keys=("c Mark complete",))
    term.press("c")
    term.wait_for("✓ completed")
    term.press("Escape")
    term.wait_for("✓ Reading")
    term.press("Escape")
    term.wait_for("Course / path", "▶ Continue: Watching", keys=("c Continue",))

    term.press("c")  # Continue where she left off: the next lesson
    term.wait_for("Waymark — Watching", keys=("space Play/pause",))
    term.press("Escape")
    term.wait_for("Course / path", "▶ Continue: Watching")

    term.press("Down", "Enter")  # Course Two: the cursor stayed on Course One
    term.wait_for("Waymark — Course Two", "Quick check", "Essay")
    term.press("Down", "Down", "Enter")  # its quiz
    term.wait_for("Quick check", "Attempts left", keys=("s Start attempt",))
    term.press("s")
    term.wait_for("question 1 of 2", "Which letter comes first?", keys=("n Next", "^s Submit"))
    term.press("Escape")  # leave the attempt unsent
    term.wait_for("Attempts left")
    term.press("Escape")
    term.wait_for("Waymark — Course Two")
    term.press("Down", "Enter")  # its assignment
    term.wait_for("Waymark — Essay", keys=("^s Save draft",))
    term.press("Escape", "Escape")
    term.wait_for("Course / path")

    term.press("Down", "Enter")  # the learning path
    term.wait_for("Waymark — Track", "First steps", keys=("e Enroll",))
    term.press("e")
    term.wait_for("Enrolled ")
    term.press("Escape")
    term.wait_for("Course / path")

    # What the learner did went through the journal to the server.
    term.wait_for("● online · 0 waiting")
    term.press("C-q")
    assert term.wait_for_exit() == 0
    status = asyncio.run(status_of(home))
    assert status["courses"][0]["modules"][0]["lessons"][0]["status"] == "completed"
    assert status["paths"][0]["status"] == "in_progress"


def test_waymark_demo_opens_the_app_on_embedded_defaults(
    terminal: Callable[..., Terminal],
) -> None:
    term = terminal([*WAYMARK, "demo"], ENV)
    term.wait_for("Both devices and the server show the same progress.", timeout=4 * TIMEOUT)
    term.wait_for("Press Enter to open it")
    term.press("Enter")
    # Maya on the kiosk, with what her laptop and phone did, synced from the demo server.
    term.wait_for("Waymark — maya", "Python Foundations", "◐ in progress", "● online", "Quiz whiz")
    term.press("C-q")
    term.wait_for("your turn", "The server keeps running", "waymark tui")
    term.press("C-c")
    assert term.wait_for_exit() == 0


def test_a_key_burst_opens_the_quiz_keeps_every_answer_and_the_score_arrives(
    alice_home: Callable[[str], Path], terminal: Callable[..., Terminal]
) -> None:
    home = alice_home(FOUR)

    term = terminal([*WAYMARK, "tui", "--home", str(home)], ENV)
    term.wait_for("Course / path", "● online", keys=("⏎ Open",))
    # In one write, with no delay: Course Two, then Checks > Intro > Quick check > Four
    # questions, an attempt, its four answers and submit. Each key after an Enter arrives
    # before the screen it is meant for has opened.
    opening = ["Down", "Enter", "Down", "Down", "Down", "Enter", "s"]
    tmux_keys = {"down": "Down", "space": "Space"}
    term.burst(*opening, *(tmux_keys.get(k, k) for k in BURST), "C-s")
    # Scored by the server while the screen is open: only all four answers make 100 %.
    term.wait_for("Waymark — Four questions", "Your attempt: #1 score 100%, passed")
    term.press("C-q")
    assert term.wait_for_exit() == 0
    assert asyncio.run(answers(home, user=_user_id(home))) == {
        "assign": ["b"],
        "loops": ["for", "while"],
        "range": ["three"],
        "def": ["def"],
    }


def _user_id(home: Path) -> str:
    async def read() -> str:
        async with Device(home) as device:
            return next(a.user_id for a in await device.accounts() if a.username == "alice")

    return asyncio.run(read())
