"""What the fault schedules found when a device closes right after a push (sqlite seed 48,
a follower stopping while another connection of its learner waited): the merge commits,
but the ack cannot be sent. The session hands the commit to the fan-out before the ack
(``ServerSession.merged``: ``Publish`` first), so the learner's other connections hear of
it whatever becomes of the ack; before, on SQLite nothing else announced the entries
(PostgreSQL's NOTIFY did), and a connected device waited until its timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sync.protocol.codec import encode
from sync.protocol.messages import Feed, Push
from tests.conftest import RunningServer, init_db
from tests.integration.test_spine import add_users
from tests.integration.wire import event, login, open_session, recv


async def committed(server: RunningServer, token: str) -> None:
    """Wait until the server holds the device's seq 1 (its welcome says so), asking again
    until a generous deadline (a busy machine may take a while to commit)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        again, welcome = await open_session(server.ws_url, token)
        await again.close()
        if welcome.accounts[0].acked_seq == 1:
            return
        assert asyncio.get_running_loop().time() < deadline, "the push was never committed"
        await asyncio.sleep(0.05)  # between two asks, not a wait for the outcome


async def test_a_push_whose_sender_hung_up_still_reaches_the_learners_other_devices(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    server = start_server(db)
    a, b = login(server.url, "ann", device="a"), login(server.url, "ann", device="b")
    listening, _ = await open_session(server.ws_url, b["token"])
    pushing, _ = await open_session(server.ws_url, a["token"])
    await pushing.send(encode(Push(1, a["device_id"], [event(1)]), binary=True))
    await pushing.close()  # before the ack: the server's send of it fails
    await committed(server, a["token"])

    async def heard() -> None:
        while True:
            msg = await recv(listening, timeout=30)
            if isinstance(msg, Feed) and any(e.device_id == a["device_id"] for e in msg.entries):
                return

    try:
        await asyncio.wait_for(heard(), 3)  # a live update takes milliseconds
    finally:
        await listening.close()
