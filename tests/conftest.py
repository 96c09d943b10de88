"""Shared fixtures: PostgreSQL (real, one fresh schema per test), database URLs for the
storage contract (SQLite and PostgreSQL), and real running servers on 127.0.0.1.

PostgreSQL tests *fail* in CI (``CI`` set) when the database is unreachable; elsewhere they
are skipped and listed at the end of the run, so nobody mistakes them for passes.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Path(__file__).parent / "fixtures" / "catalog.yaml"
PG_URL = os.environ.get("WAYMARK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WAYMARK_TEST_REDIS", "redis://127.0.0.1:6379/0")
_pg_problem: list[str] = []
_redis_problem: list[str] = []
_not_run: list[str] = []


def _probe_pg() -> str | None:
    """None when PostgreSQL answers, else why not (probed once per run)."""
    if not _pg_problem:
        import asyncio

        async def probe() -> None:
            conn = await asyncpg.connect(PG_URL, timeout=5)
            await conn.close()

        try:
            asyncio.run(probe())
            _pg_problem.append("")
        except Exception as err:  # any failure means "not reachable" — say which
            _pg_problem.append(f"{type(err).__name__}: {err}")
    return _pg_problem[0] or None


def require_pg(request: pytest.FixtureRequest) -> None:
    problem = _probe_pg()
    if problem is not None:
        could_not_run(request, f"PostgreSQL not reachable at {PG_URL} ({problem})")


def _probe_redis() -> str | None:
    """None when Redis answers a PING, else why not (probed once per run)."""
    if not _redis_problem:
        import redis  # the synchronous client: fixtures may be asked for inside a loop

        try:
            with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5) as client:
                client.ping()
            _redis_problem.append("")
        except Exception as err:  # any failure means "not reachable" — say which
            _redis_problem.append(f"{type(err).__name__}: {err}")
    return _redis_problem[0] or None


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The machine's Redis (never started, stopped or flushed by tests): fails under CI
    when unreachable, is skipped elsewhere, as PostgreSQL."""
    problem = _probe_redis()
    if problem is not None:
        could_not_run(request, f"Redis not reachable at {REDIS_URL} ({problem})")
    return REDIS_URL


@pytest.fixture
def channel_prefix() -> str:
    """A Redis channel prefix of this test alone: tests running at once never hear each
    other's announcements."""
    return f"waymark-test-{uuid.uuid4().hex[:12]}"


def could_not_run(request: pytest.FixtureRequest, why: str) -> None:
    """This PostgreSQL, Redis or browser test cannot run here: it fails under CI (which
    must run every one), and elsewhere it is skipped and listed at the end of the run."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must run every PostgreSQL, Redis and browser test")
    _not_run.append(f"{request.node.nodeid}: {why}")
    pytest.skip(why)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _not_run:
        terminalreporter.section(
            "tests NOT run: PostgreSQL, Redis or Chromium unavailable", sep="!"
        )
        terminalreporter.write_line(
            f"{len(_not_run)} PostgreSQL, Redis or browser tests could not run:"
        )
        for line in _not_run:
            terminalreporter.write_line(f"  {line}")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg(request)
    import asyncio

    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}search_path={schema}"
    asyncio.run(run(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage contract runs every test on both engines."""
    if request.param == "sqlite":
        return init_db(f"sqlite:///{tmp_path / 'server.db'}")  # as `waymark admin init`
    return str(request.getfixturevalue("pg_url"))


class RunningServer:
    def __init__(self, proc: subprocess.Popen[str], url: str, db: str, lines: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.db = db
        self.ws_url = re.sub(r"^http", "ws", url) + "/v1/sync"  # https -> wss too
        self.output = lines
        # Keep draining the pipe so a chatty server can never block on a full pipe.
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        self._drain.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def waymark(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``waymark`` command line (as ``python -m cli.main``); ``timeout`` only
    guards against a hang."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=timeout,
    )


def init_db(db: str) -> str:
    """Make the SQLite database of ``db`` exist, as ``waymark admin init`` does (the
    command line creates none otherwise), and return ``db``. PostgreSQL: nothing to do."""
    if db.startswith("sqlite:///"):
        path = Path(db.removeprefix("sqlite:///"))
        if not path.exists():
            sqlite3.connect(path).close()  # an empty file is an empty database
    return db


def launch_server(
    db: str, *, catalog: Path | None = CATALOG, port: int = 0, extra: tuple[str, ...] = ()
) -> RunningServer:
    """Start ``waymark serve`` on ``db`` (with ``extra`` options; a SQLite database is
    created first if missing); returns once it prints its address."""
    init_db(db)
    args = [sys.executable, "-m", "cli.main", "serve", "--db", db, "--port", str(port), *extra]
    if catalog is not None:
        args += ["--catalog", str(catalog)]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # blocks until the server speaks; EOF if it died
        lines.append(line)
        found = re.search(r"listening on (https?://\S+)", line)
        if found:
            return RunningServer(proc, found.group(1), db, lines)
    proc.wait()
    proc.stdout.close()
    raise AssertionError(f"server did not start: {''.join(lines)}")


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """A function starting servers that are all stopped at the end of the test."""
    started: list[RunningServer] = []

    def start(
        db: str, *, catalog: Path | None = CATALOG, port: int = 0, extra: tuple[str, ...] = ()
    ) -> RunningServer:
        server = launch_server(db, catalog=catalog, port=port, extra=extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
