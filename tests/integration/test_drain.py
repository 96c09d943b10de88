"""A stopping server drains: on SIGTERM it stops accepting, lets the merge in flight
commit and be acked, then closes every sync socket with 1012 and exits 0 (real server
processes, real sockets)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Push
from tests.conftest import PG_URL, RunningServer, init_db
from tests.integration.test_spine import add_users
from tests.integration.wire import event, login, open_session, recv


async def _close_code(ws) -> tuple[list[Ack], int | None, str]:  # type: ignore[no-untyped-def]
    acks: list[Ack] = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            msg = await recv(ws, 20)
            if isinstance(msg, Ack):
                acks.append(msg)
    rcvd = info.value.rcvd
    return acks, (rcvd.code if rcvd else None), (rcvd.reason if rcvd else "")


def _refuses(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


async def test_an_idle_socket_is_closed_with_1012_and_the_server_exits_0(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    server = start_server(db)
    ws, _welcome = await open_session(server.ws_url, login(server.url, "ann")["token"])
    await recv(ws)  # the catalog: the session is settled
    stopped = asyncio.get_running_loop().run_in_executor(None, server.stop)
    _acks, code, reason = await _close_code(ws)
    assert (code, reason) == (1012, "the server is restarting; reconnect")
    assert await stopped == 0


async def test_the_merge_in_flight_at_sigterm_commits_and_is_acked_before_1012(
    start_server: Callable[..., RunningServer], pg_url: str
) -> None:
    """The learner's row is held locked from outside, so the push is provably inside its
    merge when the signal comes; released once the server has stopped listening."""
    add_users(pg_url, "ann")
    server = start_server(pg_url)
    ann = login(server.url, "ann")
    ws, welcome = await open_session(server.ws_url, ann["token"])
    device = welcome.accounts[0].device_id
    schema = pg_url.rsplit("search_path=", 1)[1]
    holder = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute(
            "SELECT 1 FROM user_state WHERE user_id = $1 FOR UPDATE", ann["user_id"]
        )
        await ws.send(encode(Push(1, device, [event(1), event(2)]), binary=True))

        async def merge_waits() -> bool:
            return bool(
                await holder.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid'"
                    " AND NOT granted AND transactionid = pg_current_xact_id()::xid"
                )
            )

        deadline = time.monotonic() + 30
        while not await merge_waits():
            assert time.monotonic() < deadline, "the push never reached its merge"
            await asyncio.sleep(0.02)
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(
            None, _wait_for, lambda: _refuses(server.url), "the server stops listening"
        )
        await lock.rollback()
    finally:
        await holder.close()
    acks, code, _reason = await _close_code(ws)
    assert [a.acked_seq for a in acks] == [2] and code == 1012
    assert server.stop() == 0
    again = start_server(pg_url, catalog=None)
    ws, welcome = await open_session(again.ws_url, ann["token"])
    assert welcome.accounts[0].acked_seq == 2  # what was acked is durable
    await ws.close()


@pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
async def test_ready_says_503_while_draining(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'server.db'}")
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/v1/ready")).status_code == 200
        await app.state.sync_connections.drain(1)
        answer = await client.get("/v1/ready")
        assert answer.status_code == 503
        assert answer.json()["detail"] == "server: stopping: draining its connections"
