"""The WebSocket shell around :class:`sync.protocol.sessions.ClientSession`.

It only moves frames between the socket, the journal and the session; the message flow is
``/work/notes/protocol-spec.md`` (``docs/protocol.md`` once written). Call :func:`sync_once`
to catch up and return, or :func:`follow` to stay connected and hear about other devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from client.errors import (
    AccessDenied,
    ClientError,
    DeviceRevoked,
    ServerUnreachable,
    SyncProtocolError,
)
from client.journal import BATCH, Account, Journal
from sync.catalog import catalog_from_server
from sync.errors import CatalogError, ProtocolError
from sync.protocol.codec import (
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_UNAUTHORIZED,
    Frame,
)
from sync.protocol.messages import (
    MAX_ACCOUNTS,
    Ack,
    CatalogMsg,
    Error,
    Feed,
    FeedEntry,
    HelloAccount,
    ServerMessage,
    Welcome,
)
from sync.protocol.sessions import ClientSession

CLIENT: Final = "waymark-client/0.1"
CLOSE_ABNORMAL: Final = 1006  # no close frame: the connection dropped
# Closes after which connecting again later is worth it: normal, going away, dropped,
# internal error, service restart, try again later.
RETRYABLE: Final = frozenset(
    {CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_ABNORMAL, CLOSE_INTERNAL, 1012, 1013}
)
OPEN_TIMEOUT: Final = 10.0

log = logging.getLogger(__name__)


class Refused(msgspec.Struct, frozen=True):
    """A learner the server did not accept in the welcome (spec flow step 2)."""

    username: str
    code: str
    reason: str


class SyncReport(msgspec.Struct):
    """What :func:`sync_once` did: events pushed (resends count again), feed entries new to
    this device, and learners the server refused."""

    pushed: int = 0
    received: int = 0
    refused: list[Refused] = []


class Change(msgspec.Struct, frozen=True):
    """A feed entry from another device or from the server, for ``username``."""

    username: str
    entry: FeedEntry

    def describe(self) -> str:
        """One line for a terminal."""
        entry = self.entry
        detail = " ".join(f"{key}={value}" for key, value in entry.body.items())
        source = "the server" if entry.origin == "server" else f"device {entry.device_id}"
        return f"{self.username}: {entry.type} {detail} (from {source})"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: wait ``n`` is uniform in
    ``[0, min(cap, base * 2**n))`` seconds. Inject ``random`` and ``sleep`` in tests."""

    base: float = 0.5
    cap: float = 60.0
    random: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int) -> float:
        return self.random() * min(self.cap, self.base * 2.0 ** min(attempt, 32))


def sync_url(server_url: str) -> str:
    """``http://host:port`` -> ``ws://host:port/v1/sync`` (``https`` -> ``wss``)."""
    scheme, _, rest = server_url.partition("://")
    scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{scheme}://{rest.rstrip('/')}/v1/sync"


async def sync_once(
    journal: Journal, users: Iterable[str] = (), *, now_ms: int, timeout: float = 30.0
) -> SyncReport:
    """Push everything pending, bring every feed to its head, and return.

    One connection per server with all chosen learners (default: every one) in its hello.
    Learners the server refuses one by one are listed in the report. Raises
    :class:`NotLoggedIn`/:class:`UnknownUser`, :class:`ServerUnreachable` (also when the sync
    takes over ``timeout`` seconds), :class:`DeviceRevoked`/:class:`AccessDenied` (every
    learner refused) and :class:`SyncProtocolError`.
    """
    report = SyncReport()
    for accounts in _by_server(await journal.choose(users)):
        url = accounts[0].server_url
        try:
            async with asyncio.timeout(timeout), _connect(url) as ws:
                link = _Link(ws, journal, accounts, lambda: now_ms, report)
                await link.open()
                await link.push()
                while not await link.settle():
                    await link.receive(await link.recv())
                    await link.push()
        except TimeoutError:
            raise ServerUnreachable(f"{url} did not complete the sync in {timeout:g} s") from None
    return report


