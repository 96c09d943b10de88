"""The device's journal: one SQLite file with the logged-in learners, their events, their
feeds and the catalog.

Open it with :meth:`Journal.open` (an async context manager), store a login with
:meth:`Journal.add_account`, then call :meth:`Journal.record` for every learning event.
``client.connection`` moves data with :meth:`~Journal.pending`, :meth:`~Journal.mark_acked`
and :meth:`~Journal.apply_feed`; :meth:`~Journal.view` is the learner's progress as the server
will compute it from the same facts.

Durability: WAL with ``synchronous=FULL`` and one commit per recorded event. Writers take
``BEGIN IMMEDIATE``, so two processes (``waymark record`` while ``waymark sync --follow``
runs) never hand out the same seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import aiosqlite
import msgspec

from client import view as folds
from client.errors import BadEventArgs, JournalError, NotLoggedIn, UnknownUser
from sync.catalog import Catalog
from sync.events import Event, Rejection, check_envelope, check_event, decode_body
from sync.gamify import GamifyState, GamifyView, gamify_view, local_day
from sync.hlc import ZERO, HybridClock
from sync.merge.fold import Decision, Fact
from sync.protocol.messages import EventRejection, FeedEntry, LoginResponse
from sync.views import LearnerView, learner_view

# The schema as a numbered series of steps; a journal records the last step applied in
# PRAGMA user_version, and opening it applies the later ones (style rule 8).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        """CREATE TABLE IF NOT EXISTS accounts (
            user_id    TEXT PRIMARY KEY,
            username   TEXT NOT NULL,
            device_id  TEXT NOT NULL UNIQUE,
            token      TEXT NOT NULL,
            server_url TEXT NOT NULL,
            timezone   TEXT NOT NULL,
            role       TEXT NOT NULL,
            cursor     INTEGER NOT NULL DEFAULT 0,  -- highest user_seq of the feed held here
            acked_seq  INTEGER NOT NULL DEFAULT 0,  -- highest seq the server holds
            next_seq   INTEGER NOT NULL DEFAULT 1,
            synced_at  INTEGER,
            is_default INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE IF NOT EXISTS events (
            device_id     TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            user_id       TEXT NOT NULL,
            hlc           TEXT NOT NULL,
            at            INTEGER NOT NULL,
            tz            TEXT NOT NULL,
            type          TEXT NOT NULL,
            body          TEXT NOT NULL,
            status        TEXT NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'acked', 'rejected')),
            reject_code   TEXT,
            reject_reason TEXT,
            PRIMARY KEY (device_id, seq)
        )""",
        "CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, status)",
        """CREATE TABLE IF NOT EXISTS feed (
            user_id   TEXT NOT NULL,
            user_seq  INTEGER NOT NULL,
            origin    TEXT NOT NULL,
            type      TEXT NOT NULL,
            body      TEXT NOT NULL,
            hlc       TEXT NOT NULL,
            at        INTEGER NOT NULL,
            tz        TEXT NOT NULL,
            device_id TEXT,
            seq       INTEGER,
            PRIMARY KEY (user_id, user_seq)
        )""",
        "CREATE INDEX IF NOT EXISTS feed_by_event ON feed (device_id, seq)",
        """CREATE TABLE IF NOT EXISTS catalog (
            server_url TEXT PRIMARY KEY,
            version    TEXT NOT NULL,
            body       TEXT NOT NULL
        )""",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (  # 2: the learner's plan (free or premium), from the login and every welcome
        "ALTER TABLE accounts ADD COLUMN plan TEXT NOT NULL DEFAULT 'free'",
    ),
    (  # 3: the learner's view, folded as facts and decisions arrive (client.view)
        """CREATE TABLE IF NOT EXISTS folds (
            user_id   TEXT PRIMARY KEY,
            version   INTEGER NOT NULL,  -- bumped by every write
            feed_seq  INTEGER NOT NULL,  -- the highest user_seq folded; -1: to be folded again
            own_rowid INTEGER NOT NULL,  -- own events up to this events.rowid are accounted for
            tz        TEXT NOT NULL,     -- the learner's zone the days were counted in
            state     BLOB NOT NULL,
            gamify    BLOB NOT NULL,
            seconds   BLOB NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS fold_lessons (
            user_id TEXT NOT NULL,
            lesson  TEXT NOT NULL,  -- course/lesson: its LessonState, written when it changes
            body    BLOB NOT NULL,
            PRIMARY KEY (user_id, lesson)
        )""",
        """CREATE TABLE IF NOT EXISTS views (
            user_id TEXT PRIMARY KEY,
            key     TEXT NOT NULL,  -- fold version | catalog version | plan it was built from
            body    BLOB NOT NULL
        )""",
    ),
    (  # 4: the refresh token that renews an expired bearer token ('' for older logins)
        "ALTER TABLE accounts ADD COLUMN refresh_token TEXT NOT NULL DEFAULT ''",
    ),
    (  # 5: a learner's kiosk PIN, only as a salted scrypt hash (client.pins)
        """CREATE TABLE IF NOT EXISTS pins (
            user_id  TEXT PRIMARY KEY,
            hash     TEXT NOT NULL,               -- client.pins.hash_pin: params, salt, key
            failures INTEGER NOT NULL DEFAULT 0   -- wrong PINs in a row
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
BATCH = 500  # events per push: the protocol's most (MAX_BATCH)
CHECK_EVERY: Final = 0.2
"""Seconds between two looks at ``PRAGMA data_version`` for other processes' commits."""

log = logging.getLogger(__name__)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A learner logged in on this device: one server-side device (``device_id``, ``token``)."""

    user_id: str
    username: str
    device_id: str
    token: str
    server_url: str
    timezone: str = "UTC"
    role: str = "learner"
    cursor: int = 0
    acked_seq: int = 0
    next_seq: int = 1
    synced_at: int | None = None
    is_default: bool = False
    plan: str = "free"
    refresh_token: str = ""  # renews ``token`` when it expires; '' for a login before 0.2


class RejectedEvent(msgspec.Struct, frozen=True):
    """An own event the server refused for good."""

    seq: int
    type: str
    code: str
    reason: str


class _RejectedBody(msgspec.Struct, frozen=True):
    """Body of a server-origin ``event.rejected`` feed entry (spec flow step 6)."""

    device_id: str
    seq: int
    code: str = ""
    reason: str = ""


_FIELDS = ", ".join(Account.__struct_fields__)
_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()
_view_dec = msgspec.msgpack.Decoder(LearnerView)


class Journal:
    """An open journal. Create it with ``async with await Journal.open(home) as journal``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, data_version: int = 0) -> None:
        self.path = path
        self._data_version = data_version  # PRAGMA data_version when opened (see watch)
        self._db = db
        self._lock = asyncio.Lock()  # one connection: its transactions must not interleave
        self._watchers: weakref.WeakSet[asyncio.Event] = weakref.WeakSet()
        self._checker: asyncio.Task[None] | None = None
        # Decoded once per version: the catalog by server, the fold by learner.
        self._catalogs: dict[str, tuple[str, Catalog]] = {}
        self._folds: dict[str, tuple[int, folds.Folded]] = {}

    @classmethod
    async def open(cls, home: Path) -> Journal:
        """Open (creating if needed) ``home/journal.db``; raises :class:`JournalError`."""
        path = home / "journal.db"
        try:
            await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"cannot open the journal {path}: {err}") from None
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = FULL")
            version = await _migrate(db)
            if version <= SCHEMA_VERSION:
                (data_version,) = await _one(db, "PRAGMA data_version")
                return cls(db, path, data_version)
            problem = f"written by a newer waymark (schema {version})"
        except sqlite3.Error as err:
            problem = str(err)
        await db.close()
        raise JournalError(f"cannot open the journal {path}: {problem}")

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        await self._db.close()

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _txn(
        self, mode: Literal["IMMEDIATE", "DEFERRED"] = "IMMEDIATE"
    ) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await self._db.execute(f"BEGIN {mode}")
                try:
                    yield self._db
                except BaseException:
                    self._folds.clear()  # a fold changed in memory may not have been written
                    await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._folds.clear()
                raise JournalError(f"journal {self.path}: {err}") from err

    def watch(self, *, others: bool = False) -> asyncio.Event:
        """An event set after every later :meth:`record` in this process; with ``others``,
        also after every later commit to the journal by another connection (``waymark
        record`` while ``waymark sync --follow`` runs). Call it from a running event loop.

        Other connections' commits are seen by ``PRAGMA data_version`` on this connection,
        looked at every :data:`CHECK_EVERY` seconds from the first such call until
        :meth:`close`: it changes only when another connection commits, and reads no
        table. Whoever waits clears the event before reading the journal, so no record is
        missed.
        """
        event = asyncio.Event()
        self._watchers.add(event)
        if others and self._checker is None:
            self._checker = asyncio.get_running_loop().create_task(self._check_others())
        return event

    def _wake(self) -> None:
        for watcher in self._watchers:
            watcher.set()

    async def _check_others(self) -> None:
        # From the version at open: a commit between open and the first look still wakes.
        last = self._data_version
        while True:
            try:
                async with self._lock:
                    (version,) = await _one(self._db, "PRAGMA data_version")
            except (sqlite3.Error, ValueError) as err:  # closed under us: nothing to watch
                log.debug("journal watch ends: %s", err)
                return
            if version != last:
                self._wake()
            last = version
            await asyncio.sleep(CHECK_EVERY)

    # -- accounts -------------------------------------------------------------------------

    async def add_account(self, account: Account, *, make_default: bool = False) -> Account:
        """Store a fresh login, replacing the learner's previous one on this device.

        The first learner is the default. If the server gave a new ``device_id``, events it
        never acknowledged move to the new device with seqs renumbered from 1, so they are
        still pushed. (Only if an ack was lost just before the old device was cut off could
        the server hold one twice.)
        """
        async with self._txn() as db:
            old = await _account_txn(db, "user_id = ?", account.user_id)
            (count,) = await _one(db, "SELECT COUNT(*) FROM accounts")
            if make_default:
                await db.execute("UPDATE accounts SET is_default = 0")
            fresh = msgspec.structs.replace(
                account,
                is_default=make_default or count == 0 or (old is not None and old.is_default),
            )
            if old is not None and old.device_id == account.device_id:
                fresh = msgspec.structs.replace(
                    fresh, cursor=old.cursor, acked_seq=old.acked_seq, next_seq=old.next_seq
                )
            elif old is not None:
                moved = await _move_pending_txn(db, old.device_id, account.device_id)
                # Renumbered events are other facts (their stamps name the new device).
                await _stale_txn(db, account.user_id)
                fresh = msgspec.structs.replace(
                    fresh, cursor=old.cursor, acked_seq=0, next_seq=moved + 1
                )
            else:  # events a logout left behind (forget_account) move to this login
                left = await db.execute_fetchall(
                    "SELECT DISTINCT device_id FROM events WHERE user_id = ?"
                    " AND status = 'pending' AND device_id != ? ORDER BY device_id",
                    (account.user_id, account.device_id),
                )
                moved = 0
                for row in left:
                    moved += await _move_pending_txn(db, row[0], account.device_id, moved)
                if moved:
                    await _stale_txn(db, account.user_id)
                    fresh = msgspec.structs.replace(fresh, next_seq=moved + 1)
            values = msgspec.structs.astuple(fresh)
            await db.execute(
                f"INSERT OR REPLACE INTO accounts ({_FIELDS}) "
                f"VALUES ({', '.join('?' * len(values))})",
                values,
            )
        return fresh

    async def accounts(self) -> list[Account]:
        async with self._txn("DEFERRED") as db:
            rows = await db.execute_fetchall(f"SELECT {_FIELDS} FROM accounts ORDER BY username")
        return [msgspec.convert(dict(row), Account, strict=False) for row in rows]

    async def account(self, username: str | None = None) -> Account:
        """The learner named ``username``, or else the only or default one.

        Raises :class:`NotLoggedIn` or :class:`UnknownUser`.
        """
        accounts = await self.choose()
        names = ", ".join(a.username for a in accounts)
        if username is None:
            chosen = accounts if len(accounts) == 1 else [a for a in accounts if a.is_default]
            if not chosen:
                raise UnknownUser(f"several learners are logged in ({names}): name one with --user")
            return chosen[0]
        for account in accounts:
            if account.username == username:
                return account
        raise UnknownUser(f"{username!r} is not logged in on this device (logged in: {names})")

    async def choose(self, usernames: Iterable[str] = ()) -> list[Account]:
        """The named learners, or every one logged in; raises NotLoggedIn or UnknownUser."""
        names = list(usernames)
        if names:
            return [await self.account(name) for name in names]
        accounts = await self.accounts()
        if not accounts:
            raise NotLoggedIn("no learner is logged in on this device (waymark login SERVER NAME)")
        return accounts

    async def set_synced(self, user_ids: Iterable[str], now_ms: int) -> None:
        async with self._txn() as db:
            await db.executemany(
                "UPDATE accounts SET synced_at = ? WHERE user_id = ?",
                [(now_ms, user_id) for user_id in user_ids],
            )

    async def refresh_tokens(
        self, account: Account, exchange: Callable[[str], Awaitable[tuple[str, str]]]
    ) -> Account:
        """Renew ``account``'s tokens with ``exchange`` (refresh token -> new bearer and
        refresh token), unless another process renewed them since ``account`` was read:
        then its tokens are returned. The exchange runs inside the journal's write lock, so
        two processes never present the same refresh token (the server would take the
        second for a stolen copy and revoke the device)."""
        async with self._txn() as db:
            now = await _account_txn(db, "user_id = ?", account.user_id)
            if now is None or now.device_id != account.device_id:
                raise NotLoggedIn(f"{account.username} is no longer logged in on this device")
            if now.token != account.token:
                return now
            token, refresh_token = await exchange(now.refresh_token)
            await db.execute(
                "UPDATE accounts SET token = ?, refresh_token = ? WHERE user_id = ?",
                (token, refresh_token, account.user_id),
            )
        return msgspec.structs.replace(now, token=token, refresh_token=refresh_token)

    async def log_in_again(
        self,
        username: str,
        server_url: str,
        login: Callable[[str], Awaitable[LoginResponse]],
    ) -> LoginResponse:
        """Run ``login`` with the refresh token this device holds for ``username`` on
        ``server_url`` ('' if none) and return its answer. With a token, inside the write
        lock, and when the server kept the device (same ``device_id``), its new tokens are
        stored before the lock is let go: a sync, here or in another process, never
        presents the refresh token just exchanged (the server would take the second for a
        stolen copy and revoke the device). Then call :meth:`add_account`."""
        held = await self._account_at(username, server_url)
        if held is None or not held.refresh_token:
            return await login("")
        async with self._txn() as db:
            held = await _account_txn(db, "username = ? AND server_url = ?", username, server_url)
            reply = await login(held.refresh_token if held else "")
            if held is not None and (reply.user_id, reply.device_id) == (
                held.user_id,
                held.device_id,
            ):
                await db.execute(
                    "UPDATE accounts SET token = ?, refresh_token = ? WHERE user_id = ?",
                    (reply.token, reply.refresh_token, held.user_id),
                )
        return reply

    async def _account_at(self, username: str, server_url: str) -> Account | None:
        async with self._txn("DEFERRED") as db:
            return await _account_txn(db, "username = ? AND server_url = ?", username, server_url)

    async def forget_account(self, account: Account) -> None:
        """Log ``account`` out here: its tokens, feed and views go. Its events not synced
        stay, and move to the learner's next login on this device (:meth:`add_account`)."""
        async with self._txn() as db:
            await db.execute("DELETE FROM accounts WHERE user_id = ?", (account.user_id,))
            await db.execute(
                "DELETE FROM events WHERE user_id = ? AND status != 'pending'", (account.user_id,)
            )
            for table in ("feed", "folds", "fold_lessons", "views", "pins"):
                await db.execute(f"DELETE FROM {table} WHERE user_id = ?", (account.user_id,))
            if account.is_default:  # another learner, if any, becomes the default
                await db.execute(
                    "UPDATE accounts SET is_default = 1 WHERE user_id ="
                    " (SELECT user_id FROM accounts ORDER BY username LIMIT 1)"
                )
        self._folds.pop(account.user_id, None)

    # -- kiosk PINs (client.pins holds the hashing and the rules) ---------------------------

    async def pin(self, user_id: str) -> tuple[str, int] | None:
        """The learner's stored PIN hash and wrong tries in a row, or None without a PIN."""
        async with self._txn("DEFERRED") as db:
            row = await _one(db, "SELECT hash, failures FROM pins WHERE user_id = ?", user_id)
        return None if row is None else (str(row[0]), int(row[1]))

    async def pinned(self) -> set[str]:
        """The user ids of the learners with a PIN on this device."""
        async with self._txn("DEFERRED") as db:
            rows = await db.execute_fetchall("SELECT user_id FROM pins")
        return {str(row[0]) for row in rows}

    async def set_pin(self, user_id: str, hashed: str) -> None:
        """Store (or replace) the learner's PIN hash, with no wrong tries."""
        async with self._txn() as db:
            await db.execute(
                "INSERT OR REPLACE INTO pins (user_id, hash, failures) VALUES (?, ?, 0)",
                (user_id, hashed),
            )

    async def pin_tried(self, user_id: str, *, right: bool, limit: int) -> int:
        """Note one try of the learner's PIN; returns the wrong tries in a row after it.
        A right one resets the count; the ``limit``-th wrong one in a row removes the PIN."""
        async with self._txn() as db:
            if right:
                await db.execute("UPDATE pins SET failures = 0 WHERE user_id = ?", (user_id,))
                return 0
            await db.execute(
                "UPDATE pins SET failures = failures + 1 WHERE user_id = ?", (user_id,)
            )
            row = await _one(db, "SELECT failures FROM pins WHERE user_id = ?", user_id)
            failures = limit if row is None else int(row[0])
            if failures >= limit:
                await db.execute("DELETE FROM pins WHERE user_id = ?", (user_id,))
        return failures

    async def remove_pin(self, user_id: str) -> None:
        async with self._txn() as db:
            await db.execute("DELETE FROM pins WHERE user_id = ?", (user_id,))

    async def set_plan(self, user_id: str, plan: str) -> None:
        """Note the learner's plan (``free``, ``premium``) as the server last said it."""
        async with self._txn() as db:
            await db.execute("UPDATE accounts SET plan = ? WHERE user_id = ?", (plan, user_id))

    # -- catalog --------------------------------------------------------------------------

    async def catalog(self, server_url: str) -> tuple[str, Catalog] | None:
        """The cached ``(version, catalog)`` of ``server_url``, or None before the first one.

        Decoded once per version (the same object again while the version holds: don't
        change it)."""
        held = self._catalogs.get(server_url)
        async with self._txn("DEFERRED") as db:
            row = await _one(db, "SELECT version FROM catalog WHERE server_url = ?", server_url)
            if row is None:
                return None
            if held is not None and held[0] == row[0]:
                return held
            (body,) = await _one(db, "SELECT body FROM catalog WHERE server_url = ?", server_url)
        held = self._catalogs[server_url] = (row[0], msgspec.json.decode(body, type=Catalog))
        return held

    async def store_catalog(self, server_url: str, version: str, catalog: Catalog) -> None:
        async with self._txn() as db:
            await db.execute(
                "INSERT OR REPLACE INTO catalog VALUES (?, ?, ?)",
                (server_url, version, _json.encode(catalog).decode()),
            )
        self._catalogs[server_url] = (version, catalog)

    # -- own events -----------------------------------------------------------------------

    async def record(
        self,
        account: Account,
        type: str,
        body: dict[str, Any],
        *,
        now_ms: int,
        tz: str,
        unknown_ids: bool = False,
    ) -> Event:
        """Validate and durably append one event; returns it with its seq and HLC.

        Known types are checked against the cached catalog (only their schema before the
        first catalog); unknown types are kept for the server to judge, and so are ids
        the cached catalog lacks when ``unknown_ids`` (it may be older than the server's).
        Raises :class:`BadEventArgs` (nothing written) or :class:`UnknownUser`.
        """
        [event] = await self.record_many(
            account, [(type, body)], now_ms=now_ms, tz=tz, unknown_ids=unknown_ids
        )
        return event

    async def record_many(
        self,
        account: Account,
        events: Iterable[tuple[str, dict[str, Any]]],
        *,
        now_ms: int,
        tz: str,
        unknown_ids: bool = False,
    ) -> list[Event]:
        """Like :meth:`record` for ``(type, body)`` pairs, all or none: every one is checked
        before any is written, and they are committed together with consecutive seqs (a quiz
        attempt is never left half written)."""
        checked = []
        cached = await self.catalog(account.server_url)
        for type_, body in events:
            event = Event(seq=1, hlc=ZERO, at=now_ms, type=type_, body=body, tz=tz)
            try:
                msgspec.convert(msgspec.to_builtins(event), Event)
            except (msgspec.ValidationError, TypeError) as err:
                raise BadEventArgs(f"{type_}: {err}") from None
            envelope = check_envelope(event)  # e.g. a device clock outside 2000-2200
            if envelope is not None:
                raise BadEventArgs(f"{type_}: {envelope.reason}")
            verdict = check_event(event, cached[1]) if cached else decode_body(type_, body)
            if isinstance(verdict, Rejection) and not _kept(verdict.code, unknown_ids):
                raise BadEventArgs(verdict.reason)
            checked.append(event)
        written = []
        async with self._txn() as db:
            row = await _one(
                db, "SELECT device_id, next_seq FROM accounts WHERE user_id = ?", account.user_id
            )
            if row is None:
                raise UnknownUser(f"{account.username!r} is no longer logged in on this device")
            device_id, seq = row
            clock = HybridClock(await _meta_txn(db, "hlc", ZERO))
            for event in checked:
                written.append(msgspec.structs.replace(event, seq=seq, hlc=clock.tick(now_ms)))
                seq += 1
            # The fold takes them in at the next read (Journal._folded_txn): a record stays
            # one small write however long the history.
            await db.executemany(
                "INSERT INTO events (device_id, seq, user_id, hlc, at, tz, type, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (device_id, e.seq, account.user_id, e.hlc, now_ms, tz, e.type, _encode(e.body))
                    for e in written
                ],
            )
            await db.execute(
                "UPDATE accounts SET next_seq = ? WHERE user_id = ?", (seq, account.user_id)
            )
            await _set_meta_txn(db, "hlc", clock.last)
        self._wake()
        return written

    async def tick_for_hello(self, now_ms: int) -> tuple[str, dict[str, int]]:
        """Tick the device's clock for a ``hello`` and return it with the highest seq
        recorded per learner (by ``user_id``), read in the same transaction: whatever is
        recorded afterwards is stamped above the clock (``hello.accounts[].clock``)."""
        async with self._txn() as db:
            clock = HybridClock(await _meta_txn(db, "hlc", ZERO))
            stamp = clock.tick(now_ms)
            await _set_meta_txn(db, "hlc", stamp)
            rows = await db.execute_fetchall("SELECT user_id, next_seq FROM accounts")
        return stamp, {str(r[0]): int(r[1]) - 1 for r in rows}

    async def pending(self, device_id: str, after_seq: int, limit: int = BATCH) -> list[Event]:
        """Up to ``limit`` events of ``device_id`` with seq above ``after_seq``, in order."""
        async with self._txn("DEFERRED") as db:
            rows = await db.execute_fetchall(
                "SELECT seq, hlc, at, type, body, tz FROM events "
                "WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (device_id, after_seq, limit),
            )
        return [Event(r[0], r[1], r[2], r[3], msgspec.json.decode(r[4]), r[5]) for r in rows]

    async def mark_acked(
        self, device_id: str, upto_seq: int, rejected: Iterable[EventRejection] = ()
    ) -> None:
        """Record the server's watermark for ``device_id`` (from a welcome or an ack)."""
        async with self._txn() as db:
            await db.execute(
                "UPDATE events SET status = 'acked' "
                "WHERE device_id = ? AND seq <= ? AND status = 'pending'",
                (device_id, upto_seq),
            )
            # A server restored from a backup holds less than it once acked: those events
            # are pending again and get pushed from upto_seq + 1.
            await db.execute(
                "UPDATE events SET status = 'pending' "
                "WHERE device_id = ? AND seq > ? AND status = 'acked'",
                (device_id, upto_seq),
            )
            # A journal restored from a backup must not reuse seqs the server already holds.
            await db.execute(
                "UPDATE accounts SET acked_seq = ?1, next_seq = MAX(next_seq, ?1 + 1) "
                "WHERE device_id = ?2",
                (upto_seq, device_id),
            )
            for rejection in rejected:
                await _mark_rejected_txn(
                    db, device_id, rejection.seq, rejection.code, rejection.reason
                )

    async def pending_count(self, user_id: str) -> int:
        async with self._txn("DEFERRED") as db:
            (count,) = await _one(
                db, "SELECT COUNT(*) FROM events WHERE user_id = ? AND status = 'pending'", user_id
            )
        return int(count)

    async def rejected(self, user_id: str) -> list[RejectedEvent]:
        async with self._txn("DEFERRED") as db:
            rows = await db.execute_fetchall(
                "SELECT seq, type, reject_code, reject_reason FROM events "
                "WHERE user_id = ? AND status = 'rejected' ORDER BY device_id, seq",
                (user_id,),
            )
        return [RejectedEvent(*row) for row in rows]

    # -- feed and view --------------------------------------------------------------------

    async def apply_feed(
        self, user_id: str, entries: list[FeedEntry], *, now_ms: int
    ) -> list[FeedEntry]:
        """Store feed entries (idempotent), advance the cursor, return the ones new here.

        One transaction: the clock observes the HLC of every new device entry;
        ``event.rejected`` entries mark the own event they name as rejected; the learner's
        fold takes in the new entries (:meth:`view` then reads it, not the feed).
        """
        if not entries:
            return []
        async with self._txn() as db:
            seqs = [e.user_seq for e in entries]
            held = await db.execute_fetchall(
                "SELECT user_seq FROM feed WHERE user_id = ? AND user_seq BETWEEN ? AND ?",
                (user_id, min(seqs), max(seqs)),
            )
            seen = {row[0] for row in held}
            new = []
            for entry in entries:
                if entry.user_seq not in seen:
                    seen.add(entry.user_seq)
                    new.append(entry)
            await db.executemany(
                "INSERT INTO feed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(user_id, *_feed_row(e)) for e in new],
            )
            clock = HybridClock(await _meta_txn(db, "hlc", ZERO))
            for entry in new:
                if entry.origin == "device":  # HLCs order facts; decisions don't move clocks
                    clock.observe(entry.hlc, now_ms)
                if entry.origin == "server" and entry.type == "event.rejected":
                    await _apply_rejection_txn(db, entry.body)
            await _set_meta_txn(db, "hlc", clock.last)
            await db.execute(
                "UPDATE accounts SET cursor = MAX(cursor, ?) WHERE user_id = ?",
                (max(seqs), user_id),
            )
            row = await _one(db, "SELECT timezone FROM accounts WHERE user_id = ?", user_id)
            if new and row is not None:
                await self._folded_txn(db, user_id, row[0], new)
        return new

    async def truncate_feed(self, user_id: str, head: int) -> None:
        """Forget feed entries past ``head`` (after a server restore, 0: all of them); the
        server sends them again, and own events it no longer holds are pending again. The
        fold is folded again from what is left at its next read."""
        async with self._txn() as db:
            await db.execute("DELETE FROM feed WHERE user_id = ? AND user_seq > ?", (user_id, head))
            await db.execute(
                "UPDATE accounts SET cursor = MIN(cursor, ?) WHERE user_id = ?", (head, user_id)
            )
            await db.execute(
                "UPDATE folds SET feed_seq = -1 WHERE user_id = ? AND feed_seq > ?", (user_id, head)
            )

    async def view(self, account: Account) -> LearnerView:
        """The learner's progress as this device knows it (:func:`sync.views.learner_view`
        under the account's plan).

        Facts: the device entries of the feed, plus own events not yet in it and not
        rejected. Decisions: the server entries of the feed (scores, unlocks, ...), except
        ``event.rejected``, which :meth:`apply_feed` already turned into rejected events. Own
        quiz attempts the server has not scored yet show as submitted. Without a cached
        catalog every list is empty.

        Read from the materialized fold and view: the feed is not read again. The view is
        built once per (fold version, catalog version, plan); :meth:`refold` is the same
        from every fact, for checks and comparisons.
        """
        cached = await self.catalog(account.server_url)
        catalog_version = cached[0] if cached else ""
        async with self._txn("DEFERRED") as db:
            fresh = await _fresh_txn(db, account, "version")
            row = await _one(
                db,
                "SELECT a.plan, v.key, v.body FROM accounts AS a "
                "LEFT JOIN views AS v ON v.user_id = a.user_id WHERE a.user_id = ?",
                account.user_id,
            )
        plan = row[0] if row is not None else account.plan
        if (
            fresh is not None
            and row is not None
            and row[1] == f"{fresh[0]}|{catalog_version}|{plan}"
        ):
            return _view_dec.decode(row[2])
        async with self._txn() as db:
            version, folded = await self._folded_txn(db, account.user_id, account.timezone)
            learner = learner_view(folded.state, cached[1] if cached else Catalog(), plan)
            await db.execute(
                "INSERT OR REPLACE INTO views VALUES (?, ?, ?)",
                (account.user_id, f"{version}|{catalog_version}|{plan}", _msgpack.encode(learner)),
            )
        return learner

    async def refold(self, account: Account) -> folds.Folded:
        """The learner's fold from every fact and decision the journal holds, as the
        materialized one must be (a check; :meth:`view` never needs it)."""
        async with self._txn("DEFERRED") as db:
            folded, _, _ = await _full_txn(db, account.user_id, account.timezone)
        return folded

    async def folded(self, account: Account) -> folds.Folded:
        """The learner's materialized fold, brought up to date (own events recorded since)."""
        async with self._txn() as db:
            _, folded = await self._folded_txn(db, account.user_id, account.timezone)
        return folded

    async def _folded_txn(
        self, db: aiosqlite.Connection, user_id: str, tz: str, entries: Iterable[FeedEntry] = ()
    ) -> tuple[int, folds.Folded]:
        """The learner's fold, in a write transaction, brought up to date and written back
        if it changed: folded again if it must be (none yet, marked stale, another zone),
        then ``entries`` (feed entries just stored) and own events recorded since taken
        in. Returns its version and the fold (kept in memory for that version)."""
        row = await _one(
            db, "SELECT version, feed_seq, own_rowid, tz FROM folds WHERE user_id = ?", user_id
        )
        version = int(row[0]) if row is not None else 0
        folded, changed = None, False
        if row is not None and row[1] >= 0 and row[3] == tz:
            feed_seq, own_rowid = int(row[1]), int(row[2])
            held = self._folds.get(user_id)
            if held is not None and held[0] == version:
                folded = held[1]
            else:
                state, gamify, seconds = await _one(
                    db, "SELECT state, gamify, seconds FROM folds WHERE user_id = ?", user_id
                )
                lessons = await db.execute_fetchall(
                    "SELECT lesson, body FROM fold_lessons WHERE user_id = ?", (user_id,)
                )
                folded = folds.Folded(
                    folds.decode_state(state, ((r[0], r[1]) for r in lessons)),
                    folds.decode_gamify(gamify),
                    folds.decode_seconds(seconds),
                    tz,
                )
            self._folds.pop(user_id, None)  # changed in place below: good once written
            added = await _add_entries_txn(db, folded, feed_seq, own_rowid, entries)
            top = None if added is None else await _add_own_txn(db, folded, user_id, own_rowid)
            if added is None or top is None:
                folded = None  # cannot be taken in: fold everything again
            else:
                changed = added != feed_seq or top != own_rowid
                feed_seq, own_rowid = added, top
        if folded is None:
            folded, feed_seq, own_rowid = await _full_txn(db, user_id, tz)
            await db.execute("DELETE FROM fold_lessons WHERE user_id = ?", (user_id,))
            folded.dirty = set(folded.state.lessons)
            changed = True
        if changed:
            version += 1
            await db.execute(
                "INSERT OR REPLACE INTO folds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, version, feed_seq, own_rowid, tz, *folds.encode(folded)),
            )
            await db.executemany(
                "INSERT OR REPLACE INTO fold_lessons VALUES (?, ?, ?)",
                [(user_id, *row) for row in folds.encode_lessons(folded, folded.dirty)],
            )
            folded.dirty = set()
        self._folds[user_id] = (version, folded)
        return version, folded

    # -- gamification -------------------------------------------------------------------

    async def _part(self, account: Account, column: str) -> tuple[folds.Folded | None, bytes]:
        """The learner's fold if held in memory and up to date, else ``column`` of it as
        stored, brought up to date first if it was not."""
        async with self._txn("DEFERRED") as db:
            fresh = await _fresh_txn(db, account, column)
        if fresh is None:
            return await self.folded(account), b""
        held = self._folds.get(account.user_id)
        if held is not None and held[0] == fresh[0]:
            return held[1], b""
        return None, fresh[1]

    async def gamify_state(self, account: Account) -> GamifyState:
        """Activity days from every known fact (so an offline day counts at once), and the
        server's awards (points, badges, certificates, levels) from the feed."""
        folded, raw = await self._part(account, "gamify")
        return folded.gamify if folded is not None else folds.decode_gamify(raw)

    async def achievements(self, account: Account, *, now_ms: int) -> GamifyView:
        """Points, level, streak, badges, certificates as this device knows them
        (:func:`sync.gamify.gamify_view`; streaks count own offline activity already,
        points only what the server awarded)."""
        cached = await self.catalog(account.server_url)
        return gamify_view(
            await self.gamify_state(account),
            cached[1] if cached else Catalog(),
            user_tz=account.timezone,
            now_ms=now_ms,
        )

    async def time_per_day(
        self, account: Account, *, days: int, now_ms: int
    ) -> list[tuple[str, int]]:
        """Seconds of learning time per local day (each event's own zone) over the last
        ``days`` days up to today in the learner's zone, oldest first, zeros included."""
        today = local_day(now_ms, account.timezone)
        first = today.toordinal() - days + 1
        folded, raw = await self._part(account, "seconds")
        totals = folded.seconds if folded is not None else folds.decode_seconds(raw)
        return [
            (date.fromordinal(d).isoformat(), totals.get(d, 0))
            for d in range(first, today.toordinal() + 1)
        ]

    async def celebrations(
        self, account: Account, *, after: int | None = None
    ) -> list[Celebration]:
        """What to celebrate in the feed after user_seq ``after`` (default: after the last
        one :meth:`mark_celebrated` recorded), oldest first."""
        async with self._txn("DEFERRED") as db:
            if after is None:
                after = int(await _meta_txn(db, f"celebrated:{account.user_id}", "0"))
            rows = await db.execute_fetchall(
                "SELECT user_seq, type, body FROM feed WHERE user_id = ? AND origin = 'server' "
                "AND user_seq > ? ORDER BY user_seq",
                (account.user_id, after),
            )
        cached = await self.catalog(account.server_url)
        catalog = cached[1] if cached else Catalog()
        found = (celebration(r[0], r[1], msgspec.json.decode(r[2]), catalog) for r in rows)
        return [c for c in found if c is not None]

    async def mark_celebrated(self, account: Account, user_seq: int) -> None:
        """Celebrations up to ``user_seq`` were shown (they are not shown again)."""
        async with self._txn() as db:
            held = int(await _meta_txn(db, f"celebrated:{account.user_id}", "0"))
            await _set_meta_txn(db, f"celebrated:{account.user_id}", str(max(held, user_seq)))


