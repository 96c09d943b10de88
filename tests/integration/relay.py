"""A recording TCP relay on 127.0.0.1: devices connect to it, it connects them to the real
server, forwards every byte unchanged both ways and keeps what went by: each HTTP exchange
(request line, headers, body; status, body) and each WebSocket message, reassembled from
its frames and inflated when permessage-deflate (RFC 7692) was negotiated.

Start it with ``async with Relay(server_port) as relay``, point the devices at
``relay.url``, and read ``relay.connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
_DEFLATE_TAIL = b"\x00\x00\xff\xff"
_counter = itertools.count()


@dataclass
class Message:
    """One WebSocket message or HTTP message, in the order it passed the relay."""

    upstream: bool  # device -> server
    opcode: int  # OP_TEXT, OP_BINARY, OP_CLOSE; 0 for HTTP
    data: bytes  # the payload, inflated; for HTTP the body
    step: int  # the relay's ``step`` when the message's last byte went by
    head: str = ""  # for HTTP: the request or status line and headers
    index: int = field(default_factory=lambda: next(_counter))  # order through the relay

    @property
    def text(self) -> str:
        return self.data.decode()


@dataclass
class Connection:
    """One TCP connection through the relay."""

    number: int
    messages: list[Message] = field(default_factory=list)
    websocket: bool = False

    def frames(self) -> list[Message]:
        """The WebSocket data and close messages (pings and pongs left out)."""
        return [m for m in self.messages if m.opcode in (OP_TEXT, OP_BINARY, OP_CLOSE)]


class _Direction:
    """Parses one direction of a connection as the bytes go by."""

    def __init__(self, conn: Connection, upstream: bool, step: Callable[[], int]) -> None:
        self.conn = conn
        self.upstream = upstream
        self.step = step
        self.buffer = bytearray()
        self.in_http = True
        self.body_left: int | None = None
        self.head = ""
        self.fragments: list[bytes] = []
        self.opcode = 0
        self.compressed = False
        self.inflater: zlib._Decompress | None = None
        self.reset_inflater = False  # no_context_takeover for this sender
        self.deflate = False
        self.peer: _Direction | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self._parse_one():
            pass

    def _parse_one(self) -> bool:
        if self.in_http:
            return self._parse_http()
        return self._parse_frame()

    def _parse_http(self) -> bool:
        if self.body_left is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.head = self.buffer[:end].decode("latin-1")
            del self.buffer[: end + 4]
            headers = _headers(self.head)
            if self.head.startswith("HTTP/1.1 101"):
                self._upgrade(headers.get("sec-websocket-extensions", ""))
                return True
            if "chunked" in headers.get("transfer-encoding", ""):
                raise AssertionError("the relay does not read chunked bodies")
            self.body_left = int(headers.get("content-length", "0"))
        if len(self.buffer) < self.body_left:
            return False
        body = bytes(self.buffer[: self.body_left])
        del self.buffer[: self.body_left]
        self.body_left = None
        self.conn.messages.append(Message(self.upstream, 0, body, self.step(), self.head))
        return True

    def _upgrade(self, extensions: str) -> None:
        """The server's 101: both directions now carry frames, deflated if agreed."""
        self.conn.websocket = True
        assert self.peer is not None
        for direction in (self, self.peer):
            direction.in_http = False
            if "permessage-deflate" in extensions:
                direction.deflate = True
                sender = "client" if direction.upstream else "server"
                direction.reset_inflater = f"{sender}_no_context_takeover" in extensions
                direction.inflater = zlib.decompressobj(wbits=-15)
        self.conn.messages.append(Message(self.upstream, 0, b"", self.step(), self.head))

    def _parse_frame(self) -> bool:
        buf = self.buffer
        if len(buf) < 2:
            return False
        fin, rsv1, opcode = buf[0] & 0x80, buf[0] & 0x40, buf[0] & 0x0F
        masked, length = buf[1] & 0x80, buf[1] & 0x7F
        at = 2
        if length == 126:
            if len(buf) < 4:
                return False
            length, at = int.from_bytes(buf[2:4]), 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length, at = int.from_bytes(buf[2:10]), 10
        mask = b""
        if masked:
            if len(buf) < at + 4:
                return False
            mask, at = bytes(buf[at : at + 4]), at + 4
        if len(buf) < at + length:
            return False
        payload = bytes(buf[at : at + length])
        del buf[: at + length]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if opcode >= OP_CLOSE:  # control frames: never fragmented, never compressed
            self.conn.messages.append(Message(self.upstream, opcode, payload, self.step()))
            return True
        if opcode != OP_CONTINUATION:
            self.opcode, self.compressed, self.fragments = opcode, bool(rsv1), []
        self.fragments.append(payload)
        if fin:
            data = b"".join(self.fragments)
            if self.compressed:
                assert self.inflater is not None
                data = self.inflater.decompress(data + _DEFLATE_TAIL)
                if self.reset_inflater:
                    self.inflater = zlib.decompressobj(wbits=-15)
            self.conn.messages.append(Message(self.upstream, self.opcode, data, self.step()))
        return True


def _headers(head: str) -> dict[str, str]:
    found = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return found


class Relay:
    """The recording relay in front of the server on ``127.0.0.1:port``.

    ``step`` is a number the test moves on between the phases of its scenario; every
    message records the step it completed in.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.step = 0
        self.connections: list[Connection] = []
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.port)
        conn = Connection(len(self.connections))
        self.connections.append(conn)
        upstream = _Direction(conn, True, lambda: self.step)
        downstream = _Direction(conn, False, lambda: self.step)
        upstream.peer, downstream.peer = downstream, upstream
        tasks = [
            asyncio.create_task(_pump(down_r, up_w, upstream)),
            asyncio.create_task(_pump(up_r, down_w, downstream)),
        ]
        self._pumps.update(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            self._pumps.difference_update(tasks)
            for writer in (up_w, down_w):
                writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parse: _Direction
) -> None:
    """Forward until EOF: record first, so a peer that saw a message finds it recorded."""
    try:
        while data := await reader.read(65536):
            parse.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if writer.can_write_eof():  # pass the half-close on; both close when both end
            with contextlib.suppress(ConnectionError, OSError):
                writer.write_eof()


def status_of(head: str) -> int:
    found = re.match(r"HTTP/1\.1 (\d{3})", head)
    assert found, head
    return int(found.group(1))
