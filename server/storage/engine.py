"""Database engines: the one place where SQLite and PostgreSQL differ.

Queries are written once with ``?`` placeholders; :class:`PostgresEngine` rewrites them to
``$n``. Call :func:`open_engine` with a URL, then :meth:`Engine.transaction` for writes
(with ``learner=user_id`` to serialize one learner's writes: a row lock on the learner's
row, which works on any node of a sharded database) and :meth:`Engine.fetch` /
:meth:`Engine.fetchrow` for reads. :meth:`Txn.insert_rows` inserts many rows with one
statement. :meth:`Engine.trace` reports every statement sent (for the statement-count
tests), BEGIN and COMMIT included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from server.errors import StoreUnavailable

Row = Mapping[str, Any]


class _Reads(ABC):
    """``fetchrow``/``fetchval`` on top of ``fetch``, for engines and transactions alike."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]  # type: ignore[index]


class Txn(_Reads):
    """One open transaction; functions that take one end in ``_txn``."""

    #: Whether SELECT … FOR UPDATE locks rows (PostgreSQL); where one writer holds the
    #: whole database (SQLite) there is nothing to lock.
    row_locks: bool = False

    def locking(self, *aliases: str) -> str:
        """A suffix for a SELECT that locks the rows it reads of ``aliases`` until commit.
        Read in the same statement, only the locked rows are sure to be current once the
        lock is granted (READ COMMITTED re-reads those alone): lock every row you rely on."""
        return f" FOR UPDATE OF {', '.join(aliases)}" if self.row_locks else ""

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    async def notify(self, channel: str, payload: str) -> None:
        """Tell every listener on ``channel``, at commit (PostgreSQL ``NOTIFY``). Where one
        process owns the database (SQLite) there is nobody else to tell: nothing is sent."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    async def insert_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
    ) -> None:
        """``INSERT INTO table (columns) … suffix`` of every row, in one statement (a few,
        for batches above the engine's parameter limit). ``columns`` are (name, SQL type)
        pairs: PostgreSQL needs the types to ``unnest`` one array per column."""


class Engine(_Reads):
    """A connection pool for one database, with capability flags for dialect branches."""

    dialect: str
    #: Row locks across processes exist (PostgreSQL). SQLite has one writer.
    multi_process_locks: bool
    #: Transactions commit out of the order they write in, so readers of commit order need
    #: the snapshot's xmin (PostgreSQL's xid8 functions: docs/events.md, "The cursor").
    #: SQLite has one writer: the order of insert is the order of commit.
    concurrent_commits: bool
    url: str
    _tracers: list[Callable[[str], None]]

    @asynccontextmanager
    async def trace(self) -> AsyncIterator[list[str]]:
        """``async with engine.trace() as sent``: ``sent`` lists every statement sent to
        the database meanwhile (on any connection of this engine), in order. The drivers'
        hooks are set only while someone traces: untraced queries pay nothing."""
        sent: list[str] = []
        if not self._tracers:
            await self._hook(True)
        self._tracers.append(sent.append)
        try:
            yield sent
        finally:
            await asyncio.sleep(0)  # asyncpg hands its query logs over with call_soon
            self._tracers.remove(sent.append)
            if not self._tracers:
                await self._hook(False)

    def _traced(self, sql: str) -> None:
        for tracer in self._tracers:
            tracer(sql)

    @abstractmethod
    async def _hook(self, on: bool) -> None:
        """Start or stop reporting statements to :meth:`_traced`."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def in_use(self) -> dict[str, int]:
        """Connections checked out now, per pool (``waymark_db_pool_in_use``); no I/O."""

    async def read_feed(self, sql: str, *args: Any) -> list[Row]:
        """A read of feed entries to send to devices (backlog, catch-up, fan-out). On
        PostgreSQL it has a pool of its own, so a burst of them never waits for merges'
        connections, nor they for it; SQLite reads on its reader connection anyway."""
        return await self.fetch(sql, *args)

    @abstractmethod
    def transaction(self, lock: str | None = None, *, learner: str | None = None) -> Any:
        """``async with engine.transaction(learner=user_id) as txn``: commit on success.

        ``learner`` locks that learner's row (``user_state``) first: every write of a
        learner's data takes it, so they run one at a time. A transaction that reads the
        learner's row itself with :meth:`Txn.locking` needs no ``learner``. ``lock`` is a named
        lock for work that is not a learner's (migrations, secrets)."""

    async def migrate(self) -> list[int]:
        """Apply numbered migrations above the recorded version; return those applied."""
        applied: list[int] = []
        async with self.transaction(lock="waymark:migrations") as txn:
            await txn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            done = {r["version"] for r in await txn.fetch("SELECT version FROM schema_version")}
            for number, name, sql in _migrations(self.dialect):
                if number not in done:
                    await self._script_txn(txn, sql)
                    await txn.execute(
                        "INSERT INTO schema_version (version, name) VALUES (?, ?)", number, name
                    )
                    applied.append(number)
        return applied

    @abstractmethod
    async def _script_txn(self, txn: Txn, sql: str) -> None: ...


def _migrations(dialect: str) -> list[tuple[int, str, str]]:
    """Numbered steps: ``migrations/NNNN_name.sql`` for both engines, or, where the SQL
    differs, ``migrations/<dialect>/NNNN_name.sql`` (which takes that number's place)."""
    root = resources.files("server.storage") / "migrations"
    steps: dict[int, tuple[str, str]] = {}
    for folder in (root, root / dialect):
        if not folder.is_dir():  # no step differs on this engine
            continue
        for entry in folder.iterdir():
            match = re.match(r"^(\d+)_.*\.sql$", entry.name)
            if match:
                steps[int(match.group(1))] = (entry.name, entry.read_text())
    return [(number, name, sql) for number, (name, sql) in sorted(steps.items())]


# -- SQLite -------------------------------------------------------------------------------


#: SQLite's default limit of bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER).
_SQLITE_MAX_PARAMS = 32_766


class _SqliteTxn(Txn):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def insert_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
    ) -> None:
        names = ", ".join(name for name, _ in columns)
        row = "(" + ", ".join("?" * len(columns)) + ")"
        per = max(1, _SQLITE_MAX_PARAMS // len(columns))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([row] * len(chunk))
            args = [value for r in chunk for value in r]
            await self.conn.execute(
                f"INSERT INTO {table} ({names}) VALUES {values} {suffix}".rstrip(), args
            )

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.conn.execute(sql, args) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]


