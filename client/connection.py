"""The WebSocket shell around :class:`sync.protocol.sessions.ClientSession`.

It carries out what the session asks: moves frames between the socket and the session, and
reads and writes the journal. The message flow is ``docs/protocol.md``. Call
:func:`sync_once` to catch up and return, or :func:`follow` to stay connected and hear
about other devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
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
    TokenExpired,
    unreachable,
)
from client.journal import Account, Journal
from sync.errors import ProtocolError
from sync.protocol.codec import PING_INTERVAL_S, Frame
from sync.protocol.messages import MAX_ACCOUNTS, FeedEntry
from sync.protocol.sessions import (
    CLOSE_ABNORMAL,
    ApplyFeed,
    Changed,
    ClientEffect,
    ClientSession,
    Login,
    MarkAcked,
    ReadPending,
    Refused,
    ResetFeed,
    ResumeLater,
    Send,
    SetPlan,
    SetSynced,
    StoreCatalog,
)

CLIENT: Final = "waymark-client/0.1"
OPEN_TIMEOUT: Final = 10.0
Refresh = Callable[[Account], Awaitable[Account]]
"""Renews an account's expired token (``client.api.Device.refresh``)."""

log = logging.getLogger(__name__)


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
    journal: Journal,
    users: Iterable[str] = (),
    *,
    now_ms: int,
    timeout: float = 30.0,
    refresh: Refresh | None = None,
) -> SyncReport:
    """Push everything pending, bring every feed to its head, and return.

    One connection per server with all chosen learners (default: every one) in its hello.
    Learners the server refuses one by one are listed in the report; those refused for an
    expired token are renewed with ``refresh`` and synced on a second connection (once).
    Raises :class:`NotLoggedIn`/:class:`UnknownUser`, :class:`ServerUnreachable` (also when
    the sync takes over ``timeout`` seconds), :class:`DeviceRevoked`/:class:`AccessDenied`
    (every learner refused) and :class:`SyncProtocolError`.
    """
    report = SyncReport()
    for accounts in _by_server(await journal.choose(users)):
        url = accounts[0].server_url
        try:
            async with asyncio.timeout(timeout):
                expired = await _sync_group(journal, accounts, now_ms, report, refresh is None)
                if expired and refresh is not None:
                    renewed = await _renew(expired, refresh, report, every=expired == accounts)
                    await _sync_group(journal, renewed, now_ms, report, True)
        except TimeoutError:
            raise ServerUnreachable(f"{url} did not complete the sync in {timeout:g} s") from None
    return report


async def _renew(
    expired: list[Account], refresh: Refresh, report: SyncReport, *, every: bool
) -> list[Account]:
    """The accounts renewed; one that cannot be is reported as refused, or raised when
    ``every`` account of the connection was refused and none could be renewed."""
    renewed: list[Account] = []
    failed: list[AccessDenied] = []
    for account in expired:
        try:
            renewed.append(await refresh(account))
        except AccessDenied as err:
            failed.append(err)
            report.refused.append(Refused(account.username, "token_expired", str(err)))
    if failed and every and not renewed:
        raise failed[0]
    return renewed


async def _sync_group(
    journal: Journal, accounts: list[Account], now_ms: int, report: SyncReport, last: bool
) -> list[Account]:
    """Sync ``accounts`` on one connection; returns those refused for an expired token
    (unless this is the ``last`` try: then they are refused like any other)."""
    if not accounts:
        return []
    names = {a.username: a for a in accounts}
    try:
        async with _connect(accounts[0].server_url) as ws:
            link = _Link(ws, journal, accounts, lambda: now_ms, report)
            await link.open()
            while not await link.settle():
                await link.receive(await link.recv())
    except TokenExpired:
        if last:
            raise
        return accounts
    if last:
        return []
    expired = [r for r in report.refused if r.code == "token_expired" and r.username in names]
    report.refused = [r for r in report.refused if r not in expired]
    return [names[r.username] for r in expired]


