"""The WebSocket shell of ``/v1/sync``: carries out what
:class:`sync.protocol.sessions.ServerSession` asks (send, close, read or write the store,
follow the hub). No protocol rule lives here: the session decides every message, refusal,
page and close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

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

log = logging.getLogger("waymark.sync")
STORE_UNAVAILABLE = "the server's database is unavailable; try again later"


class _Closed(Exception):
    """The connection is over; the close frame was sent (or the peer left)."""


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
        self._offered: list[tuple[str, list[FeedEntry] | None]] = []
        self._wake = asyncio.Event()
        self._policy = token_policy(socket.app.state)
        self._limiter = limiter_of(socket.app.state)

    async def run(self) -> None:
        await self.socket.accept()
        deliveries = asyncio.create_task(self._deliver())
        try:
            while True:
                await self._do(self.session.receive(await self._receive()))
        except Exception as err:
            await self._end(err)
        finally:
            self.hub.unfollow(self, self._followed)
            deliveries.cancel()

    async def _end(self, err: Exception) -> None:
        """Close for the error that ended this connection's reading or sending."""
        if isinstance(err, _Closed | WebSocketDisconnect):
            return
        if isinstance(err, StoreUnavailable):  # the database went away: 1013, retry later
            # The detail names the database and the driver's words: for the log only.
            log.warning("sync connection closed, store unavailable: %s", err.detail)
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
        self._offered.append((user_id, entries))
        self._wake.set()

    async def _deliver(self) -> None:
        """Send what the hub offers, in order, from this connection's own task (a slow
        socket holds up nobody else)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                offered, self._offered = self._offered, []
                for user_id, entries in offered:
                    await self._do(self.session.offered(user_id, entries))
        except Exception as err:  # the device reconnects and resumes from its cursor
            await self._end(err)

    # -- effects -----------------------------------------------------------------------------

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
                    self.hub.committed(user_id, entries)
                case ReadFeed(user_id=user_id, after=after) as read:
                    entries = await self.store.feed_after(user_id, after, FEED_PAGE)
                    head = await self.store.feed_head(user_id)
                    queue.extend(self.session.feed_read(read, entries, head))

    def _limited(self, scope: Scope, *keys: str) -> int:
        """Count one request of each key; the longest wait among those over their limit."""
        if self._limiter is None:
            return 0
        return max((self._limiter.hit(scope, key) for key in keys), default=0)

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
    await SyncConnection(socket, store, hub).run()
