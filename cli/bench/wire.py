"""The device side of ``/v1/sync`` as the bench drives it: real WebSockets, the real
protocol (``docs/protocol.md``), MessagePack frames as the device client sends them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from cli.bench.database import Login
from client.connection import ping_interval
from sync.events import Event
from sync.protocol.codec import decode_server, encode
from sync.protocol.messages import Ack, Error, Feed, Hello, HelloAccount, Push, Welcome

UP_TO_DATE = 2**53
"""The hello's cursor: the device already holds the learner's feed (no backlog to send)."""
TIMEOUT = 120.0


class BenchError(Exception):
    """The server did not do what the bench asked (shown as one line)."""


class Device:
    """One signed-in device on its own connection."""

    def __init__(self, ws: ClientConnection, login: Login) -> None:
        self.ws = ws
        self.login = login
        self.device_id = login.device_id
        self._batch = 0

    @classmethod
    async def connect(
        cls, ws_url: str, login: Login, catalog_version: str, clock: str | None = None
    ) -> Device:
        """Sign in on a new connection. ``clock``: the device's clock, sent as a real
        device does (it has pushed everything it recorded, if anything)."""
        # Pings as a device's (the server sends none), but a busy bench must not drop its
        # own links for a late pong: no ping timeout.
        ws = await connect(
            ws_url,
            max_size=None,
            open_timeout=TIMEOUT,
            ping_interval=ping_interval(),
            ping_timeout=None,
        )
        hello = Hello(
            [HelloAccount(login.token, UP_TO_DATE, clock)],
            client="waymark-bench",
            catalog_version=catalog_version,
        )
        await ws.send(encode(hello, binary=True))
        welcome = decode_server(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if not isinstance(welcome, Welcome) or not welcome.accounts:
            await ws.close()
            raise BenchError(f"bench: the server refused a device's hello: {welcome}")
        return cls(ws, login)

    def frame(self, events: Sequence[Event]) -> tuple[int, bytes]:
        self._batch += 1
        data = encode(Push(self._batch, self.device_id, list(events)), binary=True)
        assert isinstance(data, bytes)
        return self._batch, data

    async def push_all(
        self, events: Sequence[Event], batch: int, tick: Callable[[int], None]
    ) -> None:
        """Push ``events`` in batches, one in flight (as the device client does): the next
        batch goes once the last is acked. Every event must be accepted."""
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            number, data = self.frame(chunk)
            await self.ws.send(data)
            ack = await self._ack(number)
            _check(ack, chunk)
            tick(len(chunk))

    async def _ack(self, number: int) -> Ack:
        while True:
            msg = decode_server(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            if isinstance(msg, Error):
                raise BenchError(
                    f"bench: the server answered a push with {msg.code}: {msg.message}"
                )
            if isinstance(msg, Ack) and msg.batch == number:
                return msg

    async def close(self) -> None:
        await self.ws.close()


def _check(ack: Ack, chunk: Sequence[Event]) -> None:
    if ack.acked_seq != chunk[-1].seq or ack.accepted != len(chunk):
        why = f"; rejected: {ack.rejected[0].code} {ack.rejected[0].reason}" if ack.rejected else ""
        raise BenchError(
            f"bench: the server acked seq {ack.acked_seq} ({ack.accepted} accepted) for a push"
            f" of seq {chunk[0].seq}-{chunk[-1].seq}{why}"
        )


@dataclass
class LiveRun:
    """Samples of one live run, in seconds."""

    seconds: float = 0.0
    received: list[float] = field(default_factory=list)
    """Push sent at device A → feed entry received at device B."""
    acked: list[float] = field(default_factory=list)
    """Push sent at device A → ack received at device A (the commit is inside)."""


async def live(
    a: Device, b: Device, events: Sequence[Event], warmup: int, tick: Callable[[int], None]
) -> LiveRun:
    """A pushes one event at a time; each sample waits for A's ack and B's feed entry. The
    first ``warmup`` events are pushed the same way but not counted."""
    loop = asyncio.get_running_loop()
    acks: dict[int, asyncio.Future[float]] = {}
    arrivals: dict[int, asyncio.Future[float]] = {}

    def fail(err: BaseException) -> None:
        for pending in (*acks.values(), *arrivals.values()):
            if not pending.done():
                pending.set_exception(err)

    async def read_a() -> None:
        try:
            async for frame in a.ws:
                msg = decode_server(frame)
                if isinstance(msg, Ack) and msg.batch in acks:
                    if msg.accepted != 1:
                        raise BenchError(f"bench: device A's event was not accepted: {msg}")
                    acks.pop(msg.batch).set_result(time.perf_counter())
                elif isinstance(msg, Error):
                    raise BenchError(f"bench: device A got {msg.code}: {msg.message}")
            raise BenchError("bench: the server closed device A's connection")
        except Exception as err:
            fail(err)

    async def read_b() -> None:
        try:
            async for frame in b.ws:
                msg = decode_server(frame)
                if isinstance(msg, Feed):
                    now = time.perf_counter()
                    for entry in msg.entries:
                        if entry.device_id == a.device_id and entry.seq in arrivals:
                            arrivals.pop(entry.seq).set_result(now)
            raise BenchError("bench: the server closed device B's connection")
        except Exception as err:
            fail(err)

    readers = [asyncio.create_task(read_a()), asyncio.create_task(read_b())]
    run = LiveRun()
    try:
        began = 0.0
        for index, event in enumerate(events):
            if index == warmup:
                began = time.perf_counter()
            number, data = a.frame([event])
            acked, arrived = loop.create_future(), loop.create_future()
            acks[number], arrivals[event.seq] = acked, arrived
            sent = time.perf_counter()
            await a.ws.send(data)
            ack_at, seen_at = await asyncio.wait_for(asyncio.gather(acked, arrived), TIMEOUT)
            if index >= warmup:
                run.acked.append(ack_at - sent)
                run.received.append(seen_at - sent)
                tick(1)
        run.seconds = time.perf_counter() - began
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return run