class _Group:
    """Transactions that share one COMMIT; ``committed`` resolves when it is durable."""

    def __init__(self) -> None:
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Future[None] | None = None  # the COMMIT queued behind joiners


class SqliteEngine(Engine):
    """Embedded default: one writer connection (serialized by a lock) and one reader.

    WAL lets the reader see committed data while a write is open; ``synchronous=FULL``
    makes every commit durable before we ack it, and group commit (see
    :meth:`transaction`) lets writes that queue meanwhile share one such commit.
    """

    dialect = "sqlite"
    multi_process_locks = False
    concurrent_commits = False

    def __init__(self, url: str, path: Path, *, create: bool = True) -> None:
        self.url = url
        self.path = path
        self.create = create
        """Whether :meth:`open` may create a missing file (``waymark admin init``)."""
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._queued = 0  # transactions waiting for the writer
        self._group: _Group | None = None  # the open transaction's group, if one is open
        self._tracers = []

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=10000")
        except BaseException:
            # Its thread would keep the process alive (a server that never exits).
            await conn.close()
            raise
        return conn

    async def open(self) -> None:
        # A folder that does not exist is a mistyped path far more often than a wish: say
        # so rather than create it (and an empty database in it).
        if not self.path.parent.is_dir():
            raise StoreUnavailable(
                f"cannot open SQLite database {self.path}: there is no folder "
                f"{self.path.parent} (create it first, or fix the path)"
            )
        if not self.create and not self.path.exists():
            raise StoreUnavailable(
                f"there is no SQLite database {self.path}: create it with "
                f"'waymark admin init --db {self.url}' (or fix the path)"
            )
        try:
            self._writer = await self._connect()
            self._reader = await self._connect()
            # Read the header and the schema now: a file that is not a database, or is
            # damaged there, fails here at start, not at the first request.
            await self._writer.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except (OSError, sqlite3.Error) as err:
            await self.close()
            why = (
                "it is not a SQLite database, or it is damaged"
                if isinstance(err, sqlite3.DatabaseError) and "not a database" in str(err)
                else str(err)
            )
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {why}") from None

    async def _hook(self, on: bool) -> None:
        # Every statement SQLite starts (each row of an executemany too).
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.set_trace_callback(self._traced if on else None)  # type: ignore[arg-type]

    def in_use(self) -> dict[str, int]:
        # No pool: what can be busy is the one writer (the reader never waits for it).
        return {"writer": int(self._write_lock.locked())}

    async def close(self) -> None:
        if self._group is not None and self._group.task is not None:
            await asyncio.shield(self._group.task)  # a queued COMMIT lands before closing
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @asynccontextmanager
    async def transaction(
        self, lock: str | None = None, *, learner: str | None = None
    ) -> AsyncIterator[Txn]:
        # One writer for the whole database: that serializes every learner's writes too.
        # Group commit: transactions that queue for the writer while one runs share its
        # COMMIT (one fsync for all of them). The first of a group BEGINs; the ones that
        # join run inside a SAVEPOINT each, so one that fails rolls back alone. Nobody
        # leaves this block before the COMMIT that holds its writes is durable.
        writer = self._writer
        assert writer is not None, "engine not opened"
        self._queued += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._queued -= 1
        try:
            group = self._group
            if group is None:
                group = self._group = _Group()
                await writer.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteTxn(writer)
                except BaseException:
                    self._group = None
                    await writer.execute("ROLLBACK")
                    raise
                if self._queued:
                    # Others are waiting for the writer: let them join, then commit
                    # after them (the lock is FIFO, so the commit queues behind them).
                    group.task = asyncio.ensure_future(self._commit_later(group))
                else:
                    await self._commit(group)
            else:
                await writer.execute("SAVEPOINT joined")
                try:
                    yield _SqliteTxn(writer)
                except BaseException:
                    await writer.execute("ROLLBACK TO joined")
                    await writer.execute("RELEASE joined")
                    raise
                await writer.execute("RELEASE joined")
        finally:
            self._write_lock.release()
        await asyncio.shield(group.committed)

    async def _commit_later(self, group: _Group) -> None:
        async with self._write_lock:
            await self._commit(group)

    async def _commit(self, group: _Group) -> None:
        """COMMIT ``group`` (the open transaction); the caller holds the write lock."""
        assert self._writer is not None and self._group is group
        self._group = None
        try:
            await self._writer.execute("COMMIT")
        except BaseException as err:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self._writer.execute("ROLLBACK")
            group.committed.set_exception(err)
            # Retrieved by every member; mark it so a group nobody awaits logs nothing.
            group.committed.exception()
        else:
            group.committed.set_result(None)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        assert self._reader is not None, "engine not opened"
        # Executed and read to the end in one step of aiosqlite's thread: a statement left
        # open between two steps would hold its read snapshot for every other read of this
        # connection meanwhile, and those would miss what was committed since.
        return list(await self._reader.execute_fetchall(sql, args))  # type: ignore[arg-type]

    async def _script_txn(self, txn: Txn, sql: str) -> None:
        # executescript() would COMMIT our transaction first; run statement by statement.
        for statement in _split_sql(sql):
            await txn.execute(statement)


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# -- PostgreSQL ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


