"""What the fault schedules found when the postmaster is killed (seed 6 on ``pg-crash``):
a pooled connection that read the FATAL of its dying backend is left mid-protocol, and
its next query raised asyncpg's ``InternalClientError``; the hello answered 1011 with a
traceback instead of ``store_unavailable``/1013 (docs/protocol.md, issue 10 item 3)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import StoreUnavailable
from server.storage.engine import PostgresEngine
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
    except FileNotFoundError:
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
