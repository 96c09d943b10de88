"""Acceptance: facts converge. Several devices of one learner record offline with skewed
clocks and sync in random interleavings, with duplicated pushes, lost acks, partitions and
journals restored from backups; afterwards the server and every device show the same state,
and no second of time is lost or counted twice. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage.store import Store
from sync.catalog import parse_catalog
from sync.events import Event
from sync.fold import Fact, fold
from sync.hlc import HybridClock
from sync.views import progress_view
from tests.conftest import CATALOG

CAT = parse_catalog(CATALOG.read_text(), "yaml")
T0 = 1_763_790_000_000
_names = itertools.count()


@dataclass
class SimDevice:
    """A device as the client keeps it: its journal, what it knows was acked, its feed."""

    device_id: str
    skew_ms: int
    clock: HybridClock = field(default_factory=HybridClock)
    journal: list[Event] = field(default_factory=list)
    acked: int = 0
    cursor: int = 0
    feed: dict[int, Any] = field(default_factory=dict)
    backup: tuple[int, int, dict[int, Any]] | None = None

    def record(self, now: int, type_: str, body: dict[str, Any]) -> None:
        at = now + self.skew_ms
        self.journal.append(Event(len(self.journal) + 1, self.clock.tick(at), at, type_, body))

    def view(self) -> Any:
        """What the client shows: feed facts plus own events the feed has not yet settled."""
        seen = {(e.device_id, e.seq) for e in self.feed.values() if e.origin == "device"}
        seen |= {
            (e.body["device_id"], e.body["seq"])
            for e in self.feed.values()
            if e.type == "event.rejected"
        }
        facts = [
            Fact(e.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.feed.values()
            if e.origin == "device"
        ]
        facts += [
            Fact(self.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.journal
            if (self.device_id, e.seq) not in seen
        ]
        return progress_view(fold(facts), CAT)


lessons = st.sampled_from(["read", "intro", "video", "lab"])
facts = st.one_of(
    st.tuples(st.just("lesson.opened"), lessons, st.just({})),
    st.tuples(st.just("lesson.completed"), lessons, st.just({})),
    st.tuples(st.just("lesson.uncompleted"), lessons, st.just({})),
    st.tuples(
        st.just("lesson.progressed"),
        lessons,
        st.builds(
            lambda s, a, b: {"seconds": s} | ({"from": a, "to": a + b} if b else {}),
            st.integers(0, 300),
            st.integers(0, 150),
            st.integers(0, 50),
        ),
    ),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(0, 3), facts),
        st.tuples(
            st.just("sync"),
            st.integers(0, 3),
            st.fixed_dictionaries(
                {"drop_ack": st.booleans(), "dup": st.booleans(), "pull": st.booleans()}
            ),
        ),
        st.tuples(st.just("backup"), st.integers(0, 3), st.none()),
        st.tuples(st.just("restore"), st.integers(0, 3), st.none()),
    ),
    min_size=5,
    max_size=60,
)


async def sync(
    store: Store, user_id: str, dev: SimDevice, drop_ack: bool, dup: bool, pull: bool
) -> None:
    pending = [e for e in dev.journal if e.seq > dev.acked]
    for start in range(0, len(pending), 7):
        batch = pending[start : start + 7]
        result = await store.merge(dev.device_id, batch)
        if dup:
            await store.merge(dev.device_id, batch)  # a retransmitted frame
        if not drop_ack:
            dev.acked = result.acked_seq
    if pull:
        for entry in await store.feed_after(user_id, dev.cursor, 1000):
            dev.feed[entry.user_seq] = entry
            dev.clock.observe(entry.hlc, T0)
        dev.cursor = max(dev.feed, default=0)


async def reconnect(store: Store, dev: SimDevice) -> None:
    """The handshake tells the device the highest seq of its own that the server holds."""
    device = await store.device_by_id(dev.device_id)
    assert device is not None
    dev.acked = device.acked_seq


async def scenario(store: Store, script: list[tuple[str, int, Any]], skews: list[int]) -> None:
    user = await store.create_user(f"u{next(_names)}", "pw")
    devices = []
    for skew in skews:
        device, _ = await store.register_device(user.id, "d")
        devices.append(SimDevice(device.id, skew))
    now = T0
    for action, index, arg in script:
        dev = devices[index % len(devices)]
        now += 1000
        match action:
            case "record":
                type_, lesson, extra = arg
                dev.record(now, type_, {"course": "c1", "lesson": lesson, **extra})
            case "sync":
                await reconnect(store, dev)
                await sync(store, user.id, dev, **arg)
            case "backup":
                dev.backup = (dev.acked, dev.cursor, dict(dev.feed))
            case "restore" if dev.backup is not None:
                dev.acked, dev.cursor, dev.feed = dev.backup[0], dev.backup[1], dict(dev.backup[2])
    for dev in devices + devices:  # everyone comes online at the end, twice round
        await reconnect(store, dev)
        await sync(store, user.id, dev, drop_ack=False, dup=False, pull=True)

    server_state = await store.user_state(user.id)
    feed = await store.feed_after(user.id, 0, 100_000)
    assert server_state == fold(
        [
            Fact(e.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in feed
            if e.origin == "device"
        ]
    )
    expected = progress_view(server_state, CAT)
    for dev in devices:
        assert dev.view() == expected
    rejected = {(e.body["device_id"], e.body["seq"]) for e in feed if e.type == "event.rejected"}
    recorded = sum(
        e.body.get("seconds", 0)
        for d in devices
        for e in d.journal
        if e.type == "lesson.progressed" and (d.device_id, e.seq) not in rejected
    )
    assert sum(x.seconds for x in server_state.lessons.values()) == recorded
    # every recorded event is settled exactly once: accepted into the feed or rejected
    assert len(feed) == sum(len(d.journal) for d in devices)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps, skews=st.lists(st.integers(-3_600_000, 3_600_000), min_size=3, max_size=4))
def test_every_device_and_the_server_converge(db_url: str, script, skews) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        store = Store.for_url(db_url)
        await store.open()
        await store.load_catalog(CAT)
        try:
            await scenario(store, script, skews)
        finally:
            await store.close()

    asyncio.run(run())


def test_concurrent_offline_edits_lose_nothing_in_either_order(db_url: str) -> None:
    """Device A spends 100 s and completes offline, B spends 50 s; both sync, either order."""

    async def run(order: list[int]) -> None:
        store = Store.for_url(db_url)
        await store.open()
        await store.load_catalog(CAT)
        user = await store.create_user(f"u{next(_names)}", "pw")
        a = SimDevice((await store.register_device(user.id, "a"))[0].id, 0)
        b = SimDevice((await store.register_device(user.id, "b"))[0].id, 5000)
        body = {"course": "c1", "lesson": "read"}
        a.record(T0, "lesson.progressed", body | {"seconds": 100})
        a.record(T0 + 1, "lesson.completed", body)
        b.record(T0, "lesson.progressed", body | {"seconds": 50})
        pair = [a, b]
        for i in order + order:
            await sync(store, user.id, pair[i], drop_ack=False, dup=False, pull=True)
        for dev in pair:
            lesson = dev.view()[0].modules[0].lessons[0]
            assert (lesson.status, lesson.seconds) == ("completed", 150)
        await store.close()

    asyncio.run(run([0, 1]))
    asyncio.run(run([1, 0]))
