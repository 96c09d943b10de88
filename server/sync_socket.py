"""The WebSocket shell of ``/v1/sync``: moves frames between the socket, the store, the
fan-out and :class:`sync.protocol.sessions.ServerSession`. No protocol rules live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, NoReturn

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from server.errors import DeviceRevoked, StoreUnavailable
from server.fanout import Hub
from server.storage.store import Store
from sync.catalog import catalog_to_builtins, public_catalog
from sync.errors import ProtocolError
from sync.protocol.codec import (
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL,
    CLOSE_UNAUTHORIZED,
    Frame,
)
from sync.protocol.messages import (
    FEED_PAGE,
    Ack,
    CatalogMsg,
    ClientMessage,
    Error,
    Feed,
    FeedEntry,
    Hello,
    Pull,
    Push,
    Refusal,
    ServerMessage,
    Welcome,
    WelcomeAccount,
)
from sync.protocol.sessions import ServerSession

log = logging.getLogger("waymark.sync")
CLOSE_TRY_AGAIN_LATER = 1013


class _Closed(Exception):
    """The connection is over; the close frame was sent (or the peer left)."""


class SyncConnection:
    """One device's socket; a :class:`~server.fanout.Follower` of its learners' feeds."""

    def __init__(self, socket: WebSocket[Any, Any, Any], store: Store, hub: Hub) -> None:
        self.socket = socket
        self.store = store
        self.hub = hub
        self.session = ServerSession()
        self.sent: dict[str, int] = {}  # user_id -> highest user_seq sent on this socket
        self._send_lock = asyncio.Lock()
        self._feed_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._offered: list[tuple[str, list[FeedEntry] | None]] = []
        self._wake = asyncio.Event()

    async def run(self) -> None:
        await self.socket.accept()
        try:
            hello = await self._receive()
            assert isinstance(hello, Hello)  # the session refuses anything else first
            users = await self._hello(hello)
            # Follow before reading the backlog, so no commit can fall between the two.
            self.hub.follow(self, users)
            deliveries = asyncio.create_task(self._deliver())
            try:
                for user_id in users:
                    await self._send_feed(user_id)
                while True:
                    await self._dispatch(await self._receive())
            finally:
                self.hub.unfollow(self, users)
                deliveries.cancel()
        except Exception as err:
            await self._end(err)

    async def _end(self, err: Exception) -> None:
        """Close for the error that ended this connection's reading or sending."""
        if isinstance(err, StoreUnavailable):
            # The database went away (a hello, a feed read): the device retries later.
            with contextlib.suppress(_Closed):
                await self._fail(
                    ProtocolError("store_unavailable", err.detail, CLOSE_TRY_AGAIN_LATER)
                )
        elif not isinstance(err, _Closed | WebSocketDisconnect):
            log.error("sync connection failed", exc_info=err)
            await self._close(CLOSE_INTERNAL, "internal error")

    # -- a follower of the hub -----------------------------------------------------------

    def position(self, user_id: str) -> int:
        return self.sent.get(user_id, 0)

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
                    await self._send_offered(user_id, entries)
        except Exception as err:  # the device reconnects and resumes from its cursor
            await self._end(err)

    async def _send_offered(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        async with self._feed_locks[user_id]:
            sent = self.sent[user_id]
            fresh = [e for e in entries or () if e.user_seq > sent]
            if entries is not None and not fresh:
                return  # sent already
            if not fresh or fresh[0].user_seq != sent + 1:
                # Not a continuation (handed out of order, or told to catch up): read.
                await self._send_feed_locked(user_id, sent, always=False)
                return
            for start in range(0, len(fresh), FEED_PAGE):
                page = fresh[start : start + FEED_PAGE]
                more = start + FEED_PAGE < len(fresh)
                await self._send(Feed(user_id, page, fresh[-1].user_seq, more))
                self.sent[user_id] = page[-1].user_seq

    async def _receive(self) -> ClientMessage:
        message = await self.socket.receive()
        if message["type"] == "websocket.disconnect":
            raise _Closed
        data = message.get("bytes")
        frame: Frame = data if isinstance(data, bytes) else str(message.get("text") or "")
        try:
            return self.session.receive(frame)
        except ProtocolError as err:
            await self._fail(err)

    async def _dispatch(self, msg: ClientMessage) -> None:
        match msg:
            case Push():
                await self._push(msg)
            case Pull():
                await self._send_feed(msg.user_id, cursor=msg.cursor, always=True)

    async def _hello(self, hello: Hello) -> list[str]:
        accounts: list[WelcomeAccount] = []
        refused: list[Refusal] = []
        cursors: dict[str, int] = {}
        for index, account in enumerate(hello.accounts):
            device = await self.store.device_by_token(account.token)
            if device is None:
                refused.append(Refusal(index, "unauthorized", "unknown token: log in again"))
                continue
            if device.revoked_at is not None:
                refused.append(
                    Refusal(index, "device_revoked", "this device was revoked by an administrator")
                )
                continue
            await self.store.device_heard(device, account.clock, account.recorded)
            user = await self.store.user_by_id(device.user_id)
            assert user is not None
            accounts.append(
                WelcomeAccount(
                    user.id,
                    user.username,
                    device.id,
                    device.acked_seq,
                    user.feed_head,
                    user.timezone,
                    user.role,
                    user.plan,
                )
            )
            # A cursor past the head means the server was restored from a backup: the
            # device drops what it holds beyond the head (see the welcome in protocol.md).
            cursor = min(account.cursor, user.feed_head)
            cursors[user.id] = min(cursors.get(user.id, cursor), cursor)
        if not accounts:
            revoked = [r for r in refused if r.code == "device_revoked"]
            first = (revoked or refused)[0]
            close = CLOSE_FORBIDDEN if revoked else CLOSE_UNAUTHORIZED
            await self._fail(ProtocolError(first.code, first.reason, close))
        catalog = await self.store.catalog()
        await self._send_frame(
            self.session.welcome(
                Welcome(accounts, refused, server="waymark", catalog_version=catalog.version)
            )
        )
        if hello.catalog_version != catalog.version:
            public = catalog_to_builtins(public_catalog(catalog))  # never the answers
            await self._send(CatalogMsg(catalog.version, public))
        self.sent.update(cursors)
        return list(cursors)

    async def _push(self, push: Push) -> None:
        user_id = self.session.devices[push.device_id]
        with self.hub.local_write(user_id):
            try:
                result = await self.store.merge(push.device_id, push.events)
            except DeviceRevoked as err:
                await self._fail(ProtocolError("device_revoked", err.detail, CLOSE_FORBIDDEN))
            await self._send(
                Ack(
                    push.batch,
                    push.device_id,
                    result.acked_seq,
                    result.accepted,
                    result.duplicates,
                    result.rejected,
                    result.feed_head,
                )
            )
            # The echo (to this socket) and the fan-out, from what the merge wrote; the
            # next message is read without waiting for either.
            self.hub.committed(user_id, result.entries)
        if result.gap_at is not None:
            await self._send(
                Error(
                    "seq_gap",
                    f"seq {result.acked_seq + 1} is missing before {result.gap_at}: "
                    f"resend from {result.acked_seq + 1}",
                )
            )

    async def _send_feed(
        self, user_id: str, *, cursor: int | None = None, always: bool = False
    ) -> None:
        async with self._feed_locks[user_id]:
            position = self.sent[user_id] if cursor is None else cursor
            await self._send_feed_locked(user_id, position, always=always)

    async def _send_feed_locked(self, user_id: str, position: int, *, always: bool) -> None:
        """Send the feed after ``position`` from the store, in pages (the feed lock held)."""
        while True:
            entries = await self.store.feed_after(user_id, position, FEED_PAGE)
            if not entries and not always:
                break
            head = await self.store.feed_head(user_id)
            position = entries[-1].user_seq if entries else position
            more = position < head and len(entries) == FEED_PAGE
            await self._send(Feed(user_id, entries, head, more))
            always = False
            if not more:
                break
        self.sent[user_id] = max(self.sent[user_id], position)

    async def _send(self, msg: ServerMessage) -> None:
        await self._send_frame(self.session.send(msg))

    async def _send_frame(self, frame: Frame) -> None:
        async with self._send_lock:
            try:
                if isinstance(frame, bytes):
                    await self.socket.send_data(frame, mode="binary")
                else:
                    await self.socket.send_data(frame, mode="text")
            except (WebSocketDisconnect, RuntimeError, OSError):
                raise _Closed from None

    async def _fail(self, err: ProtocolError) -> NoReturn:
        """Send the error and close with its code; never returns."""
        try:
            await self._send_frame(self.session.error(err))
        finally:
            await self._close(err.close_code, err.message)
        raise _Closed

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            # A close frame holds at most 123 bytes of reason.
            short = reason.encode()[:120].decode(errors="ignore")
            await self.socket.close(code=code, reason=short)


@websocket("/v1/sync")
async def sync_endpoint(socket: WebSocket[Any, Any, Any], store: Store, hub: Hub) -> None:
    """The sync protocol (``docs/protocol.md``); authentication happens in the hello."""
    await SyncConnection(socket, store, hub).run()