class Celebration(msgspec.Struct, frozen=True):
    """Something to celebrate that the server decided: a badge, a level, a certificate, a
    completed module, course, path or milestone. ``user_seq``: its place in the feed."""

    user_seq: int
    kind: str
    """``badge``, ``level``, ``certificate``, ``completion``."""
    title: str
    detail: str = ""


_COMPLETIONS: Final = {
    "module-completed": "Module completed",
    "course-completed": "Course completed",
    "path-completed": "Learning path completed",
}


def _kept(code: str, unknown_ids: bool) -> bool:
    """Whether an event the check rejects with ``code`` is recorded all the same."""
    return code == "unknown_type" or (unknown_ids and code.startswith("unknown_"))


def celebration(
    user_seq: int, type_: str, body: dict[str, Any], catalog: Catalog
) -> Celebration | None:
    """The celebration a server feed entry calls for, if any (unknown shapes: none)."""
    try:
        match type_:
            case "achievement.earned":
                name = str(body.get("name") or body["achievement_id"])
                points = int(body.get("points", 0))
                detail = f"+{points} points" if points else ""
                return Celebration(user_seq, "badge", f"Badge earned: {name}", detail)
            case "level.reached":
                return Celebration(
                    user_seq,
                    "level",
                    f"Level {int(body['level'])} reached",
                    f"{int(body.get('points', 0))} points",
                )
            case "certificate.issued":
                title = str(body.get("title") or body.get("course") or body.get("path"))
                return Celebration(
                    user_seq, "certificate", f"Certificate: {title}", f"code {body['code']}"
                )
            case "points.awarded" if body.get("rule") in _COMPLETIONS:
                ref = str(body["ref"])
                course, _, module = ref.partition("/")
                found = catalog.course(course)
                if module:
                    held = catalog.module(course, module)
                    name = held.title if held and held.title else module
                elif body["rule"] == "path-completed":
                    path = catalog.path(ref)
                    name = path.title if path and path.title else ref
                else:
                    name = found.title if found and found.title else ref
                return Celebration(
                    user_seq,
                    "completion",
                    f"{_COMPLETIONS[body['rule']]}: {name}",
                    f"+{int(body['points'])} points",
                )
            case "milestone.completed":
                return Celebration(
                    user_seq,
                    "completion",
                    f"Milestone completed: {body['milestone']}",
                    str(body.get("path", "")),
                )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _encode(body: dict[str, Any]) -> str:
    return _json.encode(body).decode()


