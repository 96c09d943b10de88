"""Each screen's look, pinned by pytest-textual-snapshot (``__snapshots__``): every screen
of :data:`tests.tui.tour.VISITS` in both themes at 80x24 and 120x40, the notice below the
minimum size, and a few states of their own (offline leaderboard, a celebration).

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from client.errors import ServerUnreachable
from tests.tui import tour
from tests.tui.conftest import BOARD, Clock, arrive, awards, fetched, started
from tui.app import WaymarkApp
from tui.theme import DARK, LIGHT

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


# snap_compare runs the app itself, so these tests are not async.


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("visit", tour.VISITS, ids=lambda v: v.name)
def test_screen_look(
    snap_compare: Any,
    make_app: Callable[..., WaymarkApp],
    home: Path,
    clock: Clock,
    visit: tour.Visit,
    theme: str,
    size: str,
) -> None:
    app = tour.app_for(visit, make_app, home, clock)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=tour.walk(visit, theme))


@pytest.mark.parametrize("theme", [DARK, LIGHT])
def test_too_small_notice_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock, theme: str
) -> None:
    visit = tour.BY_NAME["dashboard"]
    app = tour.app_for(visit, make_app, home, clock)
    assert snap_compare(app, terminal_size=(60, 20), run_before=tour.walk(visit, theme))


def test_achievements_offline_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(tour.progress(home, clock))

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await pilot.press("a")
        await fetched(pilot)
        clock.advance(3600)
        await pilot.press("r")
        await fetched(pilot)

    app = make_app(boards=[BOARD, ServerUnreachable("cannot reach http://server.test")])
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_celebration_look(
    snap_compare: Any, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    asyncio.run(tour.progress(home, clock))

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await arrive(pilot, awards())

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
