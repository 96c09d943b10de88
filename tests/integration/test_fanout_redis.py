"""``waymark serve --fanout redis://…`` for real: two instances on one PostgreSQL database
carry live updates over Redis, survive Redis being cut off (a relay in front of the shared
Redis is cut; Redis itself is never stopped), say so on ``/v1/ready`` meanwhile, and make
up for what was missed once it is back. A bad ``--fanout`` is one line and a non-zero
exit."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import ClientConnection

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Feed, Push
from tests.conftest import RunningServer, init_db, waymark
from tests.integration.test_fanout_restart import ready_becomes
from tests.integration.test_spine import add_users, free_port
from tests.integration.wire import event, login, open_session, recv, until
from tests.server.test_fanout_redis import relayed


async def sees(ws: ClientConnection, seq: int) -> None:
    """Receive (each message within 30 s) until a feed carries the device's event ``seq``."""
    while True:
        msg = await recv(ws, timeout=30)
        if isinstance(msg, Feed) and any(e.seq == seq for e in msg.entries):
            return


async def test_live_updates_cross_instances_over_redis_and_resume_after_it_is_cut_off(
    start_server: Callable[..., RunningServer], pg_url: str, redis_url: str, channel_prefix: str
) -> None:
    add_users(pg_url, "ann")
    async with relayed(redis_url) as (relay, via):
        extra = ("--fanout", via, "--fanout-channel-prefix", channel_prefix)
        # In threads: the servers reach Redis through the relay, which runs on this loop.
        start = functools.partial(asyncio.to_thread, start_server, pg_url, extra=extra)
        one = await start()
        two = await start(catalog=None)
        a_login = await asyncio.to_thread(login, one.url, "ann", device="a")
        b_login = await asyncio.to_thread(login, two.url, "ann", device="b")
        ws_a, _ = await open_session(one.ws_url, a_login["token"])
        ws_b, _ = await open_session(two.ws_url, b_login["token"])
        device_a = a_login["device_id"]

        async def push(seq: int) -> None:
            await ws_a.send(encode(Push(seq, device_a, [event(seq)]), binary=True))
            ack = await until(ws_a, Ack, timeout=30)
            assert ack.acked_seq == seq and ack.accepted == 1

        await push(1)
        await sees(ws_b, 1)  # B, on the other instance, gets A's event over Redis
        relay.cut()
        await ready_becomes(one, 503)
        await ready_becomes(two, 503)
        await push(2)  # the database is fine: the push is merged, only the fan-out is down
        relay.restore()
        await ready_becomes(one, 200)
        await ready_becomes(two, 200)
        await sees(ws_b, 2)  # made up for once Redis is back, with no new push
        await push(3)
        await sees(ws_b, 3)
        await ws_a.close()
        await ws_b.close()
        for server in (one, two):
            assert await asyncio.to_thread(server.stop) == 0
            assert "Traceback" not in "".join(server.output)


async def test_fanout_over_redis_on_sqlite_is_allowed_and_live(
    start_server: Callable[..., RunningServer],
    tmp_path: Path,
    redis_url: str,
    channel_prefix: str,
) -> None:
    """One process owns a SQLite file, so Redis adds nothing there; it is accepted (a
    staging setup may mirror production) and changes nothing for the devices."""
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    extra = ("--fanout", redis_url, "--fanout-channel-prefix", channel_prefix)
    server = start_server(db, extra=extra)
    a_login, b_login = login(server.url, "ann", device="a"), login(server.url, "ann", device="b")
    ws_a, _ = await open_session(server.ws_url, a_login["token"])
    ws_b, _ = await open_session(server.ws_url, b_login["token"])
    await ws_a.send(encode(Push(1, a_login["device_id"], [event(1)]), binary=True))
    assert (await until(ws_a, Ack, timeout=30)).acked_seq == 1
    await sees(ws_b, 1)
    await ready_becomes(server, 200)
    await ws_a.close()
    await ws_b.close()
    assert server.stop() == 0


def test_a_fanout_that_is_not_a_redis_url_is_one_line() -> None:
    result = waymark("serve", "--port", "0", "--fanout", "http://127.0.0.1:6379")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a redis://" in result.stderr, result.stderr


def test_an_unreachable_redis_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    assert waymark("admin", "--db", db, "user", "add", "ann", "--password", "pw").returncode == 0
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    result = waymark("serve", "--db", db, "--port", "0", env={"WAYMARK_FANOUT": url})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cannot reach Redis" in result.stderr and "secret" not in result.stderr