def _pg_sql(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PgTxn(Txn):
    row_locks = True

    def __init__(self, conn: asyncpg.Connection, notifies: bool = True) -> None:
        self.conn = conn
        self.notifies = notifies

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(_pg_sql(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(_pg_sql(sql), rows)

    async def notify(self, channel: str, payload: str) -> None:
        if self.notifies:
            await self.conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def insert_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
    ) -> None:
        # One array per column, unnested into rows: one statement whatever the row count.
        names = ", ".join(name for name, _ in columns)
        arrays = ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(columns, 1))
        await self.conn.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {suffix}".rstrip(),
            *(list(column) for column in zip(*rows, strict=True)),
        )

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.conn.fetch(_pg_sql(sql), *args))


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


_GONE = (
    OSError,
    asyncpg.InterfaceError,  # the connection closed under us
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    # A pooled connection that read the FATAL of a backend dying with its postmaster is
    # left mid-protocol: its next query raises this (MagicStack/asyncpg#1069).
    asyncpg.InternalClientError,
)
"""What a PostgreSQL that went away (restart, network) raises: 503 / close 1013, not 500."""


def _reason(err: BaseException) -> str:
    if isinstance(err, asyncpg.InternalClientError):  # its message is asyncpg's internals
        return "the connection broke off mid-query"
    return str(err) or type(err).__name__


FEED_READ_CONNECTIONS = 4
"""PostgreSQL connections for reads of the feed to send (``Engine.read_feed``)."""


