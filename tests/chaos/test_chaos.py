"""Fault schedules (docs/testing.md, "Fault schedules"): real devices sync with a real
server through a proxy that drops, duplicates, delays and cuts WebSocket frames, while the
server, and in one variant its PostgreSQL cluster, are killed with SIGKILL at frames the
schedule picks. After each schedule nothing a device saw acked is lost or counted twice,
and every device shows the server's numbers.

``WAYMARK_CHAOS_SCHEDULES=N`` runs seeds 1..N on each variant (default 2), or from
``WAYMARK_CHAOS_FIRST`` on (to resume a long run);
``WAYMARK_CHAOS_SEED=S`` runs seed S only (a failure prints its seed);
``WAYMARK_CHAOS_LOG=FILE`` appends one line per schedule and the totals to FILE.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.chaos.harness import Backend, ChaosFailure, CrashableCluster, Totals, run_schedule
from tests.chaos.schedule import make_schedule
from tests.conftest import PG_URL, could_not_run, init_db, require_pg
from tests.integration.test_fanout_restart import BIN

SCHEDULES = int(os.environ.get("WAYMARK_CHAOS_SCHEDULES", "2"))
FIRST = int(os.environ.get("WAYMARK_CHAOS_FIRST", "1"))
ONE_SEED = os.environ.get("WAYMARK_CHAOS_SEED", "")
SEEDS = [int(ONE_SEED)] if ONE_SEED else list(range(FIRST, FIRST + SCHEDULES))
LOG = os.environ.get("WAYMARK_CHAOS_LOG", "")


def _log(line: str) -> None:
    if LOG:
        with open(LOG, "a") as out:
            out.write(line + "\n")


async def _sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "pg-crash"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Backend, Totals]]:
    """One server per variant, shared by its schedules (each has learners of its own):
    SQLite; PostgreSQL (a fresh schema on the shared server, which is never killed); and
    a private PostgreSQL cluster whose postmaster the schedules kill."""
    kind = request.param
    cleanup = []
    cluster = None
    if kind == "sqlite":
        db = init_db(f"sqlite:///{tmp_path_factory.mktemp('chaos') / 'server.db'}")
    elif kind == "postgresql":
        require_pg(request)
        schema = f"chaos_{uuid.uuid4().hex[:12]}"
        asyncio.run(_sql(PG_URL, f"CREATE SCHEMA {schema}"))
        cleanup.append(lambda: asyncio.run(_sql(PG_URL, f"DROP SCHEMA {schema} CASCADE")))
        sep = "&" if "?" in PG_URL else "?"
        db = f"{PG_URL}{sep}search_path={schema}"
    else:
        if BIN is None:
            could_not_run(request, "no PostgreSQL server binaries (postgres, initdb) here")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            could_not_run(request, "running as root without runuser: PostgreSQL refuses root")
        # Not under pytest's temporary folder: the postgres user cannot enter root's.
        root = Path(tempfile.mkdtemp(prefix="waymark-chaos-pg-"))
        cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
        cluster = CrashableCluster(root)
        cluster.start()
        cleanup.append(cluster.stop)
        db = cluster.url
    server = Backend(kind, db, cluster)
    totals = Totals()
    try:
        server.start()
        yield server, totals
    finally:
        server.close()
        summary = f"chaos {kind}: {totals.line()}; server tracebacks {server.tracebacks}"
        for failure in totals.failures:
            summary += f"\n  {failure}"
        _log(summary)
        print(f"\n{summary}")
        for step in reversed(cleanup):
            step()


@pytest.mark.parametrize("seed", SEEDS)
async def test_fault_schedule_loses_nothing_and_counts_nothing_twice(
    backend: tuple[Backend, Totals], seed: int, tmp_path: Path
) -> None:
    server, totals = backend
    schedule = make_schedule(seed, can_kill_db=server.can_kill_db)
    before = (totals.recorded, totals.checked)
    started = time.monotonic()
    try:
        await run_schedule(server, schedule, tmp_path, totals)
    except ChaosFailure as failure:
        replay = (
            f"WAYMARK_CHAOS_SEED={seed} .venv/bin/python -m pytest tests/chaos -k {server.kind}"
        )
        totals.failures.append(f"seed {seed}: {failure} (replay: {replay})")
        _log(f"FAILED {server.kind} {schedule.describe()}: {failure}\n{failure.traces}")
        pytest.fail(
            f"{failure}\n{schedule.describe()}\nreplay: {replay}\n"
            f"last messages through the proxies:\n{failure.traces}",
            pytrace=False,
        )
    _log(
        f"ok {server.kind} {schedule.describe()}; events {totals.recorded - before[0]}, "
        f"acked-event checks {totals.checked - before[1]}; {time.monotonic() - started:.1f} s"
    )
    shutil.rmtree(tmp_path, ignore_errors=True)  # thousands of journals otherwise
