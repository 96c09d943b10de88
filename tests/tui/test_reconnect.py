"""Offline, the status line counts down to the next try of the server, ctrl+r tries at
once, and the wait between tries is capped so a server that comes back is found soon."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from client.api import Device
from client.connection import Backoff
from tests.conftest import RunningServer, init_db
from tests.tui.conftest import Clock, seed, settle, started
from tests.tui.test_live import add_user, free_port, login
from tests.tui.wait import shows, until
from tui.app import RECONNECT, WaymarkApp


class HeldSleep:
    """A backoff sleep that records each delay and waits until the test is over: only
    ctrl+r ends a wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.Event().wait()


async def tries(pilot: Pilot[Any], sleep: HeldSleep, count: int) -> None:
    """Wait until the sync has failed ``count`` times and waits."""
    async with asyncio.timeout(30):
        while len(sleep.delays) < count:
            await pilot.pause(0.05)
    await settle(pilot)


async def test_offline_counts_down_and_ctrl_r_retries_at_once(
    make_app: Callable[..., WaymarkApp], tmp_path: Path, clock: Clock
) -> None:
    home = tmp_path / "kiosk"
    await seed(home, "alice", server_url=f"http://127.0.0.1:{free_port()}")  # refuses
    sleep = HeldSleep()
    backoff = dataclasses.replace(RECONNECT, random=lambda: 1.0, sleep=sleep)
    app = make_app(home=home, sync=True, backoff=backoff)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await tries(pilot, sleep, 1)
        await shows(pilot, "○ offline · retrying in 1 s · ctrl+r to retry now", "^r Retry now")
        await pilot.press("ctrl+r")
        await tries(pilot, sleep, 2)
        await shows(pilot, "○ offline · retrying in 1 s")  # 1 s: the second wait, from now
        await pilot.press("ctrl+r")
        await tries(pilot, sleep, 3)
        clock.advance(0.5)  # the status line counts down with the app's clock
        await shows(pilot, "retrying in 2 s")
        clock.advance(0.6)
        await shows(pilot, "retrying in 1 s")
        clock.advance(1)
        await shows(pilot, "○ offline · retrying… · ctrl+r to retry now")
        for count in range(4, 9):
            await pilot.press("ctrl+r")
            await tries(pilot, sleep, count)
    # 0.5 s doubling per failure, never more than the cap.
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert RECONNECT.cap == 10.0


async def test_no_retry_key_while_online_or_with_sync_off(
    make_app: Callable[..., WaymarkApp],
) -> None:
    app = make_app()  # sync off
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        text = await until(pilot, lambda text: "sync off" in text)
        assert "Retry now" not in text and "retrying" not in text
        await pilot.press("ctrl+r")  # does nothing
        await settle(pilot)
        assert app.sync_state.connection == "off"


async def test_a_server_that_comes_back_is_found_at_ctrl_r(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_user(db, "alice")
    port = free_port()
    server = await asyncio.to_thread(start_server, db, port=port)
    await login(tmp_path / "kiosk", server.url, "alice")
    assert server.stop() == 0
    # A wait of an hour: only ctrl+r can bring the app online within the test.
    hour = Backoff(base=3600, cap=3600, random=lambda: 1.0)
    app = WaymarkApp(Device(tmp_path / "kiosk"), backoff=hour, status_seconds=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await shows(pilot, "○ offline · retrying in ", " s · ctrl+r to retry now")
        await asyncio.to_thread(start_server, db, port=port)
        await pilot.press("ctrl+r")
        text = await shows(pilot, "● online")
        assert "retrying" not in text and "Retry now" not in text
