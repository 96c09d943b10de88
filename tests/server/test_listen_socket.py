"""The server's listening socket: connections it accepts send small frames at once."""

from __future__ import annotations

import asyncio
import socket

from client.connection import ping_interval
from server.cli import KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, bind
from sync.protocol.codec import PING_INTERVAL_S


async def test_accepted_connections_have_nagle_off() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is TCP; with it unset, every
    other one-event ack waited ~40 ms for the peer's delayed ACK (found by the bench)."""
    listener = bind("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(handle, sock=listener)
    try:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await accepted != 0
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_accepted_connections_inherit_tcp_keepalive() -> None:
    """The server sends no WebSocket pings (devices do); a peer that vanished without
    closing is found by the kernel's keepalive, set on the listening socket and inherited
    by each accepted one."""
    listener = bind("127.0.0.1", 0)
    accepted: asyncio.Future[tuple[int, int, int, int]] = asyncio.get_running_loop().create_future()

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(
            (
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            )
        )
        writer.close()

    server = await asyncio.start_server(handle, sock=listener)
    try:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        on, idle, interval, probes = await accepted
        assert on != 0
        assert (idle, interval, probes) == (KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, 4)
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


def test_each_connection_pings_at_its_own_interval() -> None:
    low, high = PING_INTERVAL_S
    drawn = [ping_interval() for _ in range(200)]
    assert all(low <= d <= high for d in drawn)
    assert max(drawn) - min(drawn) > (high - low) / 2  # spread, not one shared period
