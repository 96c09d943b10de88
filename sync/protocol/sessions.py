"""Sans-I/O sessions for both ends of ``/v1/sync``.

They own no socket, loop, store or clock: shells feed them frames (:meth:`receive`) and
send what they return. Protocol violations raise :class:`~sync.errors.ProtocolError`
carrying the error code and the close code; the shell sends :meth:`ServerSession.error`
and closes. See ``docs/protocol.md`` for the message flow.
"""

from __future__ import annotations

from sync.errors import ProtocolError, UsageError
from sync.events import Event
from sync.protocol.codec import (
    CLOSE_BAD_MESSAGE,
    CLOSE_BATCH_TOO_LARGE,
    CLOSE_FORBIDDEN,
    CLOSE_UNSUPPORTED_PROTOCOL,
    Frame,
    decode_client,
    decode_server,
    encode,
)
from sync.protocol.messages import (
    MAX_BATCH,
    PROTOCOL_VERSION,
    ClientMessage,
    Error,
    Hello,
    HelloAccount,
    Pull,
    Push,
    ServerMessage,
    Welcome,
)


class ServerSession:
    """The server's side of one connection.

    Call :meth:`receive` for every frame; answer a :class:`Hello` with :meth:`welcome`
    once the shell has authenticated its accounts; encode every other reply with
    :meth:`send`. Replies use the format (JSON or msgpack) of the device's hello.
    """

    def __init__(self) -> None:
        self.binary = True
        self.hello_received = False
        self.greeted = False  # welcome() was called
        self.devices: dict[str, str] = {}  # device_id -> user_id
        self.users: set[str] = set()

    def receive(self, frame: Frame) -> ClientMessage:
        # Until welcome() the shell is authenticating; gate on the hello itself so a second
        # hello (or a frame in the other format) in that window cannot slip through.
        if not self.hello_received:
            self.binary = isinstance(frame, bytes)
        msg = decode_client(frame)
        match msg:
            case Hello():
                if self.hello_received:
                    raise ProtocolError("bad_message", "hello sent twice", CLOSE_BAD_MESSAGE)
                if msg.protocol != PROTOCOL_VERSION:
                    raise ProtocolError(
                        "unsupported_protocol",
                        f"protocol {msg.protocol} is not supported; this server speaks "
                        f"{PROTOCOL_VERSION}",
                        CLOSE_UNSUPPORTED_PROTOCOL,
                    )
                self.hello_received = True
            case _ if not self.hello_received:
                raise ProtocolError(
                    "bad_message", "the first message must be hello", CLOSE_BAD_MESSAGE
                )
            case Push():
                self._check_push(msg)
            case Pull():
                if msg.user_id not in self.users:
                    raise ProtocolError(
                        "forbidden",
                        f"user {msg.user_id!r} is not signed in on this connection",
                        CLOSE_FORBIDDEN,
                    )
        return msg

    def _check_push(self, push: Push) -> None:
        if push.device_id not in self.devices:
            raise ProtocolError(
                "forbidden",
                f"device {push.device_id!r} is not signed in on this connection",
                CLOSE_FORBIDDEN,
            )
        if len(push.events) > MAX_BATCH:
            raise ProtocolError(
                "batch_too_large",
                f"a push carries at most {MAX_BATCH} events, this one {len(push.events)}",
                CLOSE_BATCH_TOO_LARGE,
            )
        last = 0
        for index, event in enumerate(push.events):
            if event.seq <= last:
                raise ProtocolError(
                    "bad_message",
                    "events in a push must have strictly increasing seq",
                    CLOSE_BAD_MESSAGE,
                    f"$.events[{index}].seq",
                )
            last = event.seq

    def welcome(self, welcome: Welcome) -> Frame:
        """Record the accepted accounts and return the welcome frame."""
        if self.greeted:
            raise UsageError("welcome() called twice")
        self.greeted = True
        for account in welcome.accounts:
            self.devices[account.device_id] = account.user_id
            self.users.add(account.user_id)
        return self.send(welcome)

    def send(self, msg: ServerMessage) -> Frame:
        return encode(msg, binary=self.binary)

    def error(self, err: ProtocolError) -> Frame:
        return self.send(Error(err.code, err.message, err.path))


class ClientSession:
    """The device's side of one connection.

    Send :meth:`hello` first, then :meth:`push` batches; feed every frame to
    :meth:`receive`, which returns the decoded message. ``in_flight`` maps unanswered
    batch numbers to ``(device_id, highest seq)``.
    """

    def __init__(self, *, binary: bool = True) -> None:
        self.binary = binary
        self.in_flight: dict[int, tuple[str, int]] = {}
        self._next_batch = 1

    def hello(self, accounts: list[HelloAccount], *, client: str, catalog_version: str) -> Frame:
        return encode(
            Hello(accounts, client=client, catalog_version=catalog_version), binary=self.binary
        )

    def push(self, device_id: str, events: list[Event]) -> tuple[int, Frame]:
        if not events:
            raise UsageError("push() needs at least one event")
        batch = self._next_batch
        self._next_batch += 1
        self.in_flight[batch] = (device_id, events[-1].seq)
        return batch, encode(Push(batch, device_id, events), binary=self.binary)

    def pull(self, user_id: str, cursor: int) -> Frame:
        return encode(Pull(user_id, cursor), binary=self.binary)

    def receive(self, frame: Frame) -> ServerMessage:
        msg = decode_server(frame)
        batch = getattr(msg, "batch", None)
        if batch is not None:
            self.in_flight.pop(batch, None)
        return msg
