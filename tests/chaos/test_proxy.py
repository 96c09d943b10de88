"""The fault proxy does to frames what its plan says, over real WebSocket connections
(websockets on both sides, on 127.0.0.1), and the schedules are functions of their seed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidMessage

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Welcome, WelcomeAccount
from tests.chaos.proxy import FaultProxy
from tests.chaos.schedule import (
    FAULT_KINDS,
    ConnectionPlan,
    Fault,
    connection_plan,
    make_schedule,
)


@dataclass
class Peer:
    """A WebSocket server that sends ``script`` on connect and keeps what it receives."""

    script: list[str | bytes] = field(default_factory=list)
    received: list[str | bytes] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, ws: ServerConnection) -> None:
        self.extensions = [type(e).__name__ for e in ws.protocol.extensions]
        try:
            for message in self.script:
                await ws.send(message)
            async for message in ws:
                self.received.append(message)
        finally:
            self.closed.set()


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Peer, tuple[str, int]]]:
    found = Peer()
    async with serve(found.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield found, ("127.0.0.1", port)


async def through(
    address: tuple[str, int], plan: ConnectionPlan, killed: list[str] | None = None
) -> tuple[FaultProxy, ClientConnection]:
    proxy = FaultProxy(
        upstream=lambda: address,
        plan=lambda n: plan,
        on_kill=(killed if killed is not None else []).append,
    )
    url = await proxy.start()
    ws = await connect(url.replace("http://", "ws://") + "/v1/sync")
    return proxy, ws


async def recv_all(ws: ClientConnection) -> tuple[list[str | bytes], int | None]:
    """Every message until the connection closes, and the close code the device saw."""
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(ws.recv(), 30))
    except ConnectionClosed as closed:
        return got, closed.rcvd.code if closed.rcvd else None


async def test_with_no_fault_frames_pass_intact_and_the_acks_seen_are_kept(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    account = WelcomeAccount("u1", "ann", "d1", acked_seq=3, feed_head=9)
    server.script = [
        encode(Welcome([account]), binary=True),
        encode(Ack(1, "d1", acked_seq=5), binary=False),  # text frames too
        encode(Ack(2, "d2", acked_seq=2), binary=True),
    ]
    proxy, ws = await through(address, ConnectionPlan())
    got = [await ws.recv() for _ in server.script]
    await ws.send("up")
    await ws.close()
    await server.closed.wait()
    await proxy.close()
    assert got == server.script
    assert server.received == ["up"]
    assert server.extensions == ["PerMessageDeflate"]  # compressed, and still read
    assert proxy.acked == {"d1": 5, "d2": 2}


async def test_a_dropped_frame_stalls_its_direction_and_the_link_is_severed(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    server.script = [f"m{i}" for i in range(5)]
    proxy, ws = await through(address, ConnectionPlan((Fault("drop", "down", 2, 10.0),)))
    got, code = await recv_all(ws)
    await proxy.close()
    assert got == ["m0", "m1"]  # nothing overtakes the lost frame
    assert code is None  # no close frame: the link broke
    assert proxy.applied == {"drop": 1}


async def test_a_duplicated_frame_arrives_twice_when_uncompressed(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    proxy, ws = await through(address, ConnectionPlan((Fault("dup", "up", 1),), compress=False))
    for message in ("a", "b", "c"):
        await ws.send(message)
    await ws.close()
    await server.closed.wait()
    await proxy.close()
    assert server.extensions == []  # the offer was stripped
    assert server.received == ["a", "b", "b", "c"]


async def test_a_frame_cut_mid_way_is_never_delivered_and_both_sides_are_closed(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    server.script = ["first", "x" * 500, "third"]
    proxy, ws = await through(address, ConnectionPlan((Fault("cut", "down", 1, 0.5),)))
    got, code = await recv_all(ws)
    await server.closed.wait()
    await proxy.close()
    assert got == ["first"]
    assert code is None


async def test_a_delayed_frame_keeps_its_place_in_the_stream(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    server.script = ["one", "two", "three"]
    proxy, ws = await through(address, ConnectionPlan((Fault("delay", "down", 1, 30.0),)))
    got = [await ws.recv() for _ in range(3)]
    await ws.close()
    await proxy.close()
    assert got == ["one", "two", "three"]
    assert proxy.applied == {"delay": 1}


async def test_an_armed_kill_fires_at_its_frame_on_the_next_connection_that_reaches_it(
    peer: tuple[Peer, tuple[str, int]],
) -> None:
    server, address = peer
    server.script = ["hello"]
    killed: list[str] = []
    proxy, ws = await through(address, ConnectionPlan(), killed)
    proxy.arm_kill("server", "up", 2)
    await ws.close()  # armed after this connection opened: not its kill
    ws = await connect(proxy_url(proxy))
    await ws.recv()
    await ws.send("0")
    await ws.send("1")
    assert killed == []
    await ws.send("2")
    await ws.close()
    await proxy.close()
    assert killed == ["server"]
    assert proxy.disarm_kills() == []


def proxy_url(proxy: FaultProxy) -> str:
    assert proxy._server is not None
    return f"ws://127.0.0.1:{proxy._server.sockets[0].getsockname()[1]}/v1/sync"


async def test_while_the_server_is_down_the_device_sees_its_connection_close() -> None:
    proxy = FaultProxy(upstream=lambda: None, plan=lambda n: ConnectionPlan(), on_kill=print)
    await proxy.start()
    with pytest.raises(InvalidMessage):  # closed before the handshake's answer
        await connect(proxy_url(proxy), open_timeout=10)
    await proxy.close()


def _plans(seeds: range, devices: int, connections: int) -> Callable[[], list[ConnectionPlan]]:
    return lambda: [
        connection_plan(s, d, n) for s in seeds for d in range(devices) for n in range(connections)
    ]


def test_a_seed_names_one_schedule_and_one_set_of_fault_plans() -> None:
    assert make_schedule(7, can_kill_db=True) == make_schedule(7, can_kill_db=True)
    assert make_schedule(7, can_kill_db=True) != make_schedule(8, can_kill_db=True)
    plans = _plans(range(1, 4), 4, 6)
    assert plans() == plans()
    assert not any(
        k.target == "db"
        for s in range(1, 50)
        for r in make_schedule(s, can_kill_db=False).rounds
        for k in r.kills
    )


def test_the_default_schedules_draw_every_kind_of_fault() -> None:
    """Seeds 1-2 (what the normal suite runs) plan every fault and both kills."""
    kinds = {f.kind for p in _plans(range(1, 3), 4, 6)() for f in p.faults}
    kinds |= {
        f"kill_{k.target}"
        for s in range(1, 3)
        for r in make_schedule(s, can_kill_db=True).rounds
        for k in r.kills
    }
    assert kinds == set(FAULT_KINDS)
