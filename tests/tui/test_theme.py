"""One theme mechanism (Textual's, with Waymark's two themes), saved in the device home."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.tui.conftest import settle, started
from tui import settings
from tui.app import WaymarkApp
from tui.theme import DARK, LIGHT


async def test_only_waymarks_two_themes_are_offered(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert set(pilot.app.available_themes) == {DARK, LIGHT}
        assert pilot.app.theme == DARK
        await pilot.press("ctrl+t")  # the old second mechanism is gone
        await settle(pilot)
        assert pilot.app.theme == DARK


async def test_the_theme_chosen_is_restored_after_a_restart(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        pilot.app.theme = LIGHT
        await settle(pilot)
    assert json.loads((home / settings.FILE).read_text())["theme"] == LIGHT
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert pilot.app.theme == LIGHT
        assert pilot.app.screen.has_class("-light-mode") or pilot.app.has_class("-light-mode")


async def test_a_damaged_or_unknown_setting_falls_back_to_the_dark_theme(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    for text in ("{not json", json.dumps({"theme": "nord"}), json.dumps(["x"])):
        (home / settings.FILE).write_text(text)
        async with make_app().run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert pilot.app.theme == DARK
