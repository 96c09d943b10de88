"""A device's offline work, as the server knows it (server/reports/freshness.py), with a
real server and a real device: a device that recorded events offline says how many at its
hello, and the learner shows them pending until the device has pushed them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect

from client.api import Device
from server.reports.freshness import Freshness, freshness
from server.reports.scope import Scope
from server.storage.store import Store
from sync.protocol.messages import Welcome
from sync.protocol.sessions import ClientSession, Login, Send
from tests.conftest import RunningServer
from tests.integration.test_spine import add_users
from tests.integration.wire import recv


async def _freshness(db: str, username: str) -> Freshness:
    store = Store.for_url(db)
    await store.open()
    try:
        user = await store.user_by_name(username)
        assert user is not None
        return (await freshness(store, Scope(everyone=True)))[user.id]
    finally:
        await store.close()


async def _hello_only(device: Device, ws_url: str) -> Welcome:
    """Say the device's hello (what its journal holds, as its sync does) and leave before
    pushing: a connection that drops right after the welcome."""
    (account,) = await device.accounts()
    clock, recorded = await device.journal.tick_for_hello(device.clock())
    login = Login(
        account.token,
        account.username,
        account.user_id,
        account.device_id,
        account.cursor,
        recorded.get(account.user_id, 0),
    )
    (hello,) = ClientSession([login], clock=clock).start()
    assert isinstance(hello, Send)
    async with connect(ws_url, max_size=None) as ws:
        await ws.send(hello.frame)
        welcome = await recv(ws)
    assert isinstance(welcome, Welcome), welcome
    return welcome


async def test_offline_work_shows_pending_until_the_device_pushed_it(
    start_server: Callable[..., RunningServer], db_url: str, tmp_path: Path
) -> None:
    add_users(db_url, "ada")
    server = start_server(db_url)
    async with Device(tmp_path / "laptop", timezone="UTC") as laptop:
        await laptop.login(server.url, "ada", "pw", "laptop")
        before = await _freshness(db_url, "ada")
        assert (before.devices, before.pending_events, before.state) == (1, None, "never synced")

        for lesson in ("read", "intro", "video"):  # offline: nothing reaches the server
            await laptop.record("lesson.opened", {"course": "c1", "lesson": lesson})
        assert (await laptop.status())["pending"] == 3
        assert (await _freshness(db_url, "ada")).pending_events is None  # not said yet

        welcome = await _hello_only(laptop, server.ws_url)
        assert welcome.accounts[0].acked_seq == 0
        said = await _freshness(db_url, "ada")
        assert said.pending_events == 3 and said.state == "offline work"
        assert said.pending_since is not None and said.last_sync_at == said.pending_since

        await laptop.record("lesson.opened", {"course": "c2", "lesson": "a"})
        report = await laptop.sync_once()  # its hello says 4; it pushes all 4
        assert report.pushed == 4
        synced = await _freshness(db_url, "ada")
        assert (synced.pending_events, synced.pending_since, synced.state) == (0, None, "fresh")
        assert synced.last_sync_at is not None and synced.last_sync_at >= said.pending_since
