"""Scratch databases for one bench run, the learners in them, and the baseline: the same
feed rows written straight into a table of the feed's shape, on the same database.

PostgreSQL: a fresh schema per run (dropped after); baseline = ``COPY`` (asyncpg
``copy_records_to_table``) into ``bench_feed``, created ``LIKE feed INCLUDING ALL`` (same
columns, primary key and partial unique index), one transaction per batch. SQLite: a fresh
file per run; baseline = ``executemany`` in one transaction per batch into a copy of the
feed's DDL, with the server's pragmas (WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import asyncpg

from cli.bench.workload import FEED_COLUMNS, FeedRow, demo_catalog
from server.storage.store import Store

Tick = Callable[[int], None]
PASSWORD = "bench"


@dataclass(frozen=True)
class Login:
    """One device of one learner, as a login would return it."""

    user_id: str
    device_id: str
    token: str


@dataclass(frozen=True)
class Written:
    """A baseline's timing: seconds from the first commit's start to the last's end, and
    every commit's duration."""

    seconds: float
    commits: list[float]


def _batches(rows: Sequence[FeedRow], batch: int) -> list[Sequence[FeedRow]]:
    return [rows[i : i + batch] for i in range(0, len(rows), batch)]


class Target(ABC):
    """One fresh database for one run."""

    kind: str
    url: str

    @abstractmethod
    async def create(self) -> None: ...

    @abstractmethod
    async def drop(self) -> None: ...

    @abstractmethod
    async def baseline(
        self, writers: Sequence[Sequence[FeedRow]], batch: int, tick: Tick, *, warmup: int = 0
    ) -> Written:
        """Write each writer's rows, ``batch`` rows per transaction (writers concurrently
        where the engine allows it). The first ``warmup`` rows of each writer are written
        before the clock starts."""


class PostgresTarget(Target):
    kind = "postgresql"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.schema = f"waymark_bench_{uuid.uuid4().hex[:10]}"
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}search_path={self.schema}"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.base_url, timeout=30)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self._admin(f"CREATE SCHEMA {self.schema}")

    async def drop(self) -> None:
        await self._admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    async def baseline(
        self, writers: Sequence[Sequence[FeedRow]], batch: int, tick: Tick, *, warmup: int = 0
    ) -> Written:
        settings = {"search_path": self.schema}
        conns = [
            await asyncpg.connect(self.base_url, server_settings=settings, timeout=30)
            for _ in writers
        ]
        try:
            await conns[0].execute("CREATE TABLE bench_feed (LIKE feed INCLUDING ALL)")
            commits: list[float] = []

            async def copy(conn: asyncpg.Connection, rows: Sequence[FeedRow]) -> None:
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "bench_feed", records=rows, columns=FEED_COLUMNS, schema_name=self.schema
                    )

            async def write(conn: asyncpg.Connection, rows: Sequence[FeedRow]) -> None:
                for chunk in _batches(rows, batch):
                    began = time.perf_counter()
                    await copy(conn, chunk)
                    commits.append(time.perf_counter() - began)
                    tick(len(chunk))

            for conn, rows in zip(conns, writers, strict=True):
                for chunk in _batches(rows[:warmup], batch):
                    await copy(conn, chunk)
            began = time.perf_counter()
            await asyncio.gather(
                *(write(c, rows[warmup:]) for c, rows in zip(conns, writers, strict=True))
            )
            return Written(time.perf_counter() - began, commits)
        finally:
            for conn in conns:
                await conn.close()


class SqliteTarget(Target):
    kind = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"bench-{uuid.uuid4().hex[:10]}.db"
        self.url = f"sqlite:///{self.path}"

    async def create(self) -> None:
        pass  # the store creates the file

    async def drop(self) -> None:
        await asyncio.to_thread(self._remove)

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    async def baseline(
        self, writers: Sequence[Sequence[FeedRow]], batch: int, tick: Tick, *, warmup: int = 0
    ) -> Written:
        return await asyncio.to_thread(self._baseline, writers, batch, tick, warmup)

    def _baseline(
        self, writers: Sequence[Sequence[FeedRow]], batch: int, tick: Tick, warmup: int
    ) -> Written:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            for statement in _feed_ddl(conn):
                conn.execute(statement)
            insert = (
                f"INSERT INTO bench_feed ({', '.join(FEED_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(FEED_COLUMNS))})"
            )

            def write(rows: Sequence[FeedRow]) -> None:
                conn.execute("BEGIN")
                conn.executemany(insert, rows)
                conn.execute("COMMIT")

            for rows in writers:
                for chunk in _batches(rows[:warmup], batch):
                    write(chunk)
            # One writer at a time (as the server's one writer connection): batches of the
            # writers in turn.
            queues = [_batches(rows[warmup:], batch) for rows in writers]
            commits: list[float] = []
            began = time.perf_counter()
            for turn in range(max(len(q) for q in queues)):
                for queue in queues:
                    if turn < len(queue):
                        start = time.perf_counter()
                        write(queue[turn])
                        commits.append(time.perf_counter() - start)
                        tick(len(queue[turn]))
            return Written(time.perf_counter() - began, commits)
        finally:
            conn.close()


def _feed_ddl(conn: sqlite3.Connection) -> list[str]:
    """The server's own DDL of ``feed`` and its indexes, renamed to ``bench_feed``."""
    rows = conn.execute(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'feed' AND sql IS NOT NULL"
        " ORDER BY type = 'index'"
    ).fetchall()
    if not rows:
        raise sqlite3.OperationalError("the server's database has no feed table")
    out = []
    for kind, sql in rows:
        if kind == "table":
            out.append(re.sub(r'^CREATE TABLE\s+"?feed"?', "CREATE TABLE bench_feed", sql))
        else:
            out.append(
                re.sub(
                    r'INDEX\s+"?(\w+)"?\s+ON\s+"?feed"?\b',
                    r"INDEX bench_\1 ON bench_feed",
                    sql,
                )
            )
    return out


def _one_hash() -> contextlib.AbstractContextManager[object]:
    """While seeding, every bench learner gets the same (valid) argon2id hash of
    :data:`PASSWORD`: a thousand learners would otherwise spend a minute hashing, and
    nothing measured checks a password. Where the store's module has no ``hash_password``
    to share, seeding just takes longer."""
    module = inspect.getmodule(Store.create_user)
    hash_password = getattr(module, "hash_password", None)
    if module is None or not callable(hash_password):
        return contextlib.nullcontext()
    shared = hash_password(PASSWORD)
    return mock.patch.object(module, "hash_password", lambda *_a, **_k: shared)


async def seed(url: str, devices: Sequence[int], tick: Tick) -> tuple[str, list[list[Login]]]:
    """Migrate the database at ``url``, load the demo catalog and create learner ``i``
    (``bench{i}``) with ``devices[i]`` devices. Returns the catalog version and each
    learner's devices."""
    store = Store.for_url(url)
    await store.open()
    try:
        version = await store.load_catalog(demo_catalog())
        limit = asyncio.Semaphore(8)
        with _one_hash():
            learners = await asyncio.gather(
                *(_learner(store, limit, i, n, tick) for i, n in enumerate(devices))
            )
    finally:
        await store.close()
    return version, list(learners)


async def _learner(
    store: Store, limit: asyncio.Semaphore, index: int, count: int, tick: Tick
) -> list[Login]:
    async with limit:
        user = await store.create_user(f"bench{index}", PASSWORD)
        logins = []
        for n in range(count):
            device, token = await store.register_device(user.id, f"bench{index}-{n}")
            logins.append(Login(user.id, device.id, token))
        tick(1)
        return logins