async def follow(
    journal: Journal,
    on_change: Callable[[Change], object],
    *,
    stop: asyncio.Event,
    clock: Callable[[], int],
    backoff: Backoff,
    users: Iterable[str] = (),
    poll: float = 1.0,
) -> None:
    """Stay connected until ``stop`` is set.

    Pushes events as :meth:`Journal.record` writes them (this process: at once; other
    processes: within ``poll`` seconds), calls ``on_change`` for each feed entry from another
    device or the server, and reconnects after drops and server restarts (1001) with
    ``backoff``. ``clock`` returns epoch milliseconds. Raises :class:`AccessDenied`/
    :class:`DeviceRevoked` (4401/4403) once no learner is accepted, and
    :class:`SyncProtocolError`; network trouble is retried, never raised.
    """
    groups = _by_server(await journal.choose(users))
    try:
        async with asyncio.TaskGroup() as tasks:
            for accounts in groups:
                ids = {a.user_id for a in accounts}
                tasks.create_task(
                    _follow_server(journal, ids, on_change, stop, clock, backoff, poll)
                )
    except ExceptionGroup as group:
        raise group.exceptions[0] from None


def _by_server(accounts: list[Account]) -> list[list[Account]]:
    servers: dict[str, list[Account]] = {}
    for account in accounts:
        servers.setdefault(account.server_url, []).append(account)
    return [
        group[i : i + MAX_ACCOUNTS]
        for group in servers.values()
        for i in range(0, len(group), MAX_ACCOUNTS)
    ]


async def _follow_server(
    journal: Journal,
    user_ids: set[str],
    on_change: Callable[[Change], object],
    stop: asyncio.Event,
    clock: Callable[[], int],
    backoff: Backoff,
    poll: float,
) -> None:
    attempt = 0
    while not stop.is_set():
        # Re-read the accounts: the previous connection moved their cursors on.
        accounts = [a for a in await journal.accounts() if a.user_id in user_ids]
        link = None
        try:
            async with _connect(accounts[0].server_url) as ws:
                link = _Link(ws, journal, accounts, clock, SyncReport())
                await link.open()
                for refused in link.report.refused:
                    log.warning("%s was refused: %s", refused.username, refused.reason)
                await _stay(link, on_change, stop, poll)
        except (ServerUnreachable, AccessDenied) as err:
            # One learner cut off mid-connection (4403) closes it for every learner on it;
            # the next welcome refuses only that one, so the others connect again.
            if isinstance(err, AccessDenied) and (link is None or len(link.users) < 2):
                raise
            # Start the backoff over only after a connection that got in sync, so a server
            # that accepts and drops at once is not hammered.
            attempt = 0 if link is not None and link.synced else attempt
            delay = backoff.delay(attempt)
            attempt += 1
            log.info("%s; reconnecting in %.1f s", err, delay)
            await _first(backoff.sleep(delay), stop.wait())


async def _stay(
    link: _Link, on_change: Callable[[Change], object], stop: asyncio.Event, poll: float
) -> None:
    wake = link.journal.watch()
    stopping = asyncio.ensure_future(stop.wait())
    woken = asyncio.ensure_future(wake.wait())
    receiving = asyncio.ensure_future(link.recv())
    try:
        while True:
            await link.push()
            await link.settle()
            done, _ = await asyncio.wait(
                {stopping, woken, receiving}, timeout=poll, return_when=asyncio.FIRST_COMPLETED
            )
            if stopping in done:
                return
            if woken in done:
                wake.clear()  # before push() reads the journal, so no record is missed
                woken = asyncio.ensure_future(wake.wait())
            if receiving in done:
                frame = receiving.result()
                receiving = asyncio.ensure_future(link.recv())
                for change in await link.receive(frame):
                    on_change(change)
    finally:
        for task in (stopping, woken, receiving):
            task.cancel()
        await asyncio.gather(stopping, woken, receiving, return_exceptions=True)


