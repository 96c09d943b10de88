"""The Redis fan-out (``server.fanout_redis``) on the machine's real Redis: two instances'
hubs hear each other's commits over one channel, and a connection cut off by a relay in
front of Redis (the shared Redis itself is never stopped) is noticed, retried, and made up
for: the other instances are told what could not be announced, and this one's
connections read what they may have missed."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from server.fanout import Hub, announcement, parse_announcement
from server.fanout_redis import RedisFanout, check_url, redacted
from server.storage.store import Store
from sync.protocol.messages import FeedEntry
from tests.conftest import init_db
from tests.server.conftest import Clock, catalog
from tests.server.test_fanout import Conn, counted
from tests.server.test_store import ev, learner


class CutRelay:
    """A loopback TCP relay to ``host:port`` that can be cut (open connections are aborted
    and new ones closed at once) or frozen (connections stay open and carry nothing, as
    across a dead link), until it is restored."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.cut_off = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        self.cut_off = True
        for writer in list(self._writers):
            writer.transport.abort()

    def freeze(self) -> None:
        self._flowing.clear()

    def restore(self) -> None:
        self.cut_off = False
        self._flowing.set()

    async def close(self) -> None:
        self.restore()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        if self.cut_off:
            cwriter.transport.abort()
            return
        sreader, swriter = await asyncio.open_connection(*self.upstream)
        self._writers |= {cwriter, swriter}
        pipes = [
            asyncio.create_task(self._pipe(creader, swriter)),
            asyncio.create_task(self._pipe(sreader, cwriter)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            for writer in (cwriter, swriter):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                await self._flowing.wait()  # frozen: held back, as a dead link would
                writer.write(data)
                await writer.drain()


@contextlib.asynccontextmanager
async def relayed(redis_url: str) -> AsyncIterator[tuple[CutRelay, str]]:
    """A :class:`CutRelay` in front of ``redis_url``, and the URL that goes through it."""
    parts = urllib.parse.urlsplit(redis_url)
    relay = CutRelay(parts.hostname or "127.0.0.1", parts.port or 6379)
    port = await relay.start()
    try:
        yield relay, urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
    finally:
        await relay.close()


class Watched(Conn):
    """A follower that also says when it was asked to read from its own cursor."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.asked_to_read = asyncio.Event()

    def offer(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        super().offer(user_id, entries)
        if entries is None:
            self.asked_to_read.set()


async def becomes(fanout: RedisFanout, healthy: bool) -> None:
    """Wait (up to 30 s) until ``fanout.healthy`` is ``healthy``."""
    await asyncio.wait_for(fanout.healthy_is(healthy), 30)


async def heard_on(channel: redis.asyncio.client.PubSub, wanted: str, timeout: float = 30) -> None:
    """Read ``channel`` until ``wanted`` comes (or fail after ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await channel.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None and message["data"].decode() == wanted:
                return


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two instances' stores on one database (one SQLite file: enough for the hubs)."""
    url = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    here, there = Store.for_url(url, clock=Clock()), Store.for_url(url, clock=Clock())
    await here.open()
    await here.load_catalog(catalog())
    await there.open()
    yield here, there
    await here.close()
    await there.close()


@pytest.fixture
async def watch(redis_url: str, channel_prefix: str) -> AsyncIterator[redis.asyncio.client.PubSub]:
    """A plain subscriber to the test's channel, to see what is published."""
    client = redis.asyncio.Redis.from_url(redis_url)
    channel = client.pubsub()
    await channel.subscribe(f"{channel_prefix}:feed")
    yield channel
    await channel.aclose()
    await client.aclose()


async def test_another_instance_hears_a_commit_over_redis_and_reads_once_for_all(
    stores: tuple[Store, Store],
    redis_url: str,
    channel_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, there = stores
    hub_here, hub_there = Hub(here), Hub(there)
    for hub in (hub_here, hub_there):
        hub.backend = RedisFanout(redis_url, hub, channel_prefix=channel_prefix)
        await hub.backend.start()
    try:
        assert hub_here.listening and hub_there.listening
        user_id, device_id = await learner(here)
        pusher, laptop, phone = Conn(here), Conn(there), Conn(there)
        hub_here.follow(pusher, [user_id])
        hub_there.follow(laptop, [user_id])
        hub_there.follow(phone, [user_id])
        reads_here, reads_there = counted(here, monkeypatch), counted(there, monkeypatch)
        with hub_here.local_write(user_id):
            result = await here.merge(device_id, [ev(1), ev(2), ev(3)])
            hub_here.committed(user_id, result.entries)
        await laptop.reached(result.feed_head, user_id)
        await phone.reached(result.feed_head, user_id)
        assert reads_here == []  # the pusher's own hub hands the merge's result
        assert reads_there == [0]  # one read on the other instance, for both connections
        assert pusher.got == laptop.got == phone.got == result.entries
    finally:
        for hub in (hub_here, hub_there):
            await hub.backend.stop()


async def test_a_commit_is_announced_as_learner_and_head_never_the_entries(
    stores: tuple[Store, Store],
    redis_url: str,
    channel_prefix: str,
    watch: redis.asyncio.client.PubSub,
) -> None:
    here, _there = stores
    hub = Hub(here)
    hub.backend = fanout = RedisFanout(redis_url, hub, channel_prefix=channel_prefix)
    await fanout.start()
    try:
        user_id, device_id = await learner(here)
        result = await here.merge(device_id, [ev(1), ev(2)])
        hub.committed(user_id, result.entries)  # nobody follows here: announced anyway
        await heard_on(watch, announcement(user_id, result.feed_head))
        # A write that kept no entries (a grade): its head is read, then announced.
        graded = await here.merge(device_id, [ev(3)])
        hub.committed(user_id, None)
        await heard_on(watch, announcement(user_id, graded.feed_head))
    finally:
        await fanout.stop()


async def test_what_could_not_be_announced_is_announced_once_redis_is_back(
    stores: tuple[Store, Store],
    redis_url: str,
    channel_prefix: str,
    watch: redis.asyncio.client.PubSub,
) -> None:
    here, _there = stores
    user_id, device_id = await learner(here)
    async with relayed(redis_url) as (relay, via):
        hub = Hub(here)
        hub.backend = fanout = RedisFanout(via, hub, channel_prefix=channel_prefix)
        await fanout.start()
        try:
            assert fanout.healthy
            relay.cut()
            await becomes(fanout, False)
            assert not hub.listening  # what /v1/ready reports
            first = await here.merge(device_id, [ev(1)])
            hub.committed(user_id, first.entries)
            second = await here.merge(device_id, [ev(2)])
            hub.committed(user_id, second.entries)
            relay.restore()
            await becomes(fanout, True)
            await heard_on(watch, announcement(user_id, second.feed_head))  # the latest head
        finally:
            await fanout.stop()


async def test_after_reconnecting_every_connection_is_offered_a_read(
    stores: tuple[Store, Store], redis_url: str, channel_prefix: str
) -> None:
    """What other instances announced while this one was cut off was never heard here: its
    connections catch up from their own cursors, as after a PostgreSQL restart."""
    here, _there = stores
    user_id, _device_id = await learner(here)
    async with relayed(redis_url) as (relay, via):
        hub = Hub(here)
        hub.backend = fanout = RedisFanout(via, hub, channel_prefix=channel_prefix)
        await fanout.start()
        try:
            conn = Watched(here)
            hub.follow(conn, [user_id])
            relay.cut()
            await becomes(fanout, False)
            assert not conn.asked_to_read.is_set()
            relay.restore()
            await becomes(fanout, True)
            await asyncio.wait_for(conn.asked_to_read.wait(), 30)
        finally:
            await fanout.stop()


async def test_an_unreachable_redis_at_start_is_retried_not_fatal(
    stores: tuple[Store, Store], redis_url: str, channel_prefix: str
) -> None:
    here, _there = stores
    async with relayed(redis_url) as (relay, via):
        relay.cut()
        hub = Hub(here)
        hub.backend = fanout = RedisFanout(via, hub, channel_prefix=channel_prefix)
        await fanout.start()  # returns after the first attempt, unhealthy
        try:
            assert not fanout.healthy
            relay.restore()
            await becomes(fanout, True)
        finally:
            await fanout.stop()


async def test_a_connection_that_carries_nothing_is_given_up_by_the_heartbeat(
    stores: tuple[Store, Store], redis_url: str, channel_prefix: str
) -> None:
    """No error, no close: only the heartbeat not heard back shows the link is dead."""
    here, _there = stores
    async with relayed(redis_url) as (relay, via):
        hub = Hub(here)
        hub.backend = fanout = RedisFanout(via, hub, channel_prefix=channel_prefix, heartbeat_s=0.2)
        await fanout.start()
        try:
            assert fanout.healthy
            relay.freeze()
            await asyncio.wait_for(fanout.healthy_is(False), 30)
            relay.restore()
            await asyncio.wait_for(fanout.healthy_is(True), 30)
        finally:
            await fanout.stop()


def test_announcements_are_learner_and_head_and_nothing_else_parses() -> None:
    assert parse_announcement(announcement("u 1", 42)) == ("u 1", 42)
    for payload in ("", "u1", "u1 ", " 5", "u1 -3", "u1 x", "ping:abc"):
        assert parse_announcement(payload) is None


def test_fanout_urls_are_checked_and_passwords_never_shown() -> None:
    assert check_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert check_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    for bad in ("http://127.0.0.1:6379", "127.0.0.1:6379", "postgresql://db/x"):
        with pytest.raises(ValueError, match="not a redis://"):
            check_url(bad)
    with pytest.raises(ValueError) as refused:
        check_url("ftp://u:secret@host")
    assert "secret" not in str(refused.value)
    assert redacted("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert redacted("redis://:secret@h/0") == "redis://:***@h/0"
    assert redacted("redis://h/0") == "redis://h/0"


@pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
def test_an_app_fanning_out_over_redis_does_not_notify_on_postgresql(
    pg_url: str, redis_url: str
) -> None:
    from server.app import create_app
    from server.storage.engine import PostgresEngine

    over_redis = create_app(pg_url, fanout=redis_url)
    listening = create_app(pg_url)
    engines = [
        app.dependencies["store"].dependency().engine  # type: ignore[union-attr]
        for app in (over_redis, listening)
    ]
    assert all(isinstance(e, PostgresEngine) for e in engines)
    assert [e.notifies for e in engines] == [False, True]
