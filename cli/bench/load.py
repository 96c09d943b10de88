"""Background load for the ``live`` scenario, in its own process (:func:`main`)
so the measuring process's event loop stays quiet.

It logs in idle devices (connected, silent) and active devices, each pushing one event
per ``interval`` seconds and waiting for its ack, evenly spread over the interval. The
parent sends one JSON line of configuration on stdin, then ``mark`` (start counting) and
``stop``; the child prints ``connected N`` while it connects, ``ready N FAILED`` once
everything is up and ``done {json}`` at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from websockets.exceptions import WebSocketException

from cli.bench.child import ChildProcess
from cli.bench.database import Login
from cli.bench.wire import TIMEOUT, BenchError, Device
from cli.bench.workload import event_stream
from sync.protocol.codec import decode_server
from sync.protocol.messages import Ack, Error, Feed

PARALLEL_CONNECTS = 50
"""Connections opened at once: the server listens with a backlog of 256."""


@dataclass
class _Stats:
    connected: int = 0
    failed: int = 0
    first_error: str = ""
    acked: int = 0
    received: int = 0
    errors: int = 0
    marked_at: float = 0.0
    marked_acked: int = 0
    latencies: list[float] = field(default_factory=list)

    def error(self, err: BaseException) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(err).__name__}: {err}"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def _pusher(device: Device, index: int, count: int, interval: float, stats: _Stats) -> None:
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Future[Ack]] = {}

    async def read() -> None:
        try:
            async for frame in device.ws:
                msg = decode_server(frame)
                if isinstance(msg, Ack) and msg.batch in pending:
                    pending.pop(msg.batch).set_result(msg)
                elif isinstance(msg, Feed):
                    stats.received += len(msg.entries)
                elif isinstance(msg, Error):
                    raise BenchError(f"{msg.code}: {msg.message}")
            raise BenchError("the server closed the connection")
        except Exception as err:
            for future in pending.values():
                if not future.done():
                    future.set_exception(err)
            pending.clear()

    reader = asyncio.create_task(read())
    stream = event_stream(now=_wall_ms)
    due = loop.time() + interval * index / count
    try:
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            number, data = device.frame([next(stream)])
            acked = pending[number] = loop.create_future()
            sent = loop.time()
            await device.ws.send(data)
            await asyncio.wait_for(acked, TIMEOUT)
            stats.acked += 1
            if stats.marked_at:
                stats.latencies.append(loop.time() - sent)
            # A device that fell behind does not burst to catch up.
            due = max(due + interval, loop.time())
    except Exception as err:
        stats.error(err)
    finally:
        reader.cancel()


async def _run(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stats = _Stats()
    limit = asyncio.Semaphore(PARALLEL_CONNECTS)

    async def open_one(login: Login) -> Device | None:
        async with limit:
            try:
                device = await Device.connect(config["ws_url"], login, config["catalog_version"])
            except (OSError, WebSocketException, TimeoutError, BenchError) as err:
                stats.failed += 1
                stats.first_error = stats.first_error or f"{type(err).__name__}: {err}"
                return None
            stats.connected += 1
            if stats.connected % PARALLEL_CONNECTS == 0:
                _say(f"connected {stats.connected}")
            return device

    idle = await asyncio.gather(*(open_one(Login(**x)) for x in config["idle"]))
    active = [
        d for d in await asyncio.gather(*(open_one(Login(**x)) for x in config["active"])) if d
    ]
    _say(f"ready {stats.connected} {stats.failed}")
    interval = float(config["interval"])
    pushers = [
        asyncio.create_task(_pusher(d, i, len(active), interval, stats))
        for i, d in enumerate(active)
    ]
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "mark":
            stats.marked_at, stats.marked_acked = loop.time(), stats.acked
            stats.latencies.clear()
        else:
            break
    seconds = loop.time() - (stats.marked_at or loop.time())
    events = stats.acked - stats.marked_acked
    lat = sorted(stats.latencies)
    report = {
        "connections": stats.connected,
        "idle": sum(1 for d in idle if d),
        "active_devices": len(active),
        "failed_connections": stats.failed,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds > 0 else 0.0,
        "ack_p50_ms": statistics.median(lat) * 1000 if lat else None,
        "ack_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None,
        "errors": stats.errors,
        "first_error": stats.first_error,
    }
    _say("done " + json.dumps(report))
    for task in pushers:
        task.cancel()
    # Dropping ~1,000 sockets at exit is the same to the server as closing them, and fast.
    os._exit(0)


class LoadProcess(ChildProcess):
    """The parent's handle on the load process."""

    def __init__(
        self,
        ws_url: str,
        catalog_version: str,
        active: list[Login],
        idle: list[Login],
        interval: float,
        tick: Callable[[int], None],
    ) -> None:
        super().__init__("from cli.bench.load import main; main()", "load process")
        config = {
            "ws_url": ws_url,
            "catalog_version": catalog_version,
            "active": [asdict(x) for x in active],
            "idle": [asdict(x) for x in idle],
            "interval": interval,
        }
        self._send(json.dumps(config))
        seen = 0
        while True:
            line = self._line()
            if line.startswith("connected "):
                count = int(line.split()[1])
                tick(count - seen)
                seen = count
            elif line.startswith("ready "):
                self.connected, self.failed = map(int, line.split()[1:3])
                tick(self.connected + self.failed - seen)
                return

    def mark(self) -> None:
        self._send("mark")

    def stop(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self._report())
        return report


def main() -> None:
    """The child's entry point (run with ``-c``: ``-m`` would import this module twice)."""
    asyncio.run(_run(json.loads(sys.stdin.readline())))
