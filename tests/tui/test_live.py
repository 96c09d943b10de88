"""The app against a real ``waymark serve``: offline progress syncs once the server is up,
and progress from the learner's other device appears on screen."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from textual.pilot import Pilot

from client.api import Device, _http
from client.connection import Backoff
from tests.conftest import RunningServer, init_db, waymark
from tests.tui.conftest import CATALOG_YAML, T0, press, screen_text, seed, settle, started
from tui.app import WaymarkApp
from tui.messages import Open
from tui.present import AssignmentRef

FAST = Backoff(base=0.05, cap=0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_user(db: str, name: str) -> None:
    init_db(db)
    result = waymark("admin", "--db", db, "user", "add", name, "--password", "pw")
    assert result.returncode == 0, result.stderr


async def wait_for(pilot: Pilot[Any], *wanted: str, timeout: float = 60) -> str:
    """Re-read the status until the screen shows every one of ``wanted``."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    text = ""
    try:
        async with asyncio.timeout(timeout):
            while True:
                app.request_status()
                await settle(pilot)
                text = screen_text(pilot)
                if all(w in text for w in wanted):
                    return text
                await pilot.pause(0.05)  # let the follower talk to the server
    except TimeoutError:
        raise AssertionError(f"the screen never showed {wanted}; it shows:\n{text}") from None


async def login(home: Path, url: str, name: str) -> None:
    async with Device(home) as device:
        await device.login(url, name, "pw", home.name)


async def test_offline_progress_syncs_when_the_server_comes_up(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_user(db, "alice")
    port = free_port()
    server = await asyncio.to_thread(start_server, db, port=port)
    await login(tmp_path / "kiosk", server.url, "alice")
    assert server.stop() == 0
    app = WaymarkApp(Device(tmp_path / "kiosk"), backoff=FAST, status_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await press(pilot, "enter", "down", "enter", "c")  # Course One > Reading: complete
        text = await wait_for(pilot, "○ offline", "✓ completed", " waiting")
        # The open, the completion, and on a slow machine heartbeats of time spent.
        waiting = re.search(r"(\d+) waiting", text)
        assert waiting is not None and int(waiting.group(1)) >= 2, text
        await asyncio.to_thread(start_server, db, port=port)
        text = await wait_for(pilot, "● online · 0 waiting · synced ")
        assert "synced never" not in text


async def test_progress_from_another_device_appears(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_user(db, "alice")
    server = await asyncio.to_thread(start_server, db)
    await login(tmp_path / "kiosk", server.url, "alice")
    app = WaymarkApp(Device(tmp_path / "kiosk"), backoff=FAST, status_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")  # Course One
        await wait_for(pilot, "● online", "○ Reading  0%")
        async with Device(tmp_path / "phone") as phone:
            await phone.login(server.url, "alice", "pw", "phone")
            await phone.record("lesson.completed", {"course": "c1", "lesson": "read"})
            await phone.sync_once()
        # Live, with no sync asked for (how fast: ``waymark bench --scenario live``).
        await wait_for(pilot, "✓ Reading  100%")


async def test_every_action_works_while_the_server_never_answers(tmp_path: Path) -> None:
    """A server that accepts connections and then says nothing (the worst network): the
    app shows and records every action at once; only the sync and the leaderboard wait."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hanging = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = hanging.sockets[0].getsockname()[1]
    home = tmp_path / "kiosk"
    await seed(home, "alice", server_url=f"http://127.0.0.1:{port}")
    # A clock that stands still: time spent on a screen (a lesson.progressed on leaving it)
    # must not depend on how fast this machine runs the test.
    device = Device(home, clock=lambda: T0)
    app = WaymarkApp(device, backoff=FAST, status_seconds=None, tick_seconds=None)
    try:
        async with asyncio.timeout(180), app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await press(pilot, "enter", "down", "enter", "c")  # Course One > Reading: complete
            assert "✓ completed" in screen_text(pilot)
            await press(pilot, "escape", "escape", "down", "enter")  # Course Two
            await press(pilot, "down", "down", "enter", "s", "space", "n", "space", "ctrl+s")
            assert "Your attempt: submitted, scored when online" in screen_text(pilot)
            await press(pilot, "escape", "escape", "down", "enter", "e")  # the path: enroll
            assert "Enrollment requested" in screen_text(pilot)
            await press(pilot, "escape", "a")
            text = screen_text(pilot)
            assert "Waymark — Achievements" in text and "Time per day" in text
            await pilot.press("escape")
            await settle(pilot)
            assert "Course / path" in screen_text(pilot)
            app.request_status()
            await settle(pilot)
            assert "waiting · synced never" in screen_text(pilot)
            assert held, "the app did try the server"
    finally:
        hanging.close()
        for writer in held:
            writer.close()
    async with Device(home) as device:
        recorded = [e.type for e in await device.journal.pending("d-alice", 0, 100)]
    assert recorded == [
        "lesson.opened",
        "lesson.completed",
        "quiz.started",
        "quiz.answered",
        "quiz.answered",
        "quiz.submitted",
        "path.enrolled",
    ]


async def test_an_instructors_grade_reaches_the_open_assignment_screen(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """Graded over HTTP while the learner's app is online: the follower hears the decision
    and the open screen shows it, with no other sync."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_YAML)
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_user(db, "alice")
    made = waymark(
        "admin", "--db", db, "user", "add", "ines", "--password", "pw", "--role", "instructor"
    )
    assert made.returncode == 0, made.stderr
    server = await asyncio.to_thread(start_server, db, catalog=catalog)
    await login(tmp_path / "kiosk", server.url, "alice")
    app = WaymarkApp(Device(tmp_path / "kiosk"), backoff=FAST, status_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        app.post_message(Open(AssignmentRef("c2", "essay")))
        await wait_for(pilot, "● online", "Waymark — Essay")
        await pilot.press(*"My essay", "f5", "y")
        await wait_for(pilot, "1 submitted", "0 waiting")
        status, data = await _http(
            f"{server.url}/v1/auth/login",
            {"username": "ines", "password": "pw", "device_name": "desk"},
        )
        assert status in (200, 201), data
        token = msgspec.json.decode(data)["token"]
        status, data = await _http(
            f"{server.url}/v1/users/alice/assignments/c2/essay/grade",
            {"score": 80, "feedback": "Good."},
            token=token,
        )
        assert status == 201, data
        await wait_for(pilot, "score 80/100, passed", "Feedback: Good.")
