"""Each screen's look at 80x24, pinned by pytest-textual-snapshot (``__snapshots__``).

Update after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import TextArea

from client.api import Device
from client.errors import ServerUnreachable
from tests.tui.conftest import BOARD, Clock, arrive, awards, feed, fetched, seed, settle, started
from tui.app import WaymarkApp

SIZE = (80, 24)


async def progress(home: Path, clock: Clock) -> None:
    async with Device(home, clock=clock, timezone="UTC") as device:
        for type_, body in [
            ("path.enrolled", {"path": "p1"}),
            ("lesson.completed", {"course": "c1", "lesson": "read"}),
            (
                "lesson.progressed",
                {"course": "c1", "lesson": "video", "seconds": 50, "from": 0, "to": 50},
            ),
        ]:
            clock.advance(60)
            await device.record(type_, body)


def keys(*pressed: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


# snap_compare runs the app itself, so these tests are not async.


def test_dashboard_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys())


def test_course_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys("down", "enter"))


def test_lesson_look(snap_compare: Any, make_app: Callable[..., WaymarkApp]) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys("enter", "down", "enter"))


def test_video_lesson_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys("enter"))


def test_quiz_question_look(snap_compare: Any, make_app: Callable[..., WaymarkApp]) -> None:
    assert snap_compare(
        make_app(),
        terminal_size=SIZE,
        run_before=keys("down", "enter", "down", "down", "enter", "s", "space"),
    )


def test_quiz_submitted_look(snap_compare: Any, make_app: Callable[..., WaymarkApp]) -> None:
    pressed = ("down", "enter", "down", "down", "enter", "s", "space", "n", "space", "ctrl+s")
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys(*pressed))


def test_sign_in_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    asyncio.run(seed(tmp_path / "kiosk", "alice", "bob"))
    kiosk = make_app(home=tmp_path / "kiosk", idle_timeout=300)  # a kiosk opens on sign-in
    assert snap_compare(kiosk, terminal_size=SIZE, run_before=keys())


def achievements(*pressed: str) -> Callable[[Pilot[Any]], Any]:
    """Open the achievements (after ``pressed``), its celebrations dismissed."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        pilot.app.clear_notifications()
        await pilot.press(*pressed, "a")
        await fetched(pilot)

    return run_before


def test_achievements_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))
    asyncio.run(feed(home, awards()))
    app = make_app(boards=[BOARD])
    assert snap_compare(app, terminal_size=SIZE, run_before=achievements())


def test_achievements_offline_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await pilot.press("a")
        await fetched(pilot)
        clock.advance(3600)
        await pilot.press("r")
        await fetched(pilot)

    app = make_app(boards=[BOARD, ServerUnreachable("cannot reach http://server.test")])
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_celebration_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await arrive(pilot, awards())

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_path_look(snap_compare: Any, make_app: Callable[..., WaymarkApp]) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys("down", "down", "enter"))


def test_assignment_look(snap_compare: Any, make_app: Callable[..., WaymarkApp]) -> None:
    pressed = ("down", "enter", "down", "down", "down", "enter", *"My essay", "ctrl+s")
    typed = keys(*pressed)

    async def run_before(pilot: Pilot[Any]) -> None:
        await typed(pilot)
        # A blinking cursor is on or off depending on when the picture is taken.
        pilot.app.screen.query_one(TextArea).cursor_blink = False
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_dashboard_light_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    """ctrl+t: the light theme, for a light terminal (the colours are theme variables)."""
    asyncio.run(progress(home, clock))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys("ctrl+t"))


def test_achievements_light_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(progress(home, clock))
    asyncio.run(feed(home, awards()))
    app = make_app(boards=[BOARD])
    assert snap_compare(app, terminal_size=SIZE, run_before=achievements("ctrl+t"))