class PostgresEngine(Engine):
    """Production engine over an asyncpg pool; per-user merges take an advisory lock."""

    dialect = "postgresql"
    multi_process_locks = True
    concurrent_commits = True

    def __init__(self, url: str, *, min_size: int = 0, max_size: int = 10) -> None:
        # No floor: connections open on demand and stay pooled while in use (an idle one
        # closes after asyncpg's 5 minutes). A floor would have asyncpg log a traceback
        # every second while PostgreSQL is away, restoring it.
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._feed_pool: asyncpg.Pool | None = None
        self._sizes = (min_size, max_size)
        self._tracers = []
        #: Whether commits NOTIFY listeners. Off where another fan-out (Redis) carries
        #: the news: nobody LISTENs then, and NOTIFY serializes committing transactions.
        self.notifies = True
        self._connections: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        self._connections.add(conn)
        if self._tracers:
            conn.add_query_logger(self._log_query)

    def _log_query(self, query: asyncpg.connection.LoggedQuery) -> None:
        self._traced(query.query)

    async def _hook(self, on: bool) -> None:
        for conn in list(self._connections):
            if on:
                conn.add_query_logger(self._log_query)
            else:
                conn.remove_query_logger(self._log_query)

    @staticmethod
    async def _keep_session(conn: asyncpg.Connection) -> None:
        """Released connections are not reset: nothing here sets session state (no SET, no
        LISTEN, no session advisory lock; transactions always end), and asyncpg's default
        reset would cost a statement per acquire. An open transaction is still rolled
        back by the pool before this is called."""

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "engine not opened"
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await self._create_pool(self._sizes[1])
            self._feed_pool = await self._create_pool(FEED_READ_CONNECTIONS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            await self.close()
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {err}") from None

    async def _create_pool(self, max_size: int) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self.url,
            min_size=self._sizes[0],
            max_size=max_size,
            init=self._init_connection,
            reset=self._keep_session,
        )

    def in_use(self) -> dict[str, int]:
        pools = {"main": self._pool, "feed": self._feed_pool}
        return {
            name: pool.get_size() - pool.get_idle_size()
            for name, pool in pools.items()
            if pool is not None
        }

    async def close(self) -> None:
        for pool in (self._pool, self._feed_pool):
            if pool is not None:
                await pool.close()
        self._pool = self._feed_pool = None

    @asynccontextmanager
    async def transaction(
        self, lock: str | None = None, *, learner: str | None = None
    ) -> AsyncIterator[Txn]:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if learner is not None:
                    # Serializes one learner's writes across every server instance (and
                    # every node of a sharded database); released at commit.
                    await conn.execute(
                        "SELECT 1 FROM user_state WHERE user_id = $1 FOR UPDATE", learner
                    )
                if lock is not None:
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(lock))
                yield _PgTxn(conn, self.notifies)
        except _GONE as err:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {_reason(err)}") from None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._fetch(self.pool, sql, args)

    async def read_feed(self, sql: str, *args: Any) -> list[Row]:
        assert self._feed_pool is not None, "engine not opened"
        return await self._fetch(self._feed_pool, sql, args)

    @staticmethod
    async def _fetch(pool: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> list[Row]:
        try:
            return list(await pool.fetch(_pg_sql(sql), *args))
        except _GONE as err:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {_reason(err)}") from None

    async def _script_txn(self, txn: Txn, sql: str) -> None:
        assert isinstance(txn, _PgTxn)
        await txn.conn.execute(sql)


def open_engine(url: str, *, create: bool = True) -> Engine:
    """Return an (unopened) engine for ``url``: ``sqlite:///path`` or ``postgresql://…``.

    A bare path is taken as a SQLite file; ``create=False`` refuses to make a missing one
    (the command line's rule: only ``waymark admin init`` creates a database). Raises
    :class:`StoreUnavailable` for other schemes.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresEngine(url)
    if url.startswith("sqlite:///"):
        return SqliteEngine(url, Path(url.removeprefix("sqlite:///")), create=create)
    if url.startswith("sqlite://"):
        return SqliteEngine(url, Path(url.removeprefix("sqlite://")), create=create)
    if "://" not in url:
        return SqliteEngine(f"sqlite:///{url}", Path(url), create=create)
    raise StoreUnavailable(
        f"unsupported database URL {url!r} (use sqlite:///PATH or postgresql://…)"
    )
