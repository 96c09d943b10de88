"""Fan-out: new feed entries to every connection of their learner, on every instance.

The :class:`Hub` of an instance knows its connections per learner (each a
:class:`Follower`) and the highest feed entry it has handed them per learner. When a merge
commits on this instance, the hub hands the entries it just wrote (the merge's result, no
read) to every connection of the learner, the pusher's included: that is its echo, sent
once. Every feed write also sends a PostgreSQL ``NOTIFY`` on :data:`FEED_CHANNEL` at commit
(``"<user_id> <head>"``); the :class:`Listener` hears those of every instance, and when
this hub's connections of that learner are behind the head, it reads the new entries once
for all of them. So a commit costs one feed read per other instance that has a connection
of the learner, and none where it was made.

A connection applies what it is handed only when it continues what it has sent; anything
else (a gap: entries handed out of order, or after a lost notification) makes it read from
its own cursor. So the fan-out can be late, never wrong.

How an instance hears the others is its :class:`Backend`: :class:`InProcess` on SQLite (one
process owns the database: the hub alone is the fan-out), :class:`Listener` on PostgreSQL
(``LISTEN`` to the ``NOTIFY`` every feed write sends), or ``server.fanout_redis`` (Litestar
channels on Redis, ``waymark serve --fanout redis://…``). Every backend carries the same
announcement, the learner and their new head, never the entries: the feed stays the one
truth, and an announcement lost (a backend down, a message dropped) only makes a device late
until the backend's :meth:`Backend.start`-ed reconnect offers every connection a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import asyncpg

from server.errors import StoreUnavailable
from server.storage.feed import FEED_CHANNEL
from server.storage.store import Store
from sync.protocol.messages import FEED_PAGE, FeedEntry

__all__ = ["FEED_CHANNEL", "Backend", "Follower", "Hub", "InProcess", "Listener"]

log = logging.getLogger("waymark.fanout")


class Follower(Protocol):
    """A connection that sends a learner's feed entries (``server.sync_socket``)."""

    def position(self, user_id: str) -> int:
        """The highest ``user_seq`` of ``user_id`` sent (or about to be) on it."""
        ...

    def offer(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        """New entries of ``user_id``, in order (``None``: read from your cursor). Must not
        block: the connection sends them from its own task."""
        ...


def announcement(user_id: str, head: int) -> str:
    """What every backend carries: ``"<user_id> <head>"`` (the ``NOTIFY`` payload)."""
    return f"{user_id} {head}"


def parse_announcement(payload: str) -> tuple[str, int] | None:
    """``(user_id, head)`` of an :func:`announcement`; ``None`` for anything else."""
    user_id, _, head = payload.rpartition(" ")
    return (user_id, int(head)) if user_id and head.isdigit() else None


class Backend(Protocol):
    """How commits are announced between instances: ``announce`` this instance's, and call
    :meth:`Hub.heard` for every instance's (its own included), then :meth:`Hub.resync`
    after a time when some may have been missed."""

    name: str
    """What ``/v1/ready`` and the logs call it: ``in-process``, ``postgresql``, ``redis``."""

    @property
    def healthy(self) -> bool:
        """Whether other instances' commits are heard now (``/v1/ready``)."""
        ...

    async def start(self) -> None:
        """Begin hearing; from then on a lost connection is re-established by itself."""
        ...

    async def stop(self) -> None: ...

    def announce(self, user_id: str, head: int | None) -> None:
        """``user_id``'s feed committed up to ``head`` on this instance (``None``: the
        writer does not know the head). Must not block."""
        ...


class InProcess:
    """No other instance to hear (SQLite: one process owns the database)."""

    name = "in-process"
    healthy = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def announce(self, user_id: str, head: int | None) -> None:
        pass


class Hub:
    """This instance's connections per learner, and what it handed them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._followers: defaultdict[str, set[Follower]] = defaultdict(set)
        self._handed: dict[str, int] = {}
        """Per learner: the highest user_seq handed to every connection of it."""
        self._wanted: dict[str, int] = {}
        """Per learner: the highest head announced that this hub has not handed yet."""
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._local: dict[str, int] = {}
        """Per learner: writes in progress on this instance (their hand-off is coming)."""
        self.backend: Backend = InProcess()
        """How other instances hear this one's commits, and it theirs."""
        self.unsent = 0
        """Entries handed to connections and not sent yet (the connections count them)."""
        self.on_store_error: Callable[[], None] | None = None
        """Told when a fan-out read fails for the database (``waymark_store_errors``)."""
        self._watchers: list[Callable[[str, int | None], None]] = []

    def watch(self, watcher: Callable[[str, int | None], None]) -> None:
        """Call ``watcher(user_id, head)`` whenever any learner syncs: a commit of their
        feed on this instance or announced by any instance (so the same commit may come
        twice, with the same head), or a device of theirs said hello here (``head``
        ``None``). The dashboard's live pages watch (``server.dashboard.live``). A watcher
        must not block; what it raises is logged and ignored."""
        self._watchers.append(watcher)

    def _tell(self, user_id: str, head: int | None) -> None:
        for watcher in self._watchers:
            try:
                watcher(user_id, head)
            except Exception:
                log.exception("a fan-out watcher failed")

    def seen(self, user_id: str) -> None:
        """A device of ``user_id`` said hello on this instance (it may have nothing to
        push): only the watchers care."""
        self._tell(user_id, None)

    @property
    def listening(self) -> bool:
        """Whether commits of other instances are heard (``/v1/ready``)."""
        return self.backend.healthy

    def backlog(self) -> int:
        """Feed entries committed and not yet sent to a connected device of their learner:
        those handed and waiting in connections, and those announced and not read yet."""
        announced = sum(
            max(0, head - self._handed.get(user_id, 0))
            for user_id, head in self._wanted.items()
            if user_id in self._followers
        )
        return self.unsent + announced

    def follow(self, follower: Follower, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._followers[user_id].add(follower)

    def unfollow(self, follower: Follower, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._followers[user_id].discard(follower)
            if not self._followers[user_id]:
                del self._followers[user_id]
                self._handed.pop(user_id, None)
                if user_id not in self._reading:
                    self._wanted.pop(user_id, None)

    @contextlib.contextmanager
    def local_write(self, user_id: str) -> Iterator[None]:
        """Around a write of ``user_id``'s feed on this instance and its :meth:`committed`:
        its own announcement may be heard before the write returns, and must not cause a
        read of what is about to be handed over."""
        self._local[user_id] = self._local.get(user_id, 0) + 1
        try:
            yield
        finally:
            self._local[user_id] -= 1
            if not self._local[user_id]:
                del self._local[user_id]
                if self._wanted.get(user_id, 0) > self._handed.get(user_id, 0):
                    self._read_soon(user_id)
                elif user_id not in self._reading:  # its own announcement: handed already
                    self._wanted.pop(user_id, None)

    def committed(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        """A write of ``user_id``'s feed committed on this instance: hand its entries
        (``None`` when the writer did not keep them: every connection reads once)."""
        if entries is None or entries:
            head = entries[-1].user_seq if entries else None
            self.backend.announce(user_id, head)
            self._tell(user_id, head)
        followers = self._followers.get(user_id)
        if not followers:
            return
        if entries is None:
            self._wanted[user_id] = self._handed.get(user_id, 0) + 1
            self._read_soon(user_id)
            return
        if not entries:
            return
        head = entries[-1].user_seq
        self._handed[user_id] = max(self._handed.get(user_id, 0), head)
        for follower in followers:
            follower.offer(user_id, entries)

    def heard(self, user_id: str, head: int) -> None:
        """A commit of ``user_id``'s feed up to ``head`` was announced (by any instance)."""
        self._tell(user_id, head)
        if user_id not in self._followers or head <= self._handed.get(user_id, 0):
            return
        self._wanted[user_id] = max(self._wanted.get(user_id, 0), head)
        if user_id not in self._local:  # else: once the local write has handed its entries
            self._read_soon(user_id)

    def resync(self) -> None:
        """Announcements may have been missed (the listener was down): every connection
        catches up from its own cursor."""
        for user_id, followers in list(self._followers.items()):
            for follower in followers:
                follower.offer(user_id, None)

    def _read_soon(self, user_id: str) -> None:
        if user_id not in self._reading:
            self._reading[user_id] = asyncio.create_task(self._read(user_id))

    async def _read(self, user_id: str) -> None:
        try:
            while self._wanted.get(user_id, 0) > self._handed.get(user_id, 0):
                followers = self._followers.get(user_id)
                if not followers:
                    break
                after = min(f.position(user_id) for f in followers)
                entries = await self.store.feed_after(user_id, after, FEED_PAGE)
                if not entries:
                    break
                head = entries[-1].user_seq
                self._handed[user_id] = max(self._handed.get(user_id, 0), head)
                for follower in self._followers.get(user_id, ()):
                    follower.offer(user_id, entries)
        except Exception as err:
            # The connections are told to read themselves: late, never lost. The database
            # going away is an outage to report, not a fault of this code to trace.
            if isinstance(err, StoreUnavailable):
                log.warning("fan-out read failed: %s", err.detail)
                if self.on_store_error is not None:
                    self.on_store_error()
            else:
                log.exception("fan-out read failed")
            for follower in self._followers.get(user_id, ()):
                follower.offer(user_id, None)
        finally:
            self._wanted.pop(user_id, None)
            del self._reading[user_id]


class Listener:
    """``LISTEN`` on :data:`FEED_CHANNEL` over a connection of its own, re-established
    after it drops (a PostgreSQL restart), after which the hub's connections catch up.
    Announcing is the store's: every feed write sends its ``NOTIFY`` at commit."""

    name = "postgresql"

    def __init__(self, url: str, hub: Hub, *, retry_s: tuple[float, float] = (0.05, 2.0)) -> None:
        self.url = url
        self.hub = hub
        self.retry_s = retry_s
        self.healthy = True
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def announce(self, user_id: str, head: int | None) -> None:
        pass  # the NOTIFY went out with the commit (server.storage.feed)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._keep())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(FEED_CHANNEL, self._notified)
        self._conn = conn
        self._lost.clear()
        self.healthy = True

    def _terminated(self, _conn: Any) -> None:
        self.healthy = False
        self._lost.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if (heard := parse_announcement(payload)) is not None:
            self.hub.heard(*heard)

    async def _keep(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("fan-out: the LISTEN connection dropped; reconnecting")
            delay = self.retry_s[0]
            while True:
                try:
                    await self._connect()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                    log.warning("fan-out: cannot listen yet (%s); retrying", err)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_s[1])
                    continue
                log.info("fan-out: listening again")
                self.hub.resync()
                break
