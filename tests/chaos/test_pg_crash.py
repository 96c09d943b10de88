"""What the fault schedules found when the postmaster is killed. Seed 6 on ``pg-crash``:
a pooled connection that read the FATAL of its dying backend is left mid-protocol, and
its next query raised asyncpg's ``InternalClientError``; the hello answered 1011 with a
traceback instead of ``store_unavailable``/1013 (docs/protocol.md, issue 10 item 3). Seed
38: the hub's read of an announced commit met the dead database and logged a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import StoreUnavailable
from server.fanout import Hub
from server.storage.engine import PostgresEngine
from sync.protocol.messages import FeedEntry
from tests.chaos.harness import CrashableCluster
from tests.conftest import could_not_run
from tests.integration.test_fanout_restart import BIN


@pytest.fixture
def crash_cluster(request: pytest.FixtureRequest) -> Iterator[CrashableCluster]:
    if BIN is None:
        could_not_run(request, "no PostgreSQL server binaries (postgres, initdb) here")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        could_not_run(request, "running as root without runuser: PostgreSQL refuses root")
    root = Path(tempfile.mkdtemp(prefix="waymark-chaos-pg-"))  # the postgres user enters it
    try:
        cluster = CrashableCluster(root)
        cluster.start()
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):  # reaped (ESRCH: while being reaped)
        return True


def _hold_the_loop_until_gone(pids: set[int]) -> None:
    """Block (the event loop too, on purpose) until every process in ``pids`` exited."""
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, "the backends outlived their postmaster"
        time.sleep(0.01)


async def test_a_query_on_a_connection_whose_backend_died_with_its_postmaster_is_unavailable(
    crash_cluster: CrashableCluster,
) -> None:
    """Deterministic: the loop is held (a blocking wait, on purpose) until every backend
    has exited, so each pooled connection's FATAL and its end of file wait together in the
    socket buffer; one loop turn reads the FATALs (asyncpg: mid-protocol), and the queries
    run before the turn that reads the ends of file."""
    engine = PostgresEngine(crash_cluster.url)
    await engine.open()
    try:
        rows = await asyncio.gather(
            *(engine.fetch("SELECT pg_backend_pid() FROM pg_sleep(0.05)") for _ in range(10))
        )
        pids = {int(r[0][0]) for r in rows}
        crash_cluster.kill()
        _hold_the_loop_until_gone(pids)
        await asyncio.sleep(0)
        results = await asyncio.gather(
            *(engine.fetch("SELECT 1") for _ in range(10)), return_exceptions=True
        )
        unexpected = [r for r in results if not isinstance(r, StoreUnavailable)]
        assert unexpected == []
        crash_cluster.wait_gone()
    finally:
        await engine.close()


class _GoneStore:
    """A store whose database has just gone away (all the hub reads is the feed)."""

    async def feed_after(self, user_id: str, cursor: int, limit: int) -> list[FeedEntry]:
        raise StoreUnavailable("PostgreSQL is unavailable: connection refused")


class _Follower:
    def __init__(self) -> None:
        self.offers: list[tuple[str, list[FeedEntry] | None]] = []
        self.offered = asyncio.Event()

    def position(self, user_id: str) -> int:
        return 0

    def offer(self, user_id: str, entries: list[FeedEntry] | None) -> None:
        self.offers.append((user_id, entries))
        self.offered.set()


async def test_a_fan_out_read_while_the_database_is_gone_is_a_warning_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seed 38 on ``pg-crash``: the hub's read of a commit announced just before the
    postmaster died logged the StoreUnavailable with its traceback."""
    hub = Hub(_GoneStore())  # type: ignore[arg-type]
    follower = _Follower()
    hub.follow(follower, ["u1"])
    with caplog.at_level(logging.WARNING, logger="waymark.fanout"):
        hub.heard("u1", 5)  # another instance committed up to 5: read it for the follower
        await asyncio.wait_for(follower.offered.wait(), 30)
    assert follower.offers == [("u1", None)]  # told to read for itself: late, not lost
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("WARNING", "fan-out read failed: PostgreSQL is unavailable: connection refused", None)
    ]