def _feed_row(e: FeedEntry) -> tuple[object, ...]:
    return (e.user_seq, e.origin, e.type, _encode(e.body), e.hlc, e.at, e.tz, e.device_id, e.seq)


async def _migrate(db: aiosqlite.Connection) -> int:
    """Apply the steps of :data:`MIGRATIONS` the journal lacks; returns the version it had.

    One ``BEGIN IMMEDIATE`` transaction, and the version is read inside it, so two processes
    opening an old journal at once migrate it once (the other waits, then finds it done).
    """
    await db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = await _one(db, "PRAGMA user_version")
        for step in MIGRATIONS[version:]:
            for statement in step:
                await db.execute(statement)
        if version < SCHEMA_VERSION:
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
    return int(version)


async def _one(db: aiosqlite.Connection, sql: str, *params: object) -> Any:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _account_txn(db: aiosqlite.Connection, where: str, *params: object) -> Account | None:
    row = await _one(db, f"SELECT {_FIELDS} FROM accounts WHERE {where}", *params)
    return None if row is None else msgspec.convert(dict(row), Account, strict=False)


async def _meta_txn(db: aiosqlite.Connection, key: str, default: str) -> str:
    row = await _one(db, "SELECT value FROM meta WHERE key = ?", key)
    return default if row is None else str(row[0])


