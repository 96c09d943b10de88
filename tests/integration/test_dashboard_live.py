"""An open dashboard hears a learner's sync live through a real server: the learner
pushes over the WebSocket, the instructor's ``/dashboard/live`` stream says so; across two
instances sharing PostgreSQL too (the poke travels by ``LISTEN``/``NOTIFY``). A learner
outside the viewer's groups is never announced to them, and a stopping server ends the
streams instead of waiting for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Push
from tests.conftest import RunningServer
from tests.integration.web import (
    ELSEWHERE,
    IN_GROUP,
    INSTRUCTOR,
    LiveStream,
    learner_login,
    seed,
    session_cookie,
)
from tests.integration.wire import event, open_session, until


async def push_one(server: RunningServer, name: str) -> None:
    token = learner_login(server.url, name)["token"]
    ws, welcome = await open_session(server.ws_url, token)
    try:
        device = welcome.accounts[0].device_id
        await ws.send(encode(Push(1, device, [event(1)]), binary=True))
        assert (await until(ws, Ack)).accepted == 1
    finally:
        await ws.close()


async def _hear_a_sync(watched: RunningServer, pushed: RunningServer) -> None:
    stream = LiveStream(watched.url, session_cookie(watched.url, INSTRUCTOR))
    try:
        # mia is not in ines's group: her sync must not reach ines; leo's must.
        await push_one(pushed, ELSEWHERE)
        await push_one(pushed, IN_GROUP)
        kind, data = await asyncio.to_thread(stream.next_event)
        assert kind == "synced"
        assert data["username"] == IN_GROUP
        assert data["iso"].endswith("Z") and data["ago"] == "just now"
    finally:
        stream.close()


async def test_an_open_dashboard_hears_a_learner_sync(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    seed(db_url)
    server = start_server(db_url)
    await _hear_a_sync(server, server)


async def test_a_dashboard_on_one_instance_hears_a_sync_on_another(
    pg_url: str, start_server: Callable[..., RunningServer]
) -> None:
    seed(pg_url)
    one = start_server(pg_url)
    two = start_server(pg_url, catalog=None)
    await _hear_a_sync(one, two)


def test_a_stopping_server_ends_the_live_streams(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    seed(db_url)
    server = start_server(db_url)
    stream = LiveStream(server.url, session_cookie(server.url, INSTRUCTOR))
    try:
        assert server.stop() == 0  # returns, rather than waiting for the stream
        try:
            stream.next_event()
            raise AssertionError("the stream went on")
        except (EOFError, ConnectionError):
            pass
    finally:
        stream.close()
