"""The fan-out (``server.fanout``): a commit reaches every connection of its learner, from
the merge's own result where it ran (no feed read, none for the pusher) and with one feed
read per other instance, whatever its number of connections of that learner."""

from __future__ import annotations

import asyncio

import pytest

from server.fanout import Hub, Listener
from server.storage.engine import PostgresEngine
from server.storage.store import Store
from sync.protocol.messages import FeedEntry
from tests.server.conftest import Clock, catalog
from tests.server.test_store import ev, learner


class Conn:
    """A follower as a socket is one: it keeps what it was handed, in order, when it
    continues what it has; anything else it would read itself (counted here)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: dict[str, int] = {}
        self.got: list[FeedEntry] = []
        self.own_reads = 0
        self.changed = asyncio.Event()

    def position(self, user_id: str) -> int:
        return self.sent.get(user_id, 0)

    def offer(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        fresh = [e for e in entries or () if e.user_seq > self.position(user_id)]
        if entries is None or (fresh and fresh[0].user_seq != self.position(user_id) + 1):
            self.own_reads += 1
            return
        if fresh:
            self.got.extend(fresh)
            self.sent[user_id] = fresh[-1].user_seq
            self.changed.set()

    async def reached(self, user_seq: int, user_id: str) -> None:
        while self.position(user_id) < user_seq:
            self.changed.clear()
            await self.changed.wait()


def counted(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every feed read of ``store`` from now on (its cursor)."""
    reads: list[int] = []
    real = store.feed_after

    async def spy(user_id: str, cursor: int, limit: int) -> list[FeedEntry]:
        reads.append(cursor)
        return await real(user_id, cursor, limit)

    monkeypatch.setattr(store, "feed_after", spy)
    return reads


async def test_a_commit_reaches_every_connection_of_its_learner_without_a_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, device_id = await learner(store)
    other = await learner(store, "bob")
    hub = Hub(store)
    pusher, phone, stranger = Conn(store), Conn(store), Conn(store)
    hub.follow(pusher, [user_id])
    hub.follow(phone, [user_id])
    hub.follow(stranger, [other[0]])
    reads = counted(store, monkeypatch)
    for batch in ([ev(1), ev(2)], [ev(3, "lesson.completed")]):
        result = await store.merge(device_id, batch)
        hub.committed(user_id, result.entries)
    monkeypatch.undo()
    stored = await store.feed_after(user_id, 0, 100)
    assert reads == []
    assert pusher.got == phone.got == stored  # the completion's decisions included
    assert len(stored) > 3
    assert pusher.own_reads == phone.own_reads == 0
    assert stranger.got == []


async def test_a_write_that_kept_no_entries_is_read_once_for_all_connections(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, device_id = await learner(store)
    head = (await store.merge(device_id, [ev(1)])).feed_head
    stored = await store.feed_after(user_id, 0, 100)
    hub = Hub(store)
    conns = [Conn(store) for _ in range(3)]
    for conn in conns:
        conn.sent[user_id] = 0
        hub.follow(conn, [user_id])
    reads = counted(store, monkeypatch)
    hub.committed(user_id, None)
    await conns[0].reached(head, user_id)
    assert reads == [0]
    assert all(c.got == stored for c in conns)


async def test_entries_handed_out_of_order_are_read_again_not_applied(store: Store) -> None:
    """Two merges of a learner commit in order, but their hand-offs may arrive swapped: the
    later one is not a continuation, so the connection reads from its cursor."""
    user_id, device_id = await learner(store)
    first = await store.merge(device_id, [ev(1)])
    second = await store.merge(device_id, [ev(2)])
    hub, conn = Hub(store), Conn(store)
    hub.follow(conn, [user_id])
    hub.committed(user_id, second.entries)
    assert conn.got == [] and conn.own_reads == 1
    hub.committed(user_id, first.entries)
    assert conn.got == first.entries and first.entries[0].user_seq == 1


async def test_another_instance_reads_a_commit_once_for_all_its_connections(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances on one PostgreSQL: A merges a push of a learner with a connection on
    A and two on B. A reads nothing; B hears the NOTIFY and reads once for both."""
    here, there = Store.for_url(pg_url, clock=Clock()), Store.for_url(pg_url, clock=Clock())
    await here.open()
    await here.load_catalog(catalog())
    await there.open()
    hub_here, hub_there = Hub(here), Hub(there)
    listeners = [Listener(pg_url, hub_here), Listener(pg_url, hub_there)]
    for listener in listeners:
        await listener.start()
    try:
        user_id, device_id = await learner(here)
        pusher = Conn(here)
        laptop, phone = Conn(there), Conn(there)
        hub_here.follow(pusher, [user_id])
        hub_there.follow(laptop, [user_id])
        hub_there.follow(phone, [user_id])
        reads_here, reads_there = counted(here, monkeypatch), counted(there, monkeypatch)
        heard_here = asyncio.Event()
        real_heard = hub_here.heard

        def heard(user: str, head: int) -> None:
            real_heard(user, head)
            if user == user_id:
                heard_here.set()

        monkeypatch.setattr(hub_here, "heard", heard)
        with hub_here.local_write(user_id):
            result = await here.merge(device_id, [ev(1), ev(2), ev(3)])
            hub_here.committed(user_id, result.entries)
        await laptop.reached(result.feed_head, user_id)
        await phone.reached(result.feed_head, user_id)
        assert reads_here == []
        assert reads_there == [0]
        assert pusher.got == laptop.got == phone.got == result.entries
        # The NOTIFY also reaches A itself, which had handed the entries already: no read.
        await heard_here.wait()
        assert reads_here == [] and user_id not in hub_here._reading  # none started
    finally:
        for listener in listeners:
            await listener.stop()
        await here.close()
        await there.close()


async def test_feed_reads_do_not_wait_for_the_merges_connections(pg_url: str) -> None:
    """Reads of the feed to send have a pool of their own (PostgreSQL): with every
    connection of the merges' pool taken, a device's feed is still read."""
    store = Store.for_url(pg_url, clock=Clock())
    await store.open()
    await store.load_catalog(catalog())
    user_id, device_id = await learner(store)
    await store.merge(device_id, [ev(1)])
    engine = store.engine
    assert isinstance(engine, PostgresEngine)
    held = [await engine.pool.acquire() for _ in range(engine.pool.get_max_size())]
    try:
        entries = await asyncio.wait_for(store.feed_after(user_id, 0, 10), 30)
        assert entries[0].seq == 1
        assert await asyncio.wait_for(store.feed_head(user_id), 30) == entries[-1].user_seq
    finally:
        for conn in held:
            await engine.pool.release(conn)
        await store.close()


async def test_the_backlog_counts_announced_entries_not_handed_yet(store: Store) -> None:
    """``waymark_fanout_backlog``: a head heard during a local write is owed until that
    write hands its entries; what was handed (and nobody follows) is owed to no one."""
    user_id, device_id = await learner(store)
    hub, conn = Hub(store), Conn(store)
    hub.follow(conn, [user_id])
    with hub.local_write(user_id):
        result = await store.merge(device_id, [ev(1), ev(2)])
        hub.heard(user_id, result.feed_head)  # our own NOTIFY, heard before the hand-off
        assert hub.backlog() == result.feed_head
        hub.committed(user_id, result.entries)
    assert hub.backlog() == 0
    hub.heard(user_id, result.feed_head + 5)  # another instance's commit, being read
    assert hub.backlog() == 5
    hub.unfollow(conn, [user_id])
    assert hub.backlog() == 0
    hub.unsent = 3  # what connections were handed and have not sent (they count it)
    assert hub.backlog() == 3
