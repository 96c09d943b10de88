"""The dashboard: totals over the whole catalog, and a loading state before the first load."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.widgets import ListView

from client.api import Device
from tests.tui.conftest import Clock, screen_text, settle, started
from tests.tui.test_app import READ, record
from tui.app import WaymarkApp
from tui.screens.dashboard import DashboardScreen


async def test_a_new_learner_sees_the_catalog_totals(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        # Two courses and three lessons in the test catalog, none started.
        assert "alice · 0/2 courses · 0/3 lessons · time spent 0:00" in screen_text(pilot)


async def test_totals_count_what_is_done_out_of_the_catalog(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(home, clock, ("lesson.completed", READ))
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "alice · 0/2 courses · 1/3 lessons" in screen_text(pilot)


async def test_the_dashboard_shows_it_is_loading_until_the_first_load(
    make_app: Callable[..., WaymarkApp],
) -> None:
    app = make_app()
    go = asyncio.Event()

    async def held(device: Device) -> None:  # the journal is busy before the first load
        await go.wait()

    app.enqueue(held)
    async with app.run_test(size=(80, 24)) as pilot:
        async with asyncio.timeout(30):
            while not isinstance(app.screen, DashboardScreen):
                await pilot.pause(0.05)
        await pilot.pause()
        items = app.screen.query_one("#items", ListView)
        assert items.loading
        assert "Loading your progress…" in screen_text(pilot)
        assert "Course One" not in screen_text(pilot)
        go.set()
        await settle(pilot)
        assert not items.loading
        text = screen_text(pilot)
        assert "Loading" not in text and "Course One" in text
