"""SQLite group commit: writes that queue for the one writer share a COMMIT, each still
rolls back alone, and nobody leaves its transaction before the COMMIT holding its writes
is durable (or learns that it failed)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.storage.engine import SqliteEngine, open_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[SqliteEngine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'group.db'}")
    assert isinstance(engine, SqliteEngine)
    await engine.open()
    async with engine.transaction() as txn:
        await txn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
        await txn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await txn.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER"
            " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    yield engine
    await engine.close()


async def _rows(engine: SqliteEngine) -> list[int]:
    return [row[0] for row in await engine.fetch("SELECT n FROM t ORDER BY n")]


class _Writers:
    """A first writer that holds the writer until ``count`` others queue behind it."""

    def __init__(self, engine: SqliteEngine, count: int) -> None:
        self.engine = engine
        self.count = count
        self.seen_after: dict[int, list[int]] = {}

    async def first(self, body: int | None = 0) -> None:
        async with self.engine.transaction() as txn:
            await txn.execute("INSERT INTO t VALUES (?)", 0)
            # The queue has no event to wait on: yield turns of the loop (no time passes)
            # until the others have queued behind this writer.
            while self.engine._queued < self.count:  # noqa: ASYNC110
                await asyncio.sleep(0)
            if body is None:
                raise RuntimeError("the first fails")
        self.seen_after[0] = await _rows(self.engine)

    async def other(self, n: int, fail: bool = False) -> None:
        async with self.engine.transaction() as txn:
            await txn.execute("INSERT INTO t VALUES (?)", n)
            if fail:
                raise RuntimeError(f"writer {n} fails")
        # Out of the block: the COMMIT holding this row is done, so a reader sees it.
        self.seen_after[n] = await _rows(self.engine)


async def test_queued_writers_share_one_commit_and_see_their_rows_after(
    engine: SqliteEngine,
) -> None:
    writers = _Writers(engine, 5)
    async with engine.trace() as sent:
        await asyncio.gather(writers.first(), *(writers.other(n) for n in range(1, 6)))
    assert await _rows(engine) == [0, 1, 2, 3, 4, 5]
    assert sent.count("COMMIT") == 1
    assert sent.count("BEGIN IMMEDIATE") == 1
    for n, seen in writers.seen_after.items():
        assert n in seen


async def test_a_joiner_that_fails_rolls_back_alone(engine: SqliteEngine) -> None:
    writers = _Writers(engine, 3)
    results = await asyncio.gather(
        writers.first(),
        writers.other(1),
        writers.other(2, fail=True),
        writers.other(3),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [type(None), type(None), RuntimeError, type(None)]
    assert await _rows(engine) == [0, 1, 3]


async def test_a_first_writer_that_fails_leaves_the_others_to_a_new_group(
    engine: SqliteEngine,
) -> None:
    writers = _Writers(engine, 2)
    results = await asyncio.gather(
        writers.first(None), writers.other(1), writers.other(2), return_exceptions=True
    )
    assert isinstance(results[0], RuntimeError)
    assert await _rows(engine) == [1, 2]


async def test_a_failed_commit_fails_every_writer_of_the_group(engine: SqliteEngine) -> None:
    """A deferred foreign key breaks the shared COMMIT: nobody may think it committed."""

    async def orphan() -> None:
        async with engine.transaction() as txn:
            await txn.execute("INSERT INTO child VALUES (1, 99)")  # no parent 99

    writers = _Writers(engine, 2)
    results = await asyncio.gather(
        writers.first(), writers.other(1), orphan(), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert await _rows(engine) == []
    assert await engine.fetch("SELECT * FROM child") == []
    # The writer is usable again.
    async with engine.transaction() as txn:
        await txn.execute("INSERT INTO t VALUES (7)")
    assert await _rows(engine) == [7]


async def test_a_writer_alone_commits_at_once(engine: SqliteEngine) -> None:
    async with engine.trace() as sent:
        async with engine.transaction() as txn:
            await txn.execute("INSERT INTO t VALUES (1)")
        assert sent[-1] == "COMMIT"
    assert await _rows(engine) == [1]
