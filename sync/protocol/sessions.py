"""Sans-I/O sessions for both ends of ``/v1/sync``: every protocol rule lives here.

A session owns no socket, loop, store, journal or clock. Its shell feeds it what happened
(a frame arrived, a store or journal read finished, the hub offered entries) and carries out
the *effects* it returns, in order: send a frame, close, read or write the store or journal.
Effects that read (``Authenticate``, ``Merge``, ``ReadFeed`` on the server; ``ReadPending``,
``ApplyFeed`` on the device) are answered by calling the session's matching method with the
result, which returns the next effects. Sessions are therefore tested without sockets
(``tests/sync/protocol/test_sessions.py``), and the shells (``server/sync_socket.py``,
``client/connection.py``) hold no rule of their own. ``docs/protocol.md`` is the message flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, Protocol

import msgspec

from sync.catalog import Catalog, catalog_from_server, catalog_to_builtins, public_catalog
from sync.errors import ERROR_CODES, CatalogError, ProtocolError, UsageError, close_code_for
from sync.events import Event
from sync.protocol.codec import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_UNAUTHORIZED,
    Frame,
    decode_client,
    decode_server,
    encode,
)
from sync.protocol.messages import (
    FEED_PAGE,
    MAX_BATCH,
    PROTOCOL_VERSION,
    Ack,
    CatalogMsg,
    ClientMessage,
    Error,
    EventRejection,
    Feed,
    FeedEntry,
    Hello,
    HelloAccount,
    Pull,
    Push,
    Refusal,
    ServerMessage,
    Welcome,
    WelcomeAccount,
)

TOKEN_EXPIRED: Final = "token expired: refresh it"
_REFUSAL_ORDER: Final = {"device_revoked": 0, "token_expired": 1}
PIPELINE: Final = 3
"""Pushes a device keeps in flight per learner (docs/protocol.md §7.2)."""
CLOSE_ABNORMAL: Final = 1006  # no close frame: the connection dropped
CLOSE_SERVICE_RESTART: Final = 1012
CLOSE_TRY_AGAIN_LATER: Final = ERROR_CODES["store_unavailable"].close
CLOSE_TOKEN_EXPIRED: Final = ERROR_CODES["token_expired"].close
CLOSE_RATE_LIMITED: Final = ERROR_CODES["rate_limited"].close
RETRYABLE: Final = frozenset(
    {
        CLOSE_NORMAL,
        CLOSE_GOING_AWAY,
        CLOSE_ABNORMAL,
        CLOSE_INTERNAL,
        CLOSE_SERVICE_RESTART,
        CLOSE_TRY_AGAIN_LATER,
        CLOSE_RATE_LIMITED,
    }
)
"""Close codes after which connecting again later is worth it (docs/protocol.md §8)."""


# -- effects common to both ends -----------------------------------------------------------


class Send(msgspec.Struct, frozen=True):
    """Send ``frame`` (``message``, encoded in the connection's format)."""

    message: ServerMessage | ClientMessage
    frame: Frame


class Close(msgspec.Struct, frozen=True):
    """Close the socket with ``code``; the session takes nothing more."""

    code: int
    reason: str


# -- the server's side ----------------------------------------------------------------------


class Credential(msgspec.Struct, frozen=True):
    """What the store knows of one hello token: its device and learner."""

    device_id: str
    user_id: str
    username: str
    acked_seq: int
    feed_head: int
    revoked: bool = False
    timezone: str = "UTC"
    role: str = "learner"
    plan: str = "free"
    expired: bool = False  # the token outlived its lifetime: the device refreshes it


class MergeOutcome(Protocol):
    """What the store's merge of a push returns (``server.storage.merge.MergeResult``)."""

    @property
    def acked_seq(self) -> int: ...
    @property
    def accepted(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def rejected(self) -> list[EventRejection]: ...
    @property
    def feed_head(self) -> int: ...
    @property
    def gap_at(self) -> int | None: ...
    @property
    def entries(self) -> list[FeedEntry]: ...


class Authenticate(msgspec.Struct, frozen=True):
    """Look up every token of the hello; answer with :meth:`ServerSession.authenticated`
    (one :class:`Credential` or ``None`` per account, and the current catalog)."""

    accounts: list[HelloAccount]


class DeviceHeard(msgspec.Struct, frozen=True):
    """Record that the device of hello account ``index`` was heard from, with its clock and
    the highest seq it says it recorded (``None``: it did not say)."""

    index: int
    clock: str | None
    recorded: int | None


class Follow(msgspec.Struct, frozen=True):
    """Start following these learners' feeds (before the backlog is read, so no commit
    falls between the two)."""

    user_ids: list[str]


class Merge(msgspec.Struct, frozen=True):
    """Merge the push into the store; answer with :meth:`ServerSession.merged` (or
    :meth:`ServerSession.fail` with the store's error code)."""

    push: Push
    user_id: str


class Publish(msgspec.Struct, frozen=True):
    """Hand the entries a merge on this connection just wrote to the fan-out (this
    connection's echo included); none of them need reading back."""

    user_id: str
    entries: list[FeedEntry]


class ReadFeed(msgspec.Struct, frozen=True):
    """Read up to ``FEED_PAGE`` entries of the learner's feed after ``after``, and its head;
    answer with :meth:`ServerSession.feed_read`."""

    user_id: str
    after: int


ServerEffect = Send | Close | Authenticate | DeviceHeard | Follow | Merge | Publish | ReadFeed


class _Outbound:
    """One learner's feed on one connection."""

    __slots__ = ("answer", "pull", "reading", "sent", "stale")

    def __init__(self, sent: int) -> None:
        self.sent = sent  # the highest user_seq sent (or held by the device)
        self.reading = False  # a ReadFeed is out: offers wait for it
        self.stale = False  # something was committed during that read: read again after
        self.pull: int | None = None  # a pull waiting for the read in progress
        self.answer = False  # the read in progress answers a pull: send even if empty


class ServerSession:
    """The server's side of one connection.

    Feed every frame to :meth:`receive`, the results of effects to their methods, and what
    the fan-out offers to :meth:`offered`; carry out what they return. Replies use the
    format (JSON or msgpack) of the device's hello.
    """

    def __init__(self) -> None:
        self.binary = True
        self.hello: Hello | None = None
        self.greeted = False  # the welcome was sent
        self.closed = False
        self.devices: dict[str, str] = {}  # device_id -> user_id, accepted in the welcome
        self.feeds: dict[str, _Outbound] = {}  # user_id -> its feed on this connection

    @property
    def users(self) -> list[str]:
        return list(self.feeds)

    # -- frames in ----------------------------------------------------------------------

    def receive(self, frame: Frame) -> list[ServerEffect]:
        if self.closed:
            return []
        if self.hello is None:
            self.binary = isinstance(frame, bytes)
        try:
            msg = decode_client(frame)
            match msg:
                case Hello():
                    return self._hello(msg)
                case _ if not self.greeted:
                    why = (
                        "the first message must be hello"
                        if self.hello is None
                        else ("nothing but hello may come before the welcome")
                    )
                    raise ProtocolError("bad_message", why)
                case Push():
                    return self._push(msg)
                case Pull():
                    return self._pull(msg)
        except ProtocolError as err:
            return self.fail(err.code, err.message, err.path)
        raise AssertionError(f"unhandled message {msg!r}")  # pragma: no cover

    def _hello(self, hello: Hello) -> list[ServerEffect]:
        if self.hello is not None:
            raise ProtocolError("bad_message", "hello sent twice")
        if hello.protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                "unsupported_protocol",
                f"protocol {hello.protocol} is not supported; this server speaks "
                f"{PROTOCOL_VERSION}",
            )
        self.hello = hello
        return [Authenticate(hello.accounts)]

    def _push(self, push: Push) -> list[ServerEffect]:
        user_id = self.devices.get(push.device_id)
        if user_id is None:
            raise ProtocolError(
                "forbidden", f"device {push.device_id!r} is not signed in on this connection"
            )
        if len(push.events) > MAX_BATCH:
            raise ProtocolError(
                "batch_too_large",
                f"a push carries at most {MAX_BATCH} events, this one {len(push.events)}",
            )
        last = 0
        for index, event in enumerate(push.events):
            if event.seq <= last:
                raise ProtocolError(
                    "bad_message",
                    "events in a push must have strictly increasing seq",
                    path=f"$.events[{index}].seq",
                )
            last = event.seq
        return [Merge(push, user_id)]

    def _pull(self, pull: Pull) -> list[ServerEffect]:
        feed = self.feeds.get(pull.user_id)
        if feed is None:
            raise ProtocolError(
                "forbidden", f"user {pull.user_id!r} is not signed in on this connection"
            )
        if feed.reading:  # answered once the read in progress is done
            feed.pull = pull.cursor if feed.pull is None else min(feed.pull, pull.cursor)
            return []
        feed.reading = feed.answer = True
        return [ReadFeed(pull.user_id, pull.cursor)]

    # -- results of effects ---------------------------------------------------------------

    def authenticated(
        self, credentials: Sequence[Credential | None], catalog: Catalog
    ) -> list[ServerEffect]:
        """The welcome (or the refusal of every account), the catalog if the device's is
        older, then the feed backlog of each accepted learner."""
        hello = self.hello
        if hello is None or self.greeted or self.closed:
            raise UsageError("authenticated() without a hello waiting for it")
        effects: list[ServerEffect] = []
        accounts: list[WelcomeAccount] = []
        refused: list[Refusal] = []
        cursors: dict[str, int] = {}
        for index, (asked, found) in enumerate(zip(hello.accounts, credentials, strict=True)):
            if found is None:
                refused.append(Refusal(index, "unauthorized", "unknown token: log in again"))
                continue
            if found.revoked:
                reason = "this device was revoked by an administrator"
                refused.append(Refusal(index, "device_revoked", reason))
                continue
            if found.expired:
                refused.append(Refusal(index, "token_expired", TOKEN_EXPIRED))
                continue
            recorded = None if isinstance(asked.recorded, msgspec.UnsetType) else asked.recorded
            effects.append(DeviceHeard(index, asked.clock, recorded))
            accounts.append(
                WelcomeAccount(
                    found.user_id,
                    found.username,
                    found.device_id,
                    found.acked_seq,
                    found.feed_head,
                    found.timezone,
                    found.role,
                    found.plan,
                )
            )
            self.devices[found.device_id] = found.user_id
            # A cursor past the head means the server was restored from a backup: the device
            # drops what it holds beyond the head (protocol.md §7.3). The same learner twice:
            # the smaller cursor.
            cursor = min(asked.cursor, found.feed_head)
            cursors[found.user_id] = min(cursors.get(found.user_id, cursor), cursor)
        if not accounts:
            # The most telling refusal: revoked (log in again), else expired (refresh).
            first = min(refused, key=lambda r: _REFUSAL_ORDER.get(r.code, len(_REFUSAL_ORDER)))
            return self.fail(first.code, first.reason)
        self.greeted = True
        effects.append(
            self._send(
                Welcome(accounts, refused, server="waymark", catalog_version=catalog.version)
            )
        )
        if hello.catalog_version != catalog.version:
            public = catalog_to_builtins(public_catalog(catalog))  # never the answers
            effects.append(self._send(CatalogMsg(catalog.version, public)))
        effects.append(Follow(list(cursors)))
        for user_id, cursor in cursors.items():
            feed = self.feeds[user_id] = _Outbound(cursor)
            feed.reading = True
            effects.append(ReadFeed(user_id, cursor))
        return effects

    def merged(self, merge: Merge, result: MergeOutcome) -> list[ServerEffect]:
        """The fan-out of what was written (the sender's echo too), the ack, and
        ``seq_gap`` when the push skipped a ``seq``."""
        push = merge.push
        effects: list[ServerEffect] = [
            # The commit is made: hand it to the fan-out first, so that a socket gone before
            # its ack cannot keep the learner's other connections from hearing of it.
            Publish(merge.user_id, result.entries),
            self._send(
                Ack(
                    push.batch,
                    push.device_id,
                    result.acked_seq,
                    result.accepted,
                    result.duplicates,
                    result.rejected,
                    result.feed_head,
                )
            ),
        ]
        if result.gap_at is not None:
            missing = result.acked_seq + 1
            message = f"seq {missing} is missing before {result.gap_at}: resend from {missing}"
            effects.append(self._send(Error("seq_gap", message)))
        return effects

    def feed_read(self, read: ReadFeed, entries: list[FeedEntry], head: int) -> list[ServerEffect]:
        """Send a page read from the store; read on while there is more, a pull waits, or
        something was committed during the read."""
        feed = self.feeds[read.user_id]
        position = entries[-1].user_seq if entries else read.after
        more = position < head and len(entries) == FEED_PAGE
        effects: list[ServerEffect] = []
        if entries or feed.answer:
            effects.append(self._send(Feed(read.user_id, entries, head, more)))
        feed.answer = False
        feed.sent = max(feed.sent, position)
        if more:
            effects.append(ReadFeed(read.user_id, position))
        elif feed.pull is not None:
            effects.append(ReadFeed(read.user_id, feed.pull))
            feed.pull, feed.answer = None, True
        elif feed.stale:
            feed.stale = False
            effects.append(ReadFeed(read.user_id, feed.sent))
        else:
            feed.reading = False
        return effects

    # -- the fan-out -------------------------------------------------------------------------

    def position(self, user_id: str) -> int:
        """The highest ``user_seq`` of the learner this connection sent (its cursor)."""
        feed = self.feeds.get(user_id)
        return feed.sent if feed else 0

    def offered(self, user_id: str, entries: list[FeedEntry] | None) -> list[ServerEffect]:
        """The hub hands out ``entries`` just committed for the learner (``None``: something
        was committed, read it). A continuation of what this connection sent is sent as it
        is; anything else (handed out of order, or told to catch up) is read."""
        feed = self.feeds.get(user_id)
        if feed is None or self.closed:
            return []
        if feed.reading:
            feed.stale = True
            return []
        fresh = [e for e in entries or () if e.user_seq > feed.sent]
        if entries is not None and not fresh:
            return []  # sent already
        if not fresh or fresh[0].user_seq != feed.sent + 1:
            feed.reading = True
            return [ReadFeed(user_id, feed.sent)]
        effects: list[ServerEffect] = []
        for start in range(0, len(fresh), FEED_PAGE):
            page = fresh[start : start + FEED_PAGE]
            more = start + FEED_PAGE < len(fresh)
            effects.append(self._send(Feed(user_id, page, fresh[-1].user_seq, more)))
        feed.sent = fresh[-1].user_seq
        return effects

    # -- rate limits (the shell keeps the buckets: it has the clock) -------------------------

    def push_limited(self, merge: Merge, retry_after: int) -> list[ServerEffect]:
        """The device pushes faster than its limit: this push is not merged, and the device
        hears when to send it again; the connection goes on."""
        message = f"too many pushes from this device: send batch {merge.push.batch} again in "
        return [
            self._send(
                Error(
                    "rate_limited",
                    f"{message}{retry_after} s",
                    retry_after=retry_after,
                    batch=merge.push.batch,
                )
            )
        ]

    def connect_limited(self, retry_after: int) -> list[ServerEffect]:
        """The hello's device connects more often than its limit: refuse before looking up
        its tokens, and close (4429)."""
        message = f"too many connection attempts from this device: try again in {retry_after} s"
        return self.fail("rate_limited", message, retry_after=retry_after)

    # -- ending ------------------------------------------------------------------------------

    def fail(
        self, code: str, message: str, path: str | None = None, *, retry_after: int | None = None
    ) -> list[ServerEffect]:
        """Send ``error`` with ``code`` and close with the code's close code (one mapping:
        :data:`sync.errors.ERROR_CODES`). ``internal`` sends no error, only 1011."""
        if self.closed:
            return []
        self.closed = True
        close = close_code_for(code)
        if code == "internal":
            return [Close(close, "internal error")]
        error = Error(code, message, path, retry_after=retry_after)
        return [self._send(error), Close(close, message)]

    def restarting(self) -> list[ServerEffect]:
        """The server is stopping: close with 1012 (service restart; the device reconnects
        with backoff and pushes again whatever was not acked)."""
        if self.closed:
            return []
        self.closed = True
        return [Close(CLOSE_SERVICE_RESTART, "the server is restarting; reconnect")]

    def _send(self, msg: ServerMessage) -> Send:
        return Send(msg, encode(msg, binary=self.binary))


# -- the device's side ------------------------------------------------------------------------


class Login(msgspec.Struct, frozen=True):
    """One learner signed in on the device, as its journal holds it."""

    token: str
    username: str
    user_id: str
    device_id: str
    cursor: int = 0
    recorded: int = 0
    plan: str = "free"


class Refused(msgspec.Struct, frozen=True):
    """A learner the server did not accept in the welcome."""

    username: str
    code: str
    reason: str


class ReadPending(msgspec.Struct, frozen=True):
    """Read up to ``limit`` of the device's own events with ``seq`` > ``after``, in order;
    answer with :meth:`ClientSession.pending_read`."""

    device_id: str
    after: int
    limit: int = MAX_BATCH


class ApplyFeed(msgspec.Struct, frozen=True):
    """Store these entries (contiguous after the learner's cursor) and move the cursor;
    answer with :meth:`ClientSession.feed_applied` and the entries new to the journal."""

    user_id: str
    entries: list[FeedEntry]


class MarkAcked(msgspec.Struct, frozen=True):
    """Record the server's watermark for the device (and the events it rejected)."""

    device_id: str
    acked_seq: int
    rejected: list[EventRejection] = []


class StoreCatalog(msgspec.Struct, frozen=True):
    catalog_version: str
    catalog: Catalog


class ResetFeed(msgspec.Struct, frozen=True):
    """Forget the learner's stored feed (the server was restored from a backup)."""

    user_id: str


class SetPlan(msgspec.Struct, frozen=True):
    user_id: str
    plan: str


class SetSynced(msgspec.Struct, frozen=True):
    """Every learner of the connection is in sync: note the time."""

    user_ids: list[str]


class Changed(msgspec.Struct, frozen=True):
    """A feed entry from another device or the server, new to this device."""

    username: str
    entry: FeedEntry


class ResumeLater(msgspec.Struct, frozen=True):
    """The server refused a push for now (``rate_limited``): call
    :meth:`ClientSession.resume` in ``seconds``; until then nothing more is pushed."""

    seconds: int


ClientEffect = (
    Send
    | ResumeLater
    | ReadPending
    | ApplyFeed
    | MarkAcked
    | StoreCatalog
    | ResetFeed
    | SetPlan
    | SetSynced
    | Changed
)

CloseKind = Literal["retry", "revoked", "unauthorized", "expired", "fatal"]


class _Outgoing:
    """One device's pushes on one connection."""

    __slots__ = ("acked", "drained", "epoch", "paused", "reading", "recheck", "sent")

    def __init__(self, acked: int) -> None:
        self.paused = False  # rate limited: no push until resume()
        self.acked = acked  # the server's watermark
        self.sent = acked  # the highest seq pushed: the next push starts after it
        self.reading = False  # a ReadPending is out
        self.drained = False  # the last read found all there is (until record() wakes us)
        self.recheck = False  # woken during that read: read again
        self.epoch = 0  # bumped when pushing starts over from the watermark


class _Incoming:
    """One learner's feed on one connection."""

    __slots__ = ("cursor", "head", "login", "pulling")

    def __init__(self, login: Login, cursor: int, head: int) -> None:
        self.login = login
        self.cursor = cursor  # the highest user_seq held
        self.head = head  # the highest feed head heard of
        self.pulling = False  # a pull is out for a gap


class ClientSession:
    """The device's side of one connection.

    :meth:`start` sends the hello; feed every frame to :meth:`receive` and the results of
    effects to their methods, call :meth:`recorded` when the journal has new events, and
    carry out what they return. :attr:`settled` says when everything is pushed and acked,
    every feed is at its head and an announced catalog arrived.
    """

    def __init__(
        self,
        logins: list[Login],
        *,
        catalog_version: str = "",
        clock: str | None = None,
        client: str = "",
        binary: bool = True,
        pipeline: int = PIPELINE,
        batch: int = MAX_BATCH,
    ) -> None:
        self.logins = logins
        self.batch = batch  # events per push
        self.catalog_version = catalog_version
        self.clock = clock
        self.client = client
        self.binary = binary
        self.pipeline = pipeline
        self.welcomed = False
        self.welcome: Welcome | None = None
        self.error: Error | None = None  # the server's last word before it closes
        self.refused: list[Refused] = []
        self.outgoing: dict[str, _Outgoing] = {}  # device_id -> pushes, once accepted
        self.incoming: dict[str, _Incoming] = {}  # user_id -> feed, once accepted
        self.in_flight: dict[int, tuple[str, int, int]] = {}  # batch -> (device, seq, epoch)
        self.catalog_due = False  # the welcome announced a catalog not received yet
        self.dirty = True  # something changed since the sync time was noted
        self.synced = False  # settled at least once
        self.pushed = 0  # events pushed (resends count again)
        self.received = 0  # feed entries new to the journal
        self._next_batch = 1

    def start(self) -> list[ClientEffect]:
        hello = Hello(
            [HelloAccount(x.token, x.cursor, self.clock, x.recorded) for x in self.logins],
            client=self.client,
            catalog_version=self.catalog_version,
        )
        return [self._send(hello)]

    @property
    def users(self) -> list[str]:
        return list(self.incoming)

    @property
    def settled(self) -> bool:
        return (
            self.welcomed
            and not self.catalog_due
            and not self.in_flight
            and all(o.drained and not o.reading for o in self.outgoing.values())
            and all(f.cursor >= f.head and not f.pulling for f in self.incoming.values())
        )

    def settle(self) -> list[ClientEffect]:
        """When settled: note the sync time (once per change)."""
        if not self.settled:
            return []
        self.synced = True
        if not self.dirty:
            return []
        self.dirty = False
        return [SetSynced(self.users)]

    # -- frames in ----------------------------------------------------------------------

    def receive(self, frame: Frame) -> list[ClientEffect]:
        """Handle one frame from the server. Raises :class:`ProtocolError` when the server
        breaks the protocol (the shell ends the connection)."""
        try:
            msg = decode_server(frame)
        except ProtocolError as err:
            raise ProtocolError(err.code, f"unreadable message from the server: {err}") from None
        match msg:
            case Welcome():
                return self._welcome(msg)
            case Error(code="rate_limited", batch=int()):
                return self._push_limited(msg)
            case Error():
                if msg.code != "seq_gap":  # the ack before it says where to resend from
                    self.error = msg  # the close follows
                return []
            case _ if not self.welcomed:
                raise ProtocolError("bad_message", f"expected a welcome, got {type(msg).__name__}")
            case CatalogMsg():
                return self._catalog(msg)
            case Feed():
                return self._feed(msg)
            case Ack():
                return self._ack(msg)
        raise AssertionError(f"unhandled message {msg!r}")  # pragma: no cover

    def _welcome(self, welcome: Welcome) -> list[ClientEffect]:
        if self.welcomed:
            if welcome == self.welcome:
                return []  # the same frame twice: nothing new
            raise ProtocolError("bad_message", "the server sent a second welcome")
        self.welcomed = True
        self.welcome = welcome
        # A newer catalog follows the welcome: not in sync without it.
        self.catalog_due = bool(welcome.catalog_version) and (
            welcome.catalog_version != self.catalog_version
        )
        for refusal in welcome.refused:
            known = 0 <= refusal.index < len(self.logins)
            name = self.logins[refusal.index].username if known else "?"
            self.refused.append(Refused(name, refusal.code, refusal.reason))
        by_device = {x.device_id: x for x in self.logins}
        effects: list[ClientEffect] = []
        for accepted in welcome.accounts:
            login = by_device.get(accepted.device_id)
            if login is None:
                raise ProtocolError(
                    "bad_message", f"welcome for a device not signed in: {accepted.device_id}"
                )
            effects.append(MarkAcked(accepted.device_id, accepted.acked_seq))
            self.outgoing[accepted.device_id] = _Outgoing(accepted.acked_seq)
            feed = self.incoming[accepted.user_id] = _Incoming(
                login, login.cursor, accepted.feed_head
            )
            if login.cursor > accepted.feed_head:
                # The server was restored from a backup: what this device holds of the feed
                # may differ from the server's anywhere, so read it all again.
                feed.cursor, feed.pulling = 0, True
                effects += [ResetFeed(accepted.user_id), self._send(Pull(accepted.user_id, 0))]
            if accepted.plan != login.plan:  # e.g. upgraded to premium since the login
                effects.append(SetPlan(accepted.user_id, accepted.plan))
        return effects + self._pushes()

    def _catalog(self, msg: CatalogMsg) -> list[ClientEffect]:
        try:
            catalog = catalog_from_server(msg.catalog)
        except CatalogError as err:
            raise ProtocolError("bad_message", f"the server sent a bad catalog: {err}") from None
        self.catalog_due = False
        self.catalog_version = msg.version
        return [StoreCatalog(msg.version, catalog)]

    def _feed(self, msg: Feed) -> list[ClientEffect]:
        feed = self.incoming.get(msg.user_id)
        if feed is None:
            raise ProtocolError("bad_message", f"feed for a learner not signed in: {msg.user_id}")
        feed.head = max(feed.head, msg.head)
        fresh = [e for e in msg.entries if e.user_seq > feed.cursor]  # seen ones come twice
        if fresh and fresh[0].user_seq != feed.cursor + 1:
            # Something is missing before these: ask for the feed from the cursor (once).
            if feed.pulling:
                return []
            feed.pulling = True
            return [self._send(Pull(msg.user_id, feed.cursor))]
        feed.pulling = False
        if not fresh:
            return []
        feed.cursor = fresh[-1].user_seq
        return [ApplyFeed(msg.user_id, fresh)]

    def _ack(self, ack: Ack) -> list[ClientEffect]:
        sent = self.in_flight.get(ack.batch)
        if sent is None or sent[0] != ack.device_id:
            # Not a push in flight (a frame seen twice): its watermark may be older than
            # the last one, so it must not count.
            return []
        del self.in_flight[ack.batch]
        out = self.outgoing[ack.device_id]
        _, last, epoch = sent
        out.acked = ack.acked_seq
        if ack.acked_seq < last and epoch == out.epoch:
            # Not all applied (a gap): start over from the watermark.
            out.sent, out.drained, out.epoch = ack.acked_seq, False, out.epoch + 1
        feed = self.incoming[self._user_of(ack.device_id)]
        feed.head = max(feed.head, ack.feed_head)
        self.dirty = True
        return [MarkAcked(ack.device_id, ack.acked_seq, ack.rejected), *self._pushes()]

    def _push_limited(self, error: Error) -> list[ClientEffect]:
        """A push was refused, not applied: push again from the watermark, after the wait."""
        sent = self.in_flight.pop(error.batch or 0, None)
        if sent is None:
            return []
        out = self.outgoing[sent[0]]
        if sent[2] == out.epoch:  # pushes after it are resent too: they would leave a gap
            out.sent, out.epoch = out.acked, out.epoch + 1
        out.paused, out.drained = True, False
        return [ResumeLater(max(1, error.retry_after or 1))]

    def resume(self) -> list[ClientEffect]:
        """The wait of a :class:`ResumeLater` is over: push again."""
        for out in self.outgoing.values():
            out.paused = False
        return self._pushes()

    def _user_of(self, device_id: str) -> str:
        return next(x.user_id for x in self.logins if x.device_id == device_id)

    # -- results of effects, and the journal's news ------------------------------------------

    def recorded(self) -> list[ClientEffect]:
        """The journal has new events (of any learner): push them."""
        for out in self.outgoing.values():
            out.drained = False
            out.recheck = out.reading
        return self._pushes()

    def pending_read(self, read: ReadPending, events: list[Event]) -> list[ClientEffect]:
        out = self.outgoing[read.device_id]
        out.reading = False
        effects: list[ClientEffect] = []
        if read.after != out.sent or out.paused:
            pass  # pushing started over (or paused) meanwhile: drop this read, read again
        elif events:
            batch = self._next_batch
            self._next_batch += 1
            self.in_flight[batch] = (read.device_id, events[-1].seq, out.epoch)
            out.sent = events[-1].seq
            self.pushed += len(events)
            effects.append(self._send(Push(batch, read.device_id, events)))
            out.drained = len(events) < read.limit and not out.recheck
        else:
            out.drained = not out.recheck
        out.recheck = False
        return effects + self._pushes()

    def feed_applied(self, apply: ApplyFeed, new: list[FeedEntry]) -> list[ClientEffect]:
        """``new``: the entries the journal did not hold. Those from other devices or the
        server are changes to show."""
        self.received += len(new)
        self.dirty = True
        login = self.incoming[apply.user_id].login
        own = {x.device_id for x in self.logins}
        return [
            Changed(login.username, e)
            for e in new
            if e.origin == "server" or e.device_id not in own
        ]

    def _pushes(self) -> list[ClientEffect]:
        """Read the next batch of every device with room in its pipeline."""
        busy: dict[str, int] = {}
        for device_id, _, _ in self.in_flight.values():
            busy[device_id] = busy.get(device_id, 0) + 1
        effects: list[ClientEffect] = []
        for device_id, out in self.outgoing.items():
            idle = not (out.reading or out.drained or out.paused)
            if idle and busy.get(device_id, 0) < self.pipeline:
                out.reading = True
                effects.append(ReadPending(device_id, out.sent, self.batch))
        return effects

    # -- ending ------------------------------------------------------------------------------

    def closed(self, code: int | None, reason: str) -> tuple[CloseKind, str]:
        """What a close means for the device (``None``: dropped without a close frame), and
        the reason to show (the server's error message if it sent one)."""
        why = self.error.message if self.error else reason
        if code == CLOSE_FORBIDDEN:
            return "revoked", why
        if code == CLOSE_UNAUTHORIZED:
            return "unauthorized", why
        if code == CLOSE_TOKEN_EXPIRED:
            return "expired", why
        if code is None or code in RETRYABLE:
            return "retry", why
        return "fatal", why

    def _send(self, msg: ClientMessage) -> Send:
        return Send(msg, encode(msg, binary=self.binary))


__all__ = [
    "CLOSE_BAD_MESSAGE",
    "PIPELINE",
    "RETRYABLE",
    "ClientSession",
    "ServerSession",
]