async def follow(
    journal: Journal,
    on_change: Callable[[Change], object],
    *,
    stop: asyncio.Event,
    clock: Callable[[], int],
    backoff: Backoff,
    users: Iterable[str] = (),
    refresh: Refresh | None = None,
) -> None:
    """Stay connected until ``stop`` is set.

    Pushes events as :meth:`Journal.record` writes them (this process: at once; other
    processes: within :data:`client.journal.CHECK_EVERY` seconds, from the journal's data
    version), calls ``on_change`` for each feed entry from another
    device or the server, and reconnects after drops and server restarts (1001) with
    ``backoff``; a learner refused for an expired token is renewed with ``refresh`` and the
    connection made again at once. ``clock`` returns epoch milliseconds. Raises
    :class:`AccessDenied`/:class:`DeviceRevoked` (4401/4403) once no learner is accepted, and
    :class:`SyncProtocolError`; network trouble is retried, never raised.
    """
    groups = _by_server(await journal.choose(users))
    try:
        async with asyncio.TaskGroup() as tasks:
            for accounts in groups:
                ids = {a.user_id for a in accounts}
                tasks.create_task(
                    _follow_server(journal, ids, on_change, stop, clock, backoff, refresh)
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
    refresh: Refresh | None = None,
) -> None:
    attempt = 0
    renewed = False  # tokens were just renewed: an expired one now is no reason to renew
    while not stop.is_set():
        # Re-read the accounts: the previous connection moved their cursors on.
        accounts = [a for a in await journal.accounts() if a.user_id in user_ids]
        link = None
        try:
            async with _connect(accounts[0].server_url) as ws:
                link = _Link(ws, journal, accounts, clock, SyncReport(), on_change)
                await link.open()
                expired = {r.username for r in link.report.refused if r.code == "token_expired"}
                if expired and refresh is not None and not renewed:
                    raise TokenExpired(f"the token of {', '.join(sorted(expired))} expired")
                for refused in link.report.refused:
                    log.warning("%s was refused: %s", refused.username, refused.reason)
                renewed = False
                await _stay(link, stop)
        except TokenExpired:
            if refresh is None or renewed:
                raise
            stale = link.report.refused if link is not None else []
            names = {r.username for r in stale if r.code == "token_expired"}
            for account in accounts:
                if not names or account.username in names:
                    await refresh(account)
            renewed = True
        except (ServerUnreachable, AccessDenied) as err:
            # One learner cut off mid-connection (4403) closes it for every learner on it;
            # the next welcome refuses only that one, so the others connect again.
            if isinstance(err, AccessDenied) and (link is None or len(link.users) < 2):
                raise
            # Start the backoff over only after a connection that got in sync, so a server
            # that accepts and drops at once is not hammered.
            attempt = 0 if link is not None and link.synced else attempt
            delay = backoff.delay(attempt)
            said = link.session.error if link is not None and link.session else None
            if said is not None and said.retry_after:  # 4429: the server said how long
                delay = max(delay, float(said.retry_after))
            attempt += 1
            log.info("%s; reconnecting in %.1f s", err, delay)
            await _first(backoff.sleep(delay), stop.wait())


async def _stay(link: _Link, stop: asyncio.Event) -> None:
    # Woken by records in this process at once, and by other processes' commits.
    wake = link.journal.watch(others=True)
    stopping = asyncio.ensure_future(stop.wait())
    woken = asyncio.ensure_future(wake.wait())
    receiving = asyncio.ensure_future(link.recv())
    try:
        while True:
            await link.settle()
            done, _ = await asyncio.wait(
                {stopping, woken, receiving}, return_when=asyncio.FIRST_COMPLETED
            )
            if stopping in done:
                return
            if woken in done:  # recorded, here or by another process
                wake.clear()  # before the session reads the journal, so no record is missed
                woken = asyncio.ensure_future(wake.wait())
                await link.recorded()
            if receiving in done:
                frame = receiving.result()
                receiving = asyncio.ensure_future(link.recv())
                await link.receive(frame)
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


def ping_interval() -> float:
    """This connection's keepalive interval, in seconds (:data:`PING_INTERVAL_S`)."""
    low, high = PING_INTERVAL_S
    return random.uniform(low, high)


@contextlib.asynccontextmanager
async def _connect(server_url: str) -> AsyncIterator[ClientConnection]:
    url = sync_url(server_url)
    try:
        ws = await connect(url, open_timeout=OPEN_TIMEOUT, ping_interval=ping_interval())
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as err:
        raise unreachable(server_url, err) from None
    try:
        yield ws
    finally:
        await ws.close()


