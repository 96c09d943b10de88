"""A loopback TCP relay between one device and the server that breaks WebSocket frames.

:class:`FaultProxy` listens on 127.0.0.1 and relays each connection to wherever
``upstream()`` says the server is now (it moves when the server is restarted). Plain HTTP
(the login, the catalog) passes untouched. A connection whose request upgrades to a
WebSocket gets a :class:`~tests.chaos.schedule.ConnectionPlan` from ``plan(n)`` (``n``
counts this device's WebSocket connections), and after the ``101`` both directions are
parsed into frames (RFC 6455 §5.2: 2 bytes, 2 or 8 bytes of extended length, a 4-byte mask
on the device's frames), so that whole frames can be dropped, duplicated, held back, or cut
part-way (then both sides are closed abortively, as when a link dies mid-write).

The proxy also reads what the server sends (inflating permessage-deflate as the device
does) and keeps, per server-side device id, the highest ``acked_seq`` of every ``ack`` and
``welcome`` it forwarded: what the device was told is durably on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sync.errors import DecodeError
from sync.protocol.codec import decode_client, decode_server
from sync.protocol.messages import (
    Ack,
    ClientMessage,
    Error,
    Feed,
    Hello,
    Push,
    ServerMessage,
    Welcome,
)
from tests.chaos.schedule import ConnectionPlan, Direction, Fault

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
TRACE_LINES = 300  # the last messages through the proxy, for a failure's report


@dataclass
class WsFrame:
    raw: bytes  # the whole frame as it came off the wire
    fin: bool
    rsv1: bool  # permessage-deflate: the message's payload is compressed
    opcode: int
    payload: bytes  # unmasked


async def read_frame(reader: asyncio.StreamReader) -> WsFrame:
    """One frame; raises :class:`asyncio.IncompleteReadError` at EOF."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    ext = b""
    if length == 126:
        ext = await reader.readexactly(2)
        length = int.from_bytes(ext, "big")
    elif length == 127:
        ext = await reader.readexactly(8)
        length = int.from_bytes(ext, "big")
    mask = await reader.readexactly(4) if head[1] & 0x80 else b""
    payload = await reader.readexactly(length)
    raw = head + ext + mask + payload
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return WsFrame(raw, bool(head[0] & 0x80), bool(head[0] & 0x40), head[0] & 0x0F, payload)


class _Observer:
    """Reassembles and decodes one direction's messages as the peer will see them."""

    def __init__(self, direction: Direction, deflate: bool, takeover: bool) -> None:
        self.direction = direction
        self.deflate = deflate
        self.takeover = takeover
        self.inflater = zlib.decompressobj(-15)
        self.parts: list[bytes] = []
        self.compressed = False
        self.opcode = OP_BINARY
        self.broken = False  # a duplicated compressed frame threw the window off

    def feed(self, frame: WsFrame) -> ClientMessage | ServerMessage | str | None:
        """The message ``frame`` completes (a string if it is unreadable), else None."""
        if frame.opcode >= 0x8:  # control frames: ping, pong, close
            return {0x8: "close", 0x9: "ping", 0xA: "pong"}.get(frame.opcode, "control")
        if self.broken:
            return "unreadable"
        if frame.opcode != OP_CONTINUATION:
            self.parts, self.compressed, self.opcode = [], frame.rsv1, frame.opcode
        self.parts.append(frame.payload)
        if not frame.fin:
            return None
        data = b"".join(self.parts)
        try:
            if self.compressed:
                if not self.takeover:
                    self.inflater = zlib.decompressobj(-15)
                data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
            message = data.decode() if self.opcode == OP_TEXT else data
            if self.direction == "up":
                return decode_client(message)
            return decode_server(message)
        except (zlib.error, UnicodeDecodeError, DecodeError):
            self.broken = True
            return "unreadable"


def _note_acks(message: object, acked: dict[str, int]) -> None:
    match message:
        case Ack(device_id=device_id, acked_seq=seq):
            acked[device_id] = max(acked.get(device_id, 0), seq)
        case Welcome(accounts=accounts):
            for account in accounts:
                acked[account.device_id] = max(acked.get(account.device_id, 0), account.acked_seq)