async def _set_meta_txn(db: aiosqlite.Connection, key: str, value: str) -> None:
    await db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


async def _move_pending_txn(db: aiosqlite.Connection, old: str, new: str, after: int = 0) -> int:
    # Pending events move to the new device renumbered after+1..after+n in order. They are mostly a
    # suffix of the old seqs, but an event rejected among them (an ack's rejection list
    # may name one above the watermark) leaves a gap, so each is numbered by its rank.
    rows = list(
        await db.execute_fetchall(
            "SELECT seq FROM events WHERE device_id = ? AND status = 'pending' ORDER BY seq",
            (old,),
        )
    )
    await db.executemany(
        "UPDATE events SET device_id = ?, seq = ? WHERE device_id = ? AND seq = ?",
        [(new, rank, old, row[0]) for rank, row in enumerate(rows, after + 1)],
    )
    return len(rows)


async def _mark_rejected_txn(
    db: aiosqlite.Connection, device_id: str, seq: int, code: str, reason: str
) -> None:
    # A fact leaves the learner's facts: the fold cannot take one out, so it folds again.
    await db.execute(
        "UPDATE folds SET feed_seq = -1 WHERE user_id = (SELECT user_id FROM events "
        "WHERE device_id = ? AND seq = ? AND status != 'rejected')",
        (device_id, seq),
    )
    await db.execute(
        "UPDATE events SET status = 'rejected', reject_code = ?, reject_reason = ? "
        "WHERE device_id = ? AND seq = ?",
        (code, reason, device_id, seq),
    )