async def _first(*awaitables: Awaitable[object]) -> None:
    """Wait until the first of ``awaitables`` is done, then cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def _connect(server_url: str) -> AsyncIterator[ClientConnection]:
    url = sync_url(server_url)
    try:
        ws = await connect(url, open_timeout=OPEN_TIMEOUT)
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as err:
        raise ServerUnreachable(f"cannot reach {url}: {err or 'timed out'}") from None
    try:
        yield ws
    finally:
        await ws.close()


class _Link:
    """One connection: its session and what it learned (watermarks, cursors, heads)."""

    def __init__(
        self,
        ws: ClientConnection,
        journal: Journal,
        accounts: list[Account],
        now: Callable[[], int],
        report: SyncReport,
    ) -> None:
        self.ws = ws
        self.journal = journal
        self.accounts = accounts
        self.server_url = accounts[0].server_url
        self.own = {a.device_id for a in accounts}
        self.now = now
        self.report = report
        self.session = ClientSession()
        self.devices: dict[str, Account] = {}  # accepted learners by device_id
        self.users: dict[str, Account] = {}  # ... and by user_id
        self.acked: dict[str, int] = {}  # device_id -> the server's watermark
        self.cursor: dict[str, int] = {}  # user_id -> highest user_seq held
        self.head: dict[str, int] = {}  # user_id -> highest feed head heard of
        self.error: Error | None = None  # the server's last word before it closes
        self.dirty = True  # something changed since synced_at was written
        self.synced = False  # settled at least once
        self.catalog_due = False  # the welcome announced a catalog not received yet

    async def open(self) -> None:
        """Send the hello and handle the welcome."""
        cached = await self.journal.catalog(self.server_url)
        clock, recorded = await self.journal.tick_for_hello(self.now())
        hello = [
            HelloAccount(a.token, a.cursor, clock, recorded.get(a.user_id, 0))
            for a in self.accounts
        ]
        held = cached[0] if cached else ""
        await self._send(self.session.hello(hello, client=CLIENT, catalog_version=held))
        while True:
            match self._decode(await self.recv()):
                case Welcome() as welcome:
                    break
                case Error() as error:
                    self.error = error  # every learner refused: the close follows
                case other:
                    raise SyncProtocolError(f"expected a welcome, got {type(other).__name__}")
        # A newer catalog follows the welcome (spec flow step 3): not in sync without it.
        self.catalog_due = bool(welcome.catalog_version) and welcome.catalog_version != held
        for refusal in welcome.refused:
            name = (
                self.accounts[refusal.index].username if refusal.index < len(self.accounts) else "?"
            )
            self.report.refused.append(Refused(name, refusal.code, refusal.reason))
        by_device = {a.device_id: a for a in self.accounts}
        for accepted in welcome.accounts:
            account = by_device.get(accepted.device_id)
            if account is None:
                raise SyncProtocolError(f"welcome for a device not signed in: {accepted.device_id}")
            self.devices[accepted.device_id] = self.users[accepted.user_id] = account
            self.acked[accepted.device_id] = accepted.acked_seq
            cursor = account.cursor
            if cursor > accepted.feed_head:
                # The server was restored from a backup: what this device holds of the feed
                # may differ from the server's anywhere, so read it all again.
                await self.journal.truncate_feed(accepted.user_id, 0)
                await self._send(self.session.pull(accepted.user_id, 0))
                cursor = 0
            self.cursor[accepted.user_id] = cursor
            self.head[accepted.user_id] = accepted.feed_head
            await self.journal.mark_acked(accepted.device_id, accepted.acked_seq)
            if accepted.plan != account.plan:  # e.g. upgraded to premium since the login
                await self.journal.set_plan(accepted.user_id, accepted.plan)

    async def push(self) -> None:
        """Send the next batch of every device that has none in flight (one at a time, so
        each batch starts right after the watermark of the last ack)."""
        busy = {device_id for device_id, _ in self.session.in_flight.values()}
        for device_id in [d for d in self.devices if d not in busy]:
            events = await self.journal.pending(device_id, self.acked[device_id], BATCH)
            if events:
                _, frame = self.session.push(device_id, events)
                await self._send(frame)
                self.report.pushed += len(events)

    async def settle(self) -> bool:
        """Whether nothing is in flight, every feed is at its head and an announced catalog
        arrived; notes the sync time."""
        if (
            self.catalog_due
            or self.session.in_flight
            or any(self.cursor[u] < h for u, h in self.head.items())
        ):
            return False
        if self.dirty:
            await self.journal.set_synced(self.users, self.now())
            self.dirty = False
        self.synced = True
        return True

    async def receive(self, frame: Frame) -> list[Change]:
        """Handle one frame; returns the feed entries from other devices or the server."""
        match self._decode(frame):
            case CatalogMsg(version=version, catalog=data):
                try:
                    catalog = catalog_from_server(data)
                except CatalogError as err:
                    raise SyncProtocolError(f"the server sent a bad catalog: {err}") from None
                await self.journal.store_catalog(self.server_url, version, catalog)
                self.catalog_due = False
            case Feed(user_id=user_id, entries=entries, head=head):
                account = self.users.get(user_id)
                if account is None:
                    raise SyncProtocolError(f"feed for a learner not signed in: {user_id}")
                new = await self.journal.apply_feed(user_id, entries, now_ms=self.now())
                held = max((e.user_seq for e in entries), default=0)
                self.cursor[user_id] = max(self.cursor[user_id], held)
                self.head[user_id] = max(self.head[user_id], head)
                self.report.received += len(new)
                self.dirty = True
                return [
                    Change(account.username, e)
                    for e in new
                    if e.origin == "server" or e.device_id not in self.own
                ]
            case Ack(device_id=device_id) as ack:
                account = self.devices.get(device_id)
                if account is None:
                    raise SyncProtocolError(f"ack for a device not signed in: {device_id}")
                await self.journal.mark_acked(device_id, ack.acked_seq, ack.rejected)
                self.acked[device_id] = ack.acked_seq
                self.head[account.user_id] = max(self.head[account.user_id], ack.feed_head)
                self.dirty = True
            case Error(code="seq_gap"):
                pass  # the ack before it carries the watermark; push() resumes from there
            case Error() as error:
                self.error = error  # the close follows; recv() reports it
            case Welcome():
                raise SyncProtocolError("the server sent a second welcome")
        return []

    async def recv(self) -> Frame:
        """The next frame; a close becomes the matching :class:`ClientError`."""
        try:
            return await self.ws.recv()
        except ConnectionClosed as closed:
            raise self._closed(closed) from None

    async def _send(self, frame: Frame) -> None:
        try:
            await self.ws.send(frame)
        except ConnectionClosed as closed:
            raise self._closed(closed) from None

    def _decode(self, frame: Frame) -> ServerMessage:
        try:
            return self.session.receive(frame)
        except ProtocolError as err:
            raise SyncProtocolError(f"unreadable message from the server: {err}") from None

    def _closed(self, closed: ConnectionClosed) -> ClientError:
        code = closed.rcvd.code if closed.rcvd else CLOSE_ABNORMAL
        reason = self.error.message if self.error else (closed.rcvd.reason if closed.rcvd else "")
        if code == CLOSE_FORBIDDEN:
            return DeviceRevoked(
                f"the server refused this device: {reason or 'revoked'}; log in again"
            )
        if code == CLOSE_UNAUTHORIZED:
            return AccessDenied(f"the server does not know this device: {reason}; log in again")
        if code in RETRYABLE:
            why = f": {reason}" if reason else ""
            return ServerUnreachable(f"{self.server_url} closed the connection ({code}{why})")
        return SyncProtocolError(f"{self.server_url} closed the connection ({code}): {reason}")
