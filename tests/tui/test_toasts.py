"""Celebration toasts leave the status line readable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.widgets._toast import Toast

from tests.tui.conftest import arrive, awards, screen_text, started
from tui.app import WaymarkApp
from tui.widgets.status_line import StatusLine


async def test_toasts_stay_above_the_status_line(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(80, 24), notifications=True) as pilot:
        await started(pilot)
        await arrive(pilot, awards())
        screen = pilot.app.screen
        async with asyncio.timeout(30):  # the rack mounts them after a refresh or two
            while len(screen.query(Toast)) < 4 or not all(t.region for t in screen.query(Toast)):
                await pilot.pause(0.02)
        status = screen.query_one(StatusLine).region
        regions = [toast.region for toast in screen.query(Toast)]
        assert all(region.bottom <= status.y for region in regions), (status, regions)
        text = screen_text(pilot)
        assert "Level 2 reached" in text
        line = text.splitlines()[status.y]
        assert line.strip() == "○ sync off · 0 waiting · synced never"