class _Link:
    """One connection: carries out what its :class:`ClientSession` asks (send, read and
    write the journal, report changes). No protocol rule lives here."""

    def __init__(
        self,
        ws: ClientConnection,
        journal: Journal,
        accounts: list[Account],
        now: Callable[[], int],
        report: SyncReport,
        on_change: Callable[[Change], object] = lambda change: None,
    ) -> None:
        self.ws = ws
        self.journal = journal
        self.accounts = accounts
        self.server_url = accounts[0].server_url
        self.now = now
        self.report = report
        self.on_change = on_change
        self.session: ClientSession | None = None
        self._counted = (0, 0)  # the session's counts already in the report
        self._resume_at: float | None = None  # loop time to push again (rate limited)

    @property
    def users(self) -> list[str]:
        return self.session.users if self.session else []

    @property
    def synced(self) -> bool:
        return self.session is not None and self.session.synced

    @property
    def settled(self) -> bool:
        return self.session is not None and self.session.settled

    async def open(self) -> None:
        """Send the hello; returns once the welcome was handled."""
        cached = await self.journal.catalog(self.server_url)
        clock, recorded = await self.journal.tick_for_hello(self.now())
        logins = [
            Login(
                a.token,
                a.username,
                a.user_id,
                a.device_id,
                a.cursor,
                recorded.get(a.user_id, 0),
                a.plan,
            )
            for a in self.accounts
        ]
        catalog_version = cached[0] if cached else ""
        self.session = ClientSession(
            logins, catalog_version=catalog_version, clock=clock, client=CLIENT
        )
        await self._do(self.session.start())
        while not self.session.welcomed:
            await self.receive(await self.recv())
        self.report.refused.extend(self.session.refused)

    async def recorded(self) -> None:
        """The journal has new events: push them."""
        await self._do(self._session.recorded())

    async def settle(self) -> bool:
        """Whether everything is pushed and acked, every feed is at its head and an
        announced catalog arrived; notes the sync time."""
        await self._do(self._session.settle())
        return self._session.settled

    async def receive(self, frame: Frame) -> None:
        """Handle one frame from the server."""
        try:
            effects = self._session.receive(frame)
        except ProtocolError as err:
            raise SyncProtocolError(str(err)) from None
        await self._do(effects)

    @property
    def _session(self) -> ClientSession:
        assert self.session is not None, "open() first"
        return self.session

    async def _do(self, effects: list[ClientEffect]) -> None:
        session = self._session
        queue = deque(effects)
        while queue:
            match queue.popleft():
                case Send(frame=frame):
                    await self._send(frame)
                case ReadPending(device_id=device_id, after=after, limit=limit) as read:
                    events = await self.journal.pending(device_id, after, limit)
                    queue.extend(session.pending_read(read, events))
                case ApplyFeed(user_id=user_id, entries=entries) as apply:
                    new = await self.journal.apply_feed(user_id, entries, now_ms=self.now())
                    queue.extend(session.feed_applied(apply, new))
                case MarkAcked(device_id=device_id, acked_seq=acked_seq, rejected=rejected):
                    await self.journal.mark_acked(device_id, acked_seq, rejected)
                case StoreCatalog(catalog_version=version, catalog=catalog):
                    await self.journal.store_catalog(self.server_url, version, catalog)
                case ResetFeed(user_id=user_id):
                    await self.journal.truncate_feed(user_id, 0)
                case SetPlan(user_id=user_id, plan=plan):
                    await self.journal.set_plan(user_id, plan)
                case SetSynced(user_ids=user_ids):
                    await self.journal.set_synced(user_ids, self.now())
                case Changed(username=username, entry=entry):
                    self.on_change(Change(username, entry))
                case ResumeLater(seconds=seconds):
                    log.info("pushing too fast for the server: waiting %d s", seconds)
                    self._resume_at = asyncio.get_running_loop().time() + seconds
        self.report.pushed += session.pushed - self._counted[0]
        self.report.received += session.received - self._counted[1]
        self._counted = (session.pushed, session.received)

    async def recv(self) -> Frame:
        """The next frame; a close becomes the matching :class:`ClientError`. While the
        server holds pushes back (rate limited), pushing resumes when the wait is over."""
        while self._resume_at is not None:
            try:
                async with asyncio.timeout_at(self._resume_at):
                    return await self._recv()
            except TimeoutError:
                self._resume_at = None
                await self._do(self._session.resume())
        return await self._recv()

    async def _recv(self) -> Frame:
        try:
            return await self.ws.recv()
        except ConnectionClosed as closed:
            raise self._closed(closed) from None

    async def _send(self, frame: Frame) -> None:
        try:
            await self.ws.send(frame)
        except ConnectionClosed as closed:
            raise self._closed(closed) from None

    def _closed(self, closed: ConnectionClosed) -> ClientError:
        code = closed.rcvd.code if closed.rcvd else None
        reason = closed.rcvd.reason if closed.rcvd else ""
        if self.session is None:
            kind, why = ("retry", reason)
        else:
            kind, why = self.session.closed(code, reason)
        shown = CLOSE_ABNORMAL if code is None else code
        match kind:
            case "revoked":
                return DeviceRevoked(
                    f"the server refused this device: {why or 'revoked'}; log in again"
                )
            case "unauthorized":
                return AccessDenied(f"the server does not know this device: {why}; log in again")
            case "expired":
                return TokenExpired(f"the server refused this device's token: {why}")
            case "retry":
                detail = f": {why}" if why else ""
                return ServerUnreachable(
                    f"{self.server_url} closed the connection ({shown}{detail})"
                )
        return SyncProtocolError(f"{self.server_url} closed the connection ({shown}): {why}")
