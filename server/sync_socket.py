"""The WebSocket shell of ``/v1/sync``: carries out what
:class:`sync.protocol.sessions.ServerSession` asks (send, close, read or write the store,
follow the hub). No protocol rule lives here: the session decides every message, refusal,
page and close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from server.auth import token_policy
from server.errors import ServerError, StoreUnavailable, TokenExpired
from server.fanout import Hub
from server.ratelimit import Scope, limiter_of
from server.storage.accounts import Device, hash_token
from server.storage.store import Store
from sync.protocol.codec import Frame
from sync.protocol.messages import FEED_PAGE, FeedEntry
from sync.protocol.sessions import (
    CLOSE_SERVICE_RESTART,
    Authenticate,
    Close,
    Credential,
    DeviceHeard,
    Follow,
    Merge,
    Publish,
    ReadFeed,
    Send,
    ServerEffect,
    ServerSession,
)

if TYPE_CHECKING:
    from server.metrics import Metrics

log = logging.getLogger("waymark.sync")
STORE_UNAVAILABLE = "the server's database is unavailable; try again later"


class _Closed(Exception):
    """The connection is over; the close frame was sent (or the peer left)."""


class Connections:
    """The open sync connections of one app, so that a stopping server can drain them."""

    def __init__(self) -> None:
        self.open: set[SyncConnection] = set()
        self.draining = False
        self.on_drain: list[Callable[[], None]] = []
        """Told first when the server starts stopping (the dashboard's live streams end
        then, or the server would wait for them)."""

    async def drain(self, timeout: float) -> None:
        """Stop every connection once the message it is handling is done (a merge commits
        and is acked), closing with 1012; give up waiting after ``timeout`` seconds."""
        self.draining = True
        for stop in self.on_drain:
            stop()
        tasks = [asyncio.ensure_future(conn.drain()) for conn in list(self.open)]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()


class SyncConnection:
    """One device's socket; a :class:`~server.fanout.Follower` of its learners' feeds."""

    def __init__(self, socket: WebSocket[Any, Any, Any], store: Store, hub: Hub) -> None:
        self.socket = socket
        self.store = store
        self.hub = hub
        self.session = ServerSession()
        self._devices: list[Device | None] = []  # the hello's accounts, looked up
        self._followed: list[str] = []
        self._send_lock = asyncio.Lock()
        self._offered: list[tuple[str, list[FeedEntry] | None, float]] = []
        """Offers to send: the learner, the entries, when (``time.monotonic``) the hub
        handed them over, or ``-1`` for this connection's own echo (no fan-out lag)."""
        self._wake = asyncio.Event()
        self._draining = False
        self._idle = asyncio.Event()  # set while no received message is being handled
        self._idle.set()
        self._unsent = 0  # entries offered and not sent: this connection's part of the backlog
        self._publishing = False
        self.metrics: Metrics | None = getattr(socket.app.state, "metrics", None)
        self._policy = token_policy(socket.app.state)
        self._limiter = limiter_of(socket.app.state)

    async def run(self, connections: Connections) -> None:
        if connections.draining:
            await self.socket.close(code=CLOSE_SERVICE_RESTART, reason="the server is stopping")
            return
        await self.socket.accept()
        connections.open.add(self)
        if self.metrics is not None:
            self.metrics.connections.inc()
        deliveries = asyncio.create_task(self._deliver())
        try:
            while True:
                frame = await self._receive()
                if self._draining:  # not read: unacked, so the device pushes it again
                    raise _Closed
                self._idle.clear()
                await self._do(self.session.receive(frame))
                self._idle.set()
        except Exception as err:
            await self._end(err)
        finally:
            self._idle.set()
            connections.open.discard(self)
            self.hub.unfollow(self, self._followed)
            deliveries.cancel()
            self.hub.unsent -= self._unsent
            self._unsent = 0
            if self.metrics is not None:
                self.metrics.connections.dec()

    async def drain(self) -> None:
        """Close with 1012 once the message being handled (if any) is done."""
        self._draining = True
        await self._idle.wait()
        with contextlib.suppress(_Closed, WebSocketDisconnect):
            await self._do(self.session.restarting())

    async def _end(self, err: Exception) -> None:
        """Close for the error that ended this connection's reading or sending."""
        if isinstance(err, _Closed | WebSocketDisconnect):
            return
        if isinstance(err, StoreUnavailable):  # the database went away: 1013, retry later
            # The detail names the database and the driver's words: for the log only.
            log.warning("sync connection closed, store unavailable: %s", err.detail)
            if self.metrics is not None:
                self.metrics.store_error()
            effects = self.session.fail(err.code, STORE_UNAVAILABLE)
        elif isinstance(err, ServerError):
            effects = self.session.fail(err.code, err.detail)
        else:
            log.error("sync connection failed", exc_info=err)
            effects = self.session.fail("internal", "internal error")
        with contextlib.suppress(_Closed, WebSocketDisconnect):
            await self._do(effects)

    # -- a follower of the hub -----------------------------------------------------------

    def position(self, user_id: str) -> int:
        return self.session.position(user_id)

    def offer(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        handed = -1.0 if self._publishing else time.monotonic()
        self._offered.append((user_id, entries, handed))
        if entries:
            self._unsent += len(entries)
            self.hub.unsent += len(entries)
        self._wake.set()

    async def _deliver(self) -> None:
        """Send what the hub offers, in order, from this connection's own task (a slow
        socket holds up nobody else)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                offered, self._offered = self._offered, []
                for user_id, entries, handed in offered:
                    await self._do(self.session.offered(user_id, entries))
                    if entries:
                        self._sent(len(entries), handed)
        except Exception as err:  # the device reconnects and resumes from its cursor
            await self._end(err)

    # -- effects -----------------------------------------------------------------------------

    def _sent(self, count: int, handed: float) -> None:
        """``count`` offered entries are sent (or found already sent): out of the backlog;
        entries of another connection's commit add their fan-out lag."""
        self._unsent -= count
        self.hub.unsent -= count
        if handed >= 0 and self.metrics is not None:
            self.metrics.fanout_lag.observe(time.monotonic() - handed)

    async def _do(self, effects: list[ServerEffect]) -> None:
        queue = deque(effects)
        while queue:
            match queue.popleft():
                case Send(frame=frame):
                    await self._send(frame)
                case Close(code=code, reason=reason):
                    await self._close(code, reason)
                    raise _Closed
                case Authenticate(accounts=accounts):
                    if wait := self._limited("connect", *(hash_token(a.token) for a in accounts)):
                        queue.extend(self.session.connect_limited(wait))
                        continue
                    found = [await self._credential(a.token) for a in accounts]
                    queue.extend(self.session.authenticated(found, await self.store.catalog()))
                case DeviceHeard(index=index, clock=clock, recorded=recorded):
                    device = self._devices[index]
                    assert device is not None  # the session only hears accepted devices
                    await self.store.device_heard(device, clock, recorded)
                    self.hub.seen(device.user_id)
                case Follow(user_ids=user_ids):
                    self._followed = user_ids
                    self.hub.follow(self, user_ids)
                case Merge(push=push) as merge if wait := self._limited("push", push.device_id):
                    queue.extend(self.session.push_limited(merge, wait))
                case Merge(push=push, user_id=user_id) as merge:
                    # The ack and the hand-off to the fan-out, from what the merge wrote;
                    # the next message is read without waiting for any delivery.
                    with self.hub.local_write(user_id):
                        result = await self.store.merge(push.device_id, push.events)
                        await self._do(self.session.merged(merge, result))
                case Publish(user_id=user_id, entries=entries):
                    self._publishing = True  # the offer to this connection is its echo
                    try:
                        self.hub.committed(user_id, entries)
                    finally:
                        self._publishing = False
                case ReadFeed(user_id=user_id, after=after) as read:
                    entries = await self.store.feed_after(user_id, after, FEED_PAGE)
                    head = await self.store.feed_head(user_id)
                    queue.extend(self.session.feed_read(read, entries, head))

    def _limited(self, scope: Scope, *keys: str) -> int:
        """Count one request of each key; the longest wait among those over their limit."""
        if self._limiter is None:
            return 0
        wait = max((self._limiter.hit(scope, key) for key in keys), default=0)
        if wait and self.metrics is not None:
            self.metrics.limited(scope)
        return wait

    async def _credential(self, token: str) -> Credential | None:
        try:
            device = await self.store.device_for_token(token, self._policy)
        except TokenExpired:
            self._devices.append(None)
            return Credential("", "", "", 0, 0, expired=True)
        self._devices.append(device)
        if device is None:
            return None
        user = await self.store.user_by_id(device.user_id)
        assert user is not None
        return Credential(
            device.id,
            user.id,
            user.username,
            device.acked_seq,
            user.feed_head,
            revoked=device.revoked_at is not None,
            timezone=user.timezone,
            role=user.role,
            plan=user.plan,
        )

    # -- the socket ----------------------------------------------------------------------------

    async def _receive(self) -> Frame:
        message = await self.socket.receive()
        if message["type"] == "websocket.disconnect":
            raise _Closed
        data = message.get("bytes")
        return data if isinstance(data, bytes) else str(message.get("text") or "")

    async def _send(self, frame: Frame) -> None:
        async with self._send_lock:
            try:
                if isinstance(frame, bytes):
                    await self.socket.send_data(frame, mode="binary")
                else:
                    await self.socket.send_data(frame, mode="text")
            except (WebSocketDisconnect, RuntimeError, OSError):
                raise _Closed from None

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            # A close frame holds at most 123 bytes of reason.
            short = reason.encode()[:120].decode(errors="ignore")
            await self.socket.close(code=code, reason=short)


@websocket("/v1/sync")
async def sync_endpoint(socket: WebSocket[Any, Any, Any], store: Store, hub: Hub) -> None:
    """The sync protocol (``docs/protocol.md``); authentication happens in the hello."""
    await SyncConnection(socket, store, hub).run(socket.app.state.sync_connections)