async def _apply_rejection_txn(db: aiosqlite.Connection, body: dict[str, Any]) -> None:
    try:
        rejected = msgspec.convert(body, _RejectedBody)
    except msgspec.ValidationError:
        return  # a newer server's shape: the ack's rejection list still marks the event
    await _mark_rejected_txn(db, rejected.device_id, rejected.seq, rejected.code, rejected.reason)


# -- the materialized fold (client.view) --------------------------------------------------

_FACTS = (
    "SELECT device_id, seq, hlc, at, type, body, tz FROM feed "
    "WHERE user_id = ?1 AND origin = 'device' "
    "UNION ALL "
    "SELECT device_id, seq, hlc, at, type, body, tz FROM events AS e "
    "WHERE user_id = ?1 AND status != 'rejected' AND NOT EXISTS "
    "(SELECT 1 FROM feed AS f WHERE f.device_id = e.device_id AND f.seq = e.seq)"
)


def _fact(row: Any) -> tuple[Fact, str]:
    """``(fact, zone)`` of a row ``device_id, seq, hlc, at, type, body, tz``."""
    return Fact(row[0], row[1], row[2], row[3], row[4], msgspec.json.decode(row[5])), row[6]


async def _full_txn(
    db: aiosqlite.Connection, user_id: str, tz: str
) -> tuple[folds.Folded, int, int]:
    """The learner's fold from every fact and decision held, with the highest user_seq
    and own events' rowid it accounts for."""
    facts = await db.execute_fetchall(_FACTS, (user_id,))
    decisions = await db.execute_fetchall(
        "SELECT user_seq, type, body, at FROM feed "
        "WHERE user_id = ? AND origin = 'server' AND type != 'event.rejected' "
        "ORDER BY user_seq",
        (user_id,),
    )
    (feed_seq,) = await _one(
        db, "SELECT COALESCE(MAX(user_seq), 0) FROM feed WHERE user_id = ?", user_id
    )
    (own_rowid,) = await _one(
        db, "SELECT COALESCE(MAX(rowid), 0) FROM events WHERE user_id = ?", user_id
    )
    folded = folds.full(
        [_fact(r) for r in facts],
        [Decision(r[0], r[1], msgspec.json.decode(r[2]), r[3]) for r in decisions],
        tz=tz,
    )
    return folded, int(feed_seq), int(own_rowid)


