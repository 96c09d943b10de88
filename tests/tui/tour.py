"""Every screen of the app, as a learner reaches it: what the home holds first and the
keys pressed. Shared by the snapshot tests (each screen, theme and size) and the contrast
test (each screen and theme), so a new screen is added once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from client.api import Device
from tests.tui.conftest import BOARD, Clock, awards, feed, fetched, seed, settle, started
from tui.app import WaymarkApp


async def progress(home: Path, clock: Clock) -> None:
    """Alice enrolled in the path, read the first lesson and watched 50 s of the video."""
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


@dataclass(frozen=True)
class Visit:
    name: str
    keys: tuple[str, ...] = ()
    progress: bool = False  # alice has made some progress (see :func:`progress`)
    awards: bool = False  # the server's awards are in her feed (see ``conftest.awards``)
    leaderboard: bool = False  # the last key opens the achievements: wait for the board
    kiosk: bool = False  # a kiosk with two learners: it opens on the sign-in screen


QUIZ = ("down", "enter", "down", "down", "enter", "s", "space")
VISITS = [
    Visit("sign_in", kiosk=True),
    Visit("dashboard", progress=True),
    Visit("course", ("down", "enter"), progress=True),
    Visit("lesson_text", ("enter", "down", "enter")),
    Visit("lesson_video", ("enter",), progress=True),
    Visit("quiz_question", QUIZ),
    Visit("quiz_result", (*QUIZ, "n", "space", "ctrl+s")),
    Visit("assignment", ("down", "enter", "down", "down", "down", "enter", *"My essay")),
    Visit("path", ("down", "down", "enter")),
    Visit("achievements", ("a",), progress=True, awards=True, leaderboard=True),
    Visit("help", ("question_mark",), progress=True),
]
BY_NAME = {visit.name: visit for visit in VISITS}


async def prepare(visit: Visit, home: Path, clock: Clock) -> Path:
    """Put in ``home`` what ``visit`` needs; the home the app opens is returned."""
    if visit.kiosk:
        kiosk = home.parent / "kiosk"
        await seed(kiosk, "alice", "bob")
        return kiosk
    if visit.progress:
        await progress(home, clock)
    if visit.awards:
        await feed(home, awards())
    return home


def build(visit: Visit, make_app: Callable[..., WaymarkApp], home: Path) -> WaymarkApp:
    """The app for ``visit`` on ``home`` (from :func:`prepare`)."""
    if visit.kiosk:
        return make_app(home=home, idle_timeout=300)  # a kiosk opens on sign-in
    return make_app(boards=[BOARD]) if visit.leaderboard else make_app()


def app_for(
    visit: Visit, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> WaymarkApp:
    """:func:`prepare` and :func:`build`, outside an event loop (snapshot tests)."""
    return build(visit, make_app, asyncio.run(prepare(visit, home, clock)))


def walk(visit: Visit, theme: str) -> Callable[[Pilot[Any]], Any]:
    """Go to ``visit``'s screen in ``theme``, celebrations dismissed."""

    async def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.theme = theme
        await started(pilot)
        pilot.app.clear_notifications()
        for key in visit.keys:
            await pilot.press(key)
            await settle(pilot)
        if visit.leaderboard:
            await fetched(pilot)
        pilot.app.clear_notifications()
        for editor in pilot.app.screen.query("Input, TextArea"):
            editor.cursor_blink = False  # type: ignore[attr-defined]  # a steady cursor
        await settle(pilot)

    return run_before
