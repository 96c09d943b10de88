"""The app's own commands in the command palette: found by searching, and they run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.command import CommandPalette
from textual.pilot import Pilot

from tests.tui.conftest import Clock, screen_text, settle, started
from tests.tui.tour import progress
from tui.app import WaymarkApp
from tui.commands import commands
from tui.screens.course import CourseScreen
from tui.screens.signin import SignInScreen
from tui.theme import LIGHT


async def run_command(pilot: Pilot[Any], query: str) -> str:
    """Open the palette, type ``query``, wait for a match and run the first one; the
    palette's text before enter is returned."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*query)
    shown = ""
    for _ in range(200):  # the palette searches in a worker: wait for a hit
        await pilot.pause(0.01)
        shown = screen_text(pilot)
        if pilot.app.screen.query("CommandList Option") or "Open course" in shown:
            break
    await pilot.press("enter")
    await settle(pilot)
    return shown


async def test_open_course_is_found_and_opens_it(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        shown = await run_command(pilot, "course two")
        assert "Open course: Course Two" in shown
        screen = pilot.app.screen
        assert isinstance(screen, CourseScreen) and screen.course == "c2"


async def test_theme_switch_learner_and_sync_now_run(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await run_command(pilot, "theme: light")
        assert pilot.app.theme == LIGHT
        await run_command(pilot, "sync now")
        assert any("Sync is off" in str(n.message) for n in pilot.app._notifications)
        await run_command(pilot, "switch learner")
        assert isinstance(pilot.app.screen, SignInScreen)


async def test_the_commands_follow_what_the_learner_can_do(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await progress(home, clock)
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        app = pilot.app
        assert isinstance(app, WaymarkApp)
        names = [c.name for c in commands(app)]
        assert "Open course: Course One" in names and "Open path: Track" in names
        assert "Continue: Watching" in names and "Theme: light" in names
        assert "Theme: dark" not in names  # the current one is not offered
        await app.sign_out()
        await settle(pilot)
        names = [c.name for c in commands(app)]
        assert not any(n.startswith(("Open course", "Continue")) for n in names)
        assert "Switch learner" in names
