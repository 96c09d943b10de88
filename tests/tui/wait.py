"""Waiting on what the screen shows, with a generous deadline and no fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import screen_text, settle


async def until(
    pilot: Pilot[Any], ready: Callable[[str], bool], *, timeout: float = 30, what: str = ""
) -> str:
    """The screen's text once ``ready(text)`` holds; fails (showing the screen) after
    ``timeout`` seconds. Timers on screen fire in real time, so this polls."""
    text = ""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await settle(pilot)
                text = screen_text(pilot)
                if ready(text):
                    return text
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"the screen never showed {what}; it shows:\n{text}") from None


async def shows(pilot: Pilot[Any], *wanted: str, timeout: float = 30) -> str:
    """The screen's text once it shows every one of ``wanted``."""
    return await until(
        pilot, lambda text: all(w in text for w in wanted), timeout=timeout, what=repr(wanted)
    )
