"""A ``/v1/sync`` peer for the client tests: the real ``ServerSession`` with dicts for a
store.

The session decides everything said on the wire (welcome, refusals, catalog, pages, acks,
close codes); this shell only answers its effects: credentials from ``learners``, a merge
that deduplicates by ``(device_id, seq)``, writes rejections to the feed and makes decisions
(scores, unlocks) with ``sync.merge.decide`` as the real server does, and a fan-out to
every live connection of the learner. Knobs let a test drop a connection after a commit,
lag the welcome's watermark, close at the hello with a given code, or refuse pushes as
rate limited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from client.journal import Account
from server.storage.merge import MergeResult
from sync.catalog import Catalog
from sync.events import Event, Rejection, check_event
from sync.merge.decide import Context, decide
from sync.merge.fold import UserState, apply_body
from sync.protocol.messages import FEED_PAGE, EventRejection, FeedEntry, Hello, Push
from sync.protocol.sessions import (
    Authenticate,
    Close,
    Credential,
    Follow,
    Merge,
    Publish,
    ReadFeed,
    Send,
    ServerSession,
)

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
    limit_pushes: int = 0  # the next N pushes are refused as rate_limited (retry after 1 s)
    expired: set[str] = field(default_factory=set)  # tokens refused as token_expired
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

    def renew(self, token: str) -> str:
        """What a refresh does: the learner's token replaced by a new one, returned."""
        learner = self.learners.pop(token)
        learner.token = f"{token}+"
        self.learners[learner.token] = learner
        return learner.token

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
        try:
            async for frame in ws:
                for effect in session.receive(frame):
                    if not await self._do(ws, session, effect):
                        return
        finally:
            for sockets in self._sockets.values():
                if (ws, session) in sockets:
                    sockets.remove((ws, session))

    async def _do(self, ws: ServerConnection, session: ServerSession, effect: Any) -> bool:
        """Carry out one effect of the session (and those it leads to); False: closed."""
        match effect:
            case Send(frame=frame):
                await ws.send(frame)
            case Close(code=code, reason=reason):
                await ws.close(code, reason)
                return False
            case Authenticate(accounts=accounts):
                assert session.hello is not None
                self.hellos.append(session.hello)
                if self.close_at_hello:
                    await ws.close(*self.close_at_hello.pop(0))
                    return False
                found = [self._credential(a.token) for a in accounts]
                for then in session.authenticated(found, self.catalog):
                    if not await self._do(ws, session, then):
                        return False
                self.live.put_nowait(len(self.hellos))
            case Follow(user_ids=user_ids):
                for user_id in user_ids:
                    self._sockets.setdefault(user_id, []).append((ws, session))
            case ReadFeed(user_id=user_id, after=after) as read:
                feed = self.feeds[user_id]
                page = feed[after : after + FEED_PAGE]
                for then in session.feed_read(read, page, len(feed)):
                    if not await self._do(ws, session, then):
                        return False
            case Merge() as merge if self.limit_pushes:
                self.limit_pushes -= 1
                for then in session.push_limited(merge, 1):
                    await self._do(ws, session, then)
            case Merge(push=push, user_id=user_id) as merge:
                result = self._merge(push, user_id)
                if self.drop_after_commit:
                    self.drop_after_commit -= 1
                    ws.transport.abort()
                    self.pushed.put_nowait(push)
                    return False
                for then in session.merged(merge, result):
                    if not await self._do(ws, session, then):
                        return False
                self.pushed.put_nowait(push)
            case Publish(user_id=user_id, entries=entries):
                await self._fan_out(user_id, entries)
        return True

    def _credential(self, token: str) -> Credential | None:
        learner = self.learners.get(token)
        if learner is None:
            return None
        if token in self.expired:
            return Credential("", "", "", 0, 0, expired=True)
        acked = self.welcome_acked.pop(learner.device_id, self.watermark(learner.device_id))
        return Credential(
            learner.device_id,
            learner.user_id,
            learner.username,
            acked,
            len(self.feeds[learner.user_id]),
            revoked=learner.revoked,
            plan=learner.plan,
        )

    def _merge(self, push: Push, user_id: str) -> MergeResult:
        self.pushes.append(push)
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
        return MergeResult(
            self.watermark(push.device_id),
            len(push.events) - duplicates - len(rejected),
            duplicates,
            rejected,
            len(self.feeds[user_id]),
            entries=new,
        )

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

    async def _fan_out(self, user_id: str, entries: list[FeedEntry]) -> None:
        for ws, session in list(self._sockets.get(user_id, [])):
            for effect in session.offered(user_id, entries):
                await self._do(ws, session, effect)