def _describe(message: object) -> str:
    match message:
        case str():
            return message
        case Push(batch=batch, device_id=device_id, events=events):
            seqs = f"{events[0].seq}-{events[-1].seq}" if events else "none"
            return f"push batch {batch} device {device_id[:6]} seqs {seqs}"
        case Ack(batch=batch, device_id=device_id, acked_seq=seq, feed_head=head):
            return f"ack batch {batch} device {device_id[:6]} acked {seq} head {head}"
        case Feed(user_id=user_id, entries=entries, head=head, more=more):
            seqs = f"{entries[0].user_seq}-{entries[-1].user_seq}" if entries else "none"
            return f"feed user {user_id[:6]} entries {seqs} head {head} more {more}"
        case Welcome(accounts=accounts):
            return "welcome " + ", ".join(
                f"{a.device_id[:6]} acked {a.acked_seq} head {a.feed_head}" for a in accounts
            )
        case Hello(accounts=accounts):
            return "hello cursors " + ", ".join(str(a.cursor) for a in accounts)
        case Error(code=code, message=text):
            return f"error {code}: {text}"
    return type(message).__name__.lower()


@dataclass
class FaultProxy:
    """One device's way to the server. ``upstream()`` is the server's ``(host, port)`` now,
    or None while it is down; ``plan(n)`` the faults of the ``n``-th WebSocket connection;
    ``on_kill(target)`` is called when a kill fault fires (from :meth:`arm_kill`)."""

    upstream: Callable[[], tuple[str, int] | None]
    plan: Callable[[int], ConnectionPlan]
    on_kill: Callable[[str], None]
    faults_on: bool = True
    connections: int = 0
    acked: dict[str, int] = field(default_factory=dict)
    applied: Counter[str] = field(default_factory=Counter)
    _kills: list[tuple[str, Direction, int]] = field(default_factory=list)
    trace: deque[str] = field(default_factory=lambda: deque(maxlen=TRACE_LINES))
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _trace(self, connection: int, line: str) -> None:
        self.trace.append(f"{time.monotonic() % 1000:8.3f} #{connection} {line}")

    def arm_kill(self, target: str, direction: Direction, frame: int) -> None:
        """Kill ``target`` when the next WebSocket connection that gets that far passes
        frame ``frame`` going ``direction``."""
        self._kills.append((target, direction, frame))

    def disarm_kills(self) -> list[str]:
        """Forget the armed kills that never fired; returns their targets."""
        targets = [kill[0] for kill in self._kills]
        self._kills = []
        return targets

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        swriter: asyncio.StreamWriter | None = None
        try:
            try:
                request = await creader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            target = self.upstream()
            if target is None:
                return  # the server is down: the device sees the connection close
            try:
                sreader, swriter = await asyncio.open_connection(*target)
            except OSError:
                return
            if b"upgrade: websocket" not in request.lower():
                swriter.write(request)
                await _pipe_both(creader, cwriter, sreader, swriter)
                return
            await self._websocket(request, creader, cwriter, sreader, swriter)
        finally:
            # One side closed: the other gets what was written, then the close.
            for writer in (cwriter, swriter):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    async def _websocket(
        self,
        request: bytes,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        sreader: asyncio.StreamReader,
        swriter: asyncio.StreamWriter,
    ) -> None:
        number = self.connections
        self.connections += 1
        plan = self.plan(number) if self.faults_on else ConnectionPlan()
        kills, self._kills = self._kills, []
        try:
            await self._relay(number, plan, kills, request, creader, cwriter, sreader, swriter)
        finally:
            self._kills.extend(kills)  # not fired: for the next connection

    async def _relay(
        self,
        number: int,
        plan: ConnectionPlan,
        kills: list[tuple[str, Direction, int]],
        request: bytes,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        sreader: asyncio.StreamReader,
        swriter: asyncio.StreamWriter,
    ) -> None:
        if not plan.compress:
            request = b"".join(
                line
                for line in request.splitlines(keepends=True)
                if not line.lower().startswith(b"sec-websocket-extensions:")
            )
        swriter.write(request)
        try:
            response = await sreader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        cwriter.write(response)
        if not response.startswith(b"HTTP/1.1 101"):
            await _pipe_both(creader, cwriter, sreader, swriter)
            return
        extensions = b"\n".join(
            line.lower()
            for line in response.splitlines()
            if line.lower().startswith(b"sec-websocket-extensions:")
        )
        # The server compresses what it sends; its window carries over between messages
        # unless it agreed to server_no_context_takeover (RFC 7692 §7.1.1).
        deflate = b"permessage-deflate" in extensions
        observers = {
            "up": _Observer("up", deflate, b"client_no_context_takeover" not in extensions),
            "down": _Observer("down", deflate, b"server_no_context_takeover" not in extensions),
        }
        self._trace(number, f"open, faults {list(plan.faults)}, deflate {deflate}")
        sever = asyncio.Event()
        stalled: set[Direction] = set()
        faults = {(f.direction, f.frame): f for f in plan.faults}

        async def pump(
            direction: Direction, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            index = 0
            while True:
                frame = await read_frame(reader)
                if direction in stalled:
                    continue  # TCP delivers nothing past a lost segment: the stream stalls
                for kill in [k for k in kills if k[1:] == (direction, index)]:
                    kills.remove(kill)
                    self.applied[f"kill_{kill[0]}"] += 1
                    self._trace(number, f"{direction} {index}: kill {kill[0]}")
                    self.on_kill(kill[0])
                fault = faults.get((direction, index))
                index += 1
                message = observers[direction].feed(frame)
                what = "" if message is None else _describe(message)
                if fault is not None:
                    self.applied[fault.kind] += 1
                    self._trace(number, f"{direction} {index - 1}: {fault.kind} {what}")
                    if await self._apply(fault, frame, writer, sever):
                        stalled.add(direction)
                        continue
                elif message is not None:
                    self._trace(number, f"{direction} {index - 1}: {what}")
                writer.write(frame.raw)
                await writer.drain()
                if direction == "down":
                    _note_acks(message, self.acked)

        tasks = [
            asyncio.ensure_future(pump("up", creader, swriter)),
            asyncio.ensure_future(pump("down", sreader, cwriter)),
            asyncio.ensure_future(sever.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._trace(number, "severed" if sever.is_set() else "closed")
            if sever.is_set():  # a fault broke the link: nothing more gets through
                for writer in (cwriter, swriter):
                    writer.transport.abort()

    async def _apply(
        self, fault: Fault, frame: WsFrame, writer: asyncio.StreamWriter, sever: asyncio.Event
    ) -> bool:
        """Apply ``fault`` to ``frame``; True if it was dropped: then nothing more gets
        through in that direction, and the connection is severed ``fault.arg`` ms later."""
        match fault.kind:
            case "drop":
                loop = asyncio.get_running_loop()
                loop.call_later(fault.arg / 1000, sever.set)
                return True
            case "dup":
                writer.write(frame.raw)
                return False  # ... and once more by the caller
            case "cut":
                cut = min(len(frame.raw) - 1, max(1, int(len(frame.raw) * fault.arg)))
                writer.write(frame.raw[:cut])
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await asyncio.wait_for(writer.drain(), 1.0)
                sever.set()
                await asyncio.Event().wait()  # cancelled by the severing
            case "delay":
                await asyncio.sleep(fault.arg / 1000)  # the fault itself, not a wait for one
                return False
        return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _pipe_both(
    creader: asyncio.StreamReader,
    cwriter: asyncio.StreamWriter,
    sreader: asyncio.StreamReader,
    swriter: asyncio.StreamWriter,
) -> None:
    """Relay bytes both ways until either side closes."""
    up = asyncio.ensure_future(_pipe(creader, swriter))
    down = asyncio.ensure_future(_pipe(sreader, cwriter))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
