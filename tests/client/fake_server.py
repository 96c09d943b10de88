"""A minimal ``/v1/sync`` peer for the client tests, built on ``ServerSession``.

It speaks the protocol with a dict for a store: welcome (with refusals), catalog, feed
pages, pushes deduplicated by ``(device_id, seq)`` and acked, rejections written to the feed,
decisions (scores, unlocks) made by ``sync.merge.decide`` as the real server does, and new feed
entries sent to every live connection of the learner. Knobs let a test drop a
connection after a commit, lag the welcome's watermark, or close with a given code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from client.journal import Account
from sync.catalog import Catalog, catalog_to_builtins
from sync.events import Event, Rejection, check_event
from sync.merge.decide import Context, decide
from sync.merge.fold import UserState, apply_body
from sync.protocol.messages import (
    Ack,
    CatalogMsg,
    Error,
    EventRejection,
    Feed,
    FeedEntry,
    Hello,
    Pull,
    Push,
    Refusal,
    Welcome,
    WelcomeAccount,
)
from sync.protocol.sessions import ServerSession

T0 = 1_763_790_000_000


@dataclass
class Learner:
    user_id: str
    username: str
    device_id: str
    token: str
    revoked: bool = False
    plan: str = "free"


@dataclass
class FakeServer:
    catalog: Catalog
    learners: dict[str, Learner] = field(default_factory=dict)  # by token
    held: dict[str, dict[int, Event]] = field(default_factory=dict)  # device_id -> seq -> event
    feeds: dict[str, list[FeedEntry]] = field(default_factory=dict)  # user_id -> feed
    states: dict[str, UserState] = field(default_factory=dict)  # user_id -> folded facts
    hellos: list[Hello] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    # Knobs.
    drop_after_commit: int = 0  # the next N pushes are committed, then the socket is cut
    welcome_acked: dict[str, int] = field(default_factory=dict)  # one-shot watermark override
    close_at_hello: list[tuple[int, str]] = field(default_factory=list)  # (code, reason) each
    # Signals for tests: a connection went live; a push was handled.
    live: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    pushed: asyncio.Queue[Push] = field(default_factory=asyncio.Queue)
    _sockets: dict[str, list[tuple[ServerConnection, ServerSession]]] = field(default_factory=dict)
    _server: Server | None = None

    async def __aenter__(self) -> FakeServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def add(self, name: str) -> Account:
        """Register a learner's device; returns the account a login would store."""
        user_id = f"u-{name}"
        learner = Learner(user_id, name, f"d-{name}", f"t-{name}")
        self.learners[learner.token] = learner
        self.feeds.setdefault(user_id, [])
        return Account(
            user_id=user_id,
            username=name,
            device_id=learner.device_id,
            token=learner.token,
            server_url=self.url,
        )

    def learner(self, account: Account) -> Learner:
        return self.learners[account.token]

    def revoke(self, account: Account) -> None:
        self.learners[account.token].revoked = True

    async def kick(self, code: int, reason: str) -> None:
        """Close every live connection, e.g. with 1001 for a restart."""
        for sockets in self._sockets.values():
            for ws, _ in list(sockets):
                await ws.close(code, reason)

    def watermark(self, device_id: str) -> int:
        return max(self.held.get(device_id, {}), default=0)

    async def append(self, user_id: str, **kw: Any) -> FeedEntry:
        """Append an entry (default: c1/read opened on device "phone") and send it live."""
        feed = self.feeds[user_id]
        seq = len(feed) + 1
        fields: dict[str, Any] = {
            "origin": "device",
            "type": "lesson.opened",
            "body": {"course": "c1", "lesson": "read"},
            "hlc": f"{T0 + seq:013d}-0000",
            "at": T0 + seq,
            "device_id": "phone",
            "seq": seq,
            **kw,
        }
        new = FeedEntry(user_seq=seq, **fields)
        feed.append(new)
        await self._fan_out(user_id, [new])
        return new

    async def _handle(self, ws: ServerConnection) -> None:
        session = ServerSession()
        hello = session.receive(await ws.recv())
        assert isinstance(hello, Hello)
        self.hellos.append(hello)
        if self.close_at_hello:
            await ws.close(*self.close_at_hello.pop(0))
            return
        accepted: list[tuple[Learner, int]] = []
        refused = []
        for index, item in enumerate(hello.accounts):
            learner = self.learners.get(item.token)
            if learner is None:
                refused.append(Refusal(index, "unauthorized", "unknown token"))
            elif learner.revoked:
                refused.append(Refusal(index, "device_revoked", "revoked by an admin"))
            else:
                accepted.append((learner, item.cursor))
        if not accepted:
            revoked = any(r.code == "device_revoked" for r in refused)
            code, close = ("device_revoked", 4403) if revoked else ("unauthorized", 4401)
            await ws.send(session.send(Error(code, refused[0].reason)))
            await ws.close(close, code)
            return
        welcome = Welcome(
            [
                WelcomeAccount(
                    learner.user_id,
                    learner.username,
                    learner.device_id,
                    self.welcome_acked.pop(learner.device_id, self.watermark(learner.device_id)),
                    len(self.feeds[learner.user_id]),
                    plan=learner.plan,
                )
                for learner, _ in accepted
            ],
            refused,
            catalog_version=self.catalog.version,
        )
        await ws.send(session.welcome(welcome))
        if hello.catalog_version != self.catalog.version:
            catalog = catalog_to_builtins(self.catalog)
            await ws.send(session.send(CatalogMsg(self.catalog.version, catalog)))
        for learner, cursor in accepted:
            await self._send_feed(ws, session, learner.user_id, cursor)
        for learner, _ in accepted:
            self._sockets.setdefault(learner.user_id, []).append((ws, session))
        self.live.put_nowait(len(self.hellos))
        try:
            async for frame in ws:
                match session.receive(frame):
                    case Push() as push:
                        if not await self._push(ws, session, push):
                            return
                    case Pull(user_id=user_id, cursor=cursor):
                        await self._send_feed(ws, session, user_id, cursor)
        finally:
            for sockets in self._sockets.values():
                if (ws, session) in sockets:
                    sockets.remove((ws, session))

    async def _push(self, ws: ServerConnection, session: ServerSession, push: Push) -> bool:
        self.pushes.append(push)
        user_id = session.devices[push.device_id]
        held = self.held.setdefault(push.device_id, {})
        new, rejected, duplicates = [], [], 0
        for event in push.events:
            if event.seq in held:
                self.duplicates.append((push.device_id, event.seq))
                duplicates += 1
                continue
            held[event.seq] = event
            feed = self.feeds[user_id]
            stamp = {"user_seq": len(feed) + 1, "hlc": event.hlc, "at": event.at, "tz": event.tz}
            verdict = check_event(event, self.catalog)
            if isinstance(verdict, Rejection):
                rejected.append(EventRejection(event.seq, verdict.code, verdict.reason))
                body = {"device_id": push.device_id, "seq": event.seq, "type": event.type}
                body |= {"code": verdict.code, "reason": verdict.reason}
                row = FeedEntry(origin="server", type="event.rejected", body=body, **stamp)
            else:
                row = FeedEntry(
                    origin="device",
                    type=event.type,
                    body=event.body,
                    device_id=push.device_id,
                    seq=event.seq,
                    **stamp,
                )
            feed.append(row)
            new.append(row)
            if not isinstance(verdict, Rejection):
                new += self._decide(user_id, push.device_id, event, verdict)
        if self.drop_after_commit:
            self.drop_after_commit -= 1
            ws.transport.abort()
            self.pushed.put_nowait(push)
            return False
        ack = Ack(
            push.batch,
            push.device_id,
            self.watermark(push.device_id),
            len(push.events) - duplicates - len(rejected),
            duplicates,
            rejected,
            len(self.feeds[user_id]),
        )
        await ws.send(session.send(ack))
        await self._fan_out(user_id, new)
        self.pushed.put_nowait(push)
        return True

    def _decide(self, user_id: str, device_id: str, event: Event, body: Any) -> list[FeedEntry]:
        state = self.states.setdefault(user_id, UserState())
        stamp = (event.hlc, device_id, event.seq)
        apply_body(state, stamp, event.at, body)
        plan = next(x.plan for x in self.learners.values() if x.user_id == user_id)
        feed = self.feeds[user_id]
        start = len(feed)
        for decision in decide(state, body, stamp, event.at, Context(self.catalog, plan)):
            feed.append(
                FeedEntry(
                    user_seq=len(feed) + 1,
                    origin="server",
                    type=decision.type,
                    body=decision.body,
                    hlc=event.hlc,
                    at=event.at,
                )
            )
        return feed[start:]

    async def _send_feed(
        self, ws: ServerConnection, session: ServerSession, user_id: str, cursor: int
    ) -> None:
        feed = self.feeds[user_id]
        await ws.send(session.send(Feed(user_id, feed[cursor:], len(feed))))

    async def _fan_out(self, user_id: str, entries: list[FeedEntry]) -> None:
        if entries:
            head = len(self.feeds[user_id])
            for ws, session in list(self._sockets.get(user_id, [])):
                await ws.send(session.send(Feed(user_id, entries, head)))