async def _add_entries_txn(
    db: aiosqlite.Connection,
    folded: folds.Folded,
    feed_seq: int,
    own_rowid: int,
    entries: Iterable[FeedEntry],
) -> int | None:
    """Take feed entries just stored into ``folded``; returns the highest user_seq folded,
    or None if they cannot be taken in (then fold everything again).

    An entry that is an own event already folded (recorded here, taken in, not rejected)
    is not folded twice; if the server holds it otherwise (its HLC clamped to the settled
    horizon, say), the fold must start over. Decisions are folded in feed order, so an
    entry below one already folded (a gap filled late) starts it over too.
    """
    entries = sorted(entries, key=lambda e: e.user_seq)
    own: dict[tuple[str, int], Any] = {}
    ranges: dict[str, list[int]] = {}
    for entry in entries:
        if entry.origin == "device" and entry.device_id is not None and entry.seq is not None:
            ranges.setdefault(entry.device_id, []).append(entry.seq)
    for device_id, seqs in ranges.items():
        rows = await db.execute_fetchall(
            "SELECT seq, hlc, at, type, body FROM events "
            "WHERE device_id = ? AND seq BETWEEN ? AND ? AND rowid <= ? AND status != 'rejected'",
            (device_id, min(seqs), max(seqs), own_rowid),
        )
        own.update({(device_id, int(r[0])): r for r in rows})
    for entry in entries:
        if entry.user_seq <= feed_seq:
            return None
        feed_seq = entry.user_seq
        if entry.origin == "server":
            folded.decision(entry.type, entry.body, entry.at)
            continue
        held = own.get((entry.device_id or "", entry.seq or 0))
        if held is not None:
            if (held[1], held[2], held[3], msgspec.json.decode(held[4])) != (
                entry.hlc,
                entry.at,
                entry.type,
                entry.body,
            ):
                return None
            continue
        fact = Fact(
            entry.device_id or "", entry.seq or 0, entry.hlc, entry.at, entry.type, entry.body
        )
        if not folded.fact(fact, entry.tz):
            return None
    return feed_seq


