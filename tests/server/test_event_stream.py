"""The event stream's reads (``Store.events_after``, ``docs/events.md``, "The cursor"), on
SQLite and PostgreSQL: every committed event once, in commit order, each learner's in feed
order, resumable from any cursor; and on PostgreSQL, with writers that commit out of the
order they wrote in, still nothing skipped."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from server.storage.engine import Txn, _migrations, open_engine
from server.storage.outbox import START, Cursor, StreamItem
from server.storage.store import Store
from sync.events import Event
from tests.server.conftest import T0

_names = itertools.count()


def completed(seq: int, lesson: str, *, undo: bool = False) -> Event:
    at = T0 + seq * 1000
    type_ = "lesson.uncompleted" if undo else "lesson.completed"
    return Event(seq, f"{at:013d}-0000", at, type_, {"course": "c1", "lesson": lesson})


async def learner(store: Store) -> tuple[str, str]:
    user = await store.create_user(f"s{next(_names)}", "pw")
    device, _ = await store.register_device(user.id, "laptop")
    return user.id, device.id


async def every_row(store: Store) -> list[tuple[str, str, int, int]]:
    """(id, user_id, user_seq, n) of every outbox row."""
    rows = await store.engine.fetch("SELECT id, user_id, user_seq, n FROM outbox")
    return [(r["id"], r["user_id"], int(r["user_seq"]), int(r["n"])) for r in rows]


async def read_all(
    store: Store, after: Cursor = START, limit: int = 3, *, count: int | None = None
) -> list[StreamItem]:
    """Page from ``after`` until ``count`` events were read (None: until a page is empty).
    On PostgreSQL the stream waits for the oldest transaction running anywhere in the
    cluster (other tests' too), so what just committed may take a moment to appear."""
    out: list[StreamItem] = []
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        page = await store.events_after(after, limit)
        out += page
        if page:
            after = page[-1].cursor
        elif count is None or len(out) >= count:
            return out
        else:
            assert asyncio.get_running_loop().time() < deadline, f"{len(out)} of {count}"
            await asyncio.sleep(0.01)


async def follow(store: Store, done: asyncio.Event, seen: list[StreamItem], limit: int) -> None:
    """Page all along while writers write; once they are ``done``, until every outbox row
    was read."""
    after = START
    deadline: float | None = None
    while True:
        page = await store.events_after(after, limit)
        seen.extend(page)
        if page:
            after = page[-1].cursor
            continue
        if done.is_set():
            total = int(await store.engine.fetchval("SELECT count(*) FROM outbox"))
            if len(seen) >= total:
                return
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + 60
            assert loop.time() < deadline, f"read {len(seen)} of {total}"
            await asyncio.sleep(0.01)  # the horizon waits for another transaction
        else:
            await asyncio.sleep(0)  # yield to the writers


def in_learner_order(items: Iterable[StreamItem]) -> None:
    """Each learner's events come in feed order: by (user_seq, n) of their ids."""
    last: dict[str, tuple[int, int]] = {}
    for item in items:
        user, seq, n = item.event.id.rsplit(":", 2)
        key = (int(seq), int(n))
        assert key > last.get(user, (0, -1)), item.event.id
        last[user] = key


async def test_pages_hold_every_event_once_in_order_and_resume_anywhere(store: Store) -> None:
    learners = [await learner(store) for _ in range(3)]
    for round_ in range(3):
        for i, (_, device) in enumerate(learners):
            seq = round_ * 2
            await store.merge(
                device,
                [completed(seq + 1, "read"), completed(seq + 2, "read", undo=i % 2 == 0)],
            )
    rows = await every_row(store)
    items = await read_all(store, count=len(rows))
    ids = [i.event.id for i in items]
    assert sorted(ids) == sorted(r[0] for r in rows)
    assert len(set(ids)) == len(ids) > 10
    in_learner_order(items)
    assert [i.cursor for i in items] == sorted(i.cursor for i in items)
    # The envelope: the catalog's version, the learner's name, both times.
    first = items[0].event
    names = {u.id: u.username for u in [await store.user_by_id(uid) for uid, _ in learners] if u}
    assert first.learner.username == names[first.learner.id]
    assert first.version == 1 and first.recorded_at > T0 and first.occurred_at >= T0
    # Resuming from any cursor gives exactly the rest.
    for k in range(len(items)):
        assert await read_all(store, items[k].cursor, limit=4) == items[k + 1 :]
    assert await store.events_after(items[-1].cursor, 10) == []


async def test_a_types_filter_reads_only_those_events(store: Store) -> None:
    _, device = await learner(store)
    await store.merge(device, [completed(1, "read"), completed(2, "read", undo=True)])
    everything = await read_all(store, count=len(await every_row(store)))
    only = await store.events_after(START, 100, types={"progress.lesson.completed"})
    assert [i.event.type for i in only] == ["progress.lesson.completed"]
    assert only == [i for i in everything if i.event.type == "progress.lesson.completed"]
    assert await store.events_after(START, 100, types=set()) == []


async def test_concurrent_merges_lose_nothing_while_a_reader_follows(store: Store) -> None:
    learners = [await learner(store) for _ in range(6)]
    done = asyncio.Event()
    seen: list[StreamItem] = []

    async def write(device: str) -> None:
        for seq in range(1, 13, 2):
            await store.merge(
                device, [completed(seq, "read"), completed(seq + 1, "read", undo=True)]
            )

    reader = asyncio.create_task(follow(store, done, seen, 5))
    await asyncio.gather(*(write(device) for _, device in learners))
    done.set()
    await asyncio.wait_for(reader, 120)
    ids = [i.event.id for i in seen]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(r[0] for r in await every_row(store))
    assert len(ids) >= 6 * 6 * 2
    in_learner_order(seen)


# -- PostgreSQL: commits out of the order of the writes ----------------------------------------


async def insert_txn(txn: Txn, user_id: str, user_seq: int) -> None:
    """One outbox row, as a merge writes it (the stream reads nothing else of it)."""
    await txn.execute(
        "INSERT INTO outbox (user_id, id, user_seq, n, type, body, occurred_at, recorded_at)"
        " VALUES (?, ?, ?, 0, 'progress.updated', ?, ?, ?)",
        user_id,
        f"{user_id}:{user_seq}:0",
        user_seq,
        '{"course": "c1", "percent": 25, "previous": 0, "status": "in_progress"}',
        T0,
        T0,
    )


async def pos_of(store: Store, event_id: str) -> int:
    return int(await store.engine.fetchval("SELECT pos FROM outbox WHERE id = ?", event_id))


@pytest.mark.postgres
async def test_a_row_committed_after_later_ones_is_still_read(pg_url: str) -> None:
    store = Store.for_url(pg_url)
    await store.open()
    try:
        (slow, _), (fast, _) = await learner(store), await learner(store)
        wrote, release = asyncio.Event(), asyncio.Event()

        async def held() -> None:
            async with store.engine.transaction(learner=slow) as txn:
                await insert_txn(txn, slow, 1)
                wrote.set()
                await release.wait()  # others commit meanwhile

        task = asyncio.create_task(held())
        try:
            await wrote.wait()
            async with store.engine.transaction(learner=fast) as txn:
                await insert_txn(txn, fast, 1)
            # While it is open, the reader stops below it: the committed row waits too.
            assert await store.events_after(START, 10) == []
        finally:
            release.set()
            await task
        # The late row took its position first: a reader by position alone would pass it.
        assert await pos_of(store, f"{slow}:1:0") < await pos_of(store, f"{fast}:1:0")
        items = await read_all(store, count=2)
        assert [i.event.id for i in items] == [f"{slow}:1:0", f"{fast}:1:0"]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_learners_events_keep_feed_order_when_ids_were_taken_out_of_order(
    pg_url: str,
) -> None:
    """A transaction whose id was assigned before it waited for the learner's lock commits
    after the one holding the lock: its row still comes after in the stream."""
    store = Store.for_url(pg_url)
    await store.open()
    try:
        user, _ = await learner(store)
        early_id, holding, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def early() -> None:
            async with store.engine.transaction() as txn:
                await txn.fetchval("SELECT pg_current_xact_id()::text")  # id taken now
                early_id.set()
                await holding.wait()
                await txn.execute("SELECT 1 FROM user_state WHERE user_id = ? FOR UPDATE", user)
                await insert_txn(txn, user, 2)

        async def first() -> None:
            await early_id.wait()
            async with store.engine.transaction(learner=user) as txn:
                holding.set()
                await insert_txn(txn, user, 1)
                await release.wait()

        tasks = [asyncio.create_task(early()), asyncio.create_task(first())]
        try:
            await asyncio.wait_for(holding.wait(), 30)
        finally:
            release.set()
            await asyncio.gather(*tasks)
        ids = [i.event.id for i in await read_all(store, count=2)]
        assert ids == [f"{user}:1:0", f"{user}:2:0"]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_many_writers_on_several_connections_against_a_following_reader(
    pg_url: str,
) -> None:
    """Eight writers on their own connections, each with ten transactions; at the fifth all
    eight hold their transactions open together, then commit in a shuffled order (seeded),
    and every transaction yields a random number of times between its write and its
    commit; a reader on another pool pages all along. It reads every row once, each
    learner's in order."""
    writers = Store.for_url(pg_url)
    reader = Store.for_url(pg_url)
    await writers.open()
    await reader.open()
    try:
        users = [(await learner(writers))[0] for _ in range(8)]
        together = asyncio.Barrier(len(users))
        done = asyncio.Event()
        seen: list[StreamItem] = []

        async def write(index: int, user: str) -> None:
            rng = random.Random(index)
            for seq in range(1, 11):
                async with writers.engine.transaction(learner=user) as txn:
                    await insert_txn(txn, user, seq)
                    if seq == 5:
                        await together.wait()
                    for _ in range(rng.randint(0, 20)):
                        await asyncio.sleep(0)  # let others write and commit meanwhile

        task = asyncio.create_task(follow(reader, done, seen, 7))
        await asyncio.gather(*(write(i, u) for i, u in enumerate(users)))
        done.set()
        await asyncio.wait_for(task, 120)
        ids = [i.event.id for i in seen]
        assert len(ids) == len(set(ids)) == 80
        assert sorted(ids) == sorted(r[0] for r in await every_row(writers))
        in_learner_order(seen)
        # The schedule did commit rows out of their positions' order (else this proves
        # nothing): some row was read after a row with a higher position.
        positions = [await pos_of(writers, i) for i in ids]
        assert positions != sorted(positions)
    finally:
        await reader.close()
        await writers.close()


# -- migration 17 on a database that has outbox rows -------------------------------------------


async def migrated_with_old_rows(url: str) -> Store:
    """A database at migration 13 with outbox rows under the old names, then opened (so
    migrated to the end)."""
    engine = open_engine(url)
    await engine.open()
    try:
        async with engine.transaction() as txn:
            await txn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            for number, name, sql in _migrations(engine.dialect):
                if number > 13:
                    break
                await engine._script_txn(txn, sql)
                await txn.execute(
                    "INSERT INTO schema_version (version, name) VALUES (?, ?)", number, name
                )
            old = [
                ("u2", 1, "progress.quiz.scored", "{}", T0 + 5),
                ("u1", 1, "progress.enrollment.changed", '{"from": null, "to": "enrolled"}', T0),
                (
                    "u1",
                    2,
                    "progress.enrollment.changed",
                    '{"from": "enrolled", "to": "paused"}',
                    T0,
                ),
                ("u1", 3, "progress.quiz.failed", "{}", T0 + 1),
                ("u1", 4, "progress.quiz.passed", "{}", T0 + 2),
                ("u1", 5, "progress.updated", "{}", T0 + 3),
            ]
            for user, seq, type_, body, at in old:
                await txn.execute(
                    "INSERT INTO outbox (user_id, id, user_seq, n, type, body, occurred_at,"
                    " recorded_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                    user,
                    f"{user}:{seq}:0",
                    seq,
                    type_,
                    body,
                    at,
                    at,
                )
    finally:
        await engine.close()
    store = Store.for_url(url)
    await store.open()
    return store


async def check_migrated(store: Store) -> None:
    rows = await store.engine.fetch("SELECT id, type, pos FROM outbox ORDER BY pos")
    assert [(r["id"], r["type"]) for r in rows] == [
        ("u1:1:0", "progress.enrollment.created"),
        ("u1:2:0", "progress.enrollment.status_changed"),
        ("u1:3:0", "progress.assessment.failed"),
        ("u1:4:0", "progress.assessment.passed"),
        ("u1:5:0", "progress.updated"),
        ("u2:1:0", "progress.assessment.completed"),
    ]
    assert [int(r["pos"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    # New rows continue after them.
    async with store.engine.transaction() as txn:
        await insert_txn(txn, "u3", 1)
    assert int(await store.engine.fetchval("SELECT pos FROM outbox WHERE user_id = 'u3'")) == 7


async def test_migration_17_renames_old_types_and_numbers_old_rows_on_sqlite(
    tmp_path: Path,
) -> None:
    store = await migrated_with_old_rows(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        await check_migrated(store)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_migration_17_renames_old_types_and_numbers_old_rows_on_postgresql(
    pg_url: str,
) -> None:
    store = await migrated_with_old_rows(pg_url)
    try:
        await check_migrated(store)
        assert {r["tx"] for r in await store.engine.fetch("SELECT tx::text FROM outbox")} >= {"0"}
    finally:
        await store.close()