async def _add_own_txn(
    db: aiosqlite.Connection, folded: folds.Folded, user_id: str, own_rowid: int
) -> int | None:
    """Take own events recorded after rowid ``own_rowid`` (not rejected, not in the feed)
    into ``folded``; returns the highest rowid now accounted for, or None if one cannot
    be taken in."""
    rows = await db.execute_fetchall(
        "SELECT rowid, device_id, seq, hlc, at, type, body, tz, status FROM events AS e "
        "WHERE user_id = ? AND rowid > ? AND NOT EXISTS "
        "(SELECT 1 FROM feed AS f WHERE f.device_id = e.device_id AND f.seq = e.seq) "
        "ORDER BY rowid",
        (user_id, own_rowid),
    )
    for row in rows:
        if row[8] != "rejected" and not folded.fact(*_fact(row[1:8])):
            return None
    (top,) = await _one(db, "SELECT COALESCE(MAX(rowid), 0) FROM events WHERE user_id = ?", user_id)
    return max(int(top), own_rowid)


async def _fresh_txn(db: aiosqlite.Connection, account: Account, columns: str) -> Any:
    """``version, *columns`` of the learner's stored fold if it is up to date (not stale,
    same zone, no own event recorded since), else None."""
    row = await _one(
        db,
        f"SELECT feed_seq, own_rowid, tz, version, {columns} FROM folds WHERE user_id = ?",
        account.user_id,
    )
    if row is None or row[0] < 0 or row[2] != account.timezone:
        return None
    (top,) = await _one(
        db, "SELECT COALESCE(MAX(rowid), 0) FROM events WHERE user_id = ?", account.user_id
    )
    return None if top > row[1] else tuple(row)[3:]


async def _stale_txn(db: aiosqlite.Connection, user_id: str) -> None:
    """Mark the learner's fold to be folded again from every fact at its next use."""
    await db.execute("UPDATE folds SET feed_seq = -1 WHERE user_id = ?", (user_id,))
