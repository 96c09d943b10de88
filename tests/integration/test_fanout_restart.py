"""Fan-out that survives its database: a private PostgreSQL cluster (initdb on a free port,
never the shared server) is stopped and started again under two running instances; live
updates between them resume with no server restart, and ``/v1/ready`` says when they
cannot."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Error, Feed, Hello, HelloAccount, Push
from tests.conftest import RunningServer, could_not_run
from tests.integration.test_spine import add_users, free_port
from tests.integration.wire import event, http, login, open_session, recv, until

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class Cluster:
    """``initdb`` + ``pg_ctl`` in a temporary folder (as the ``postgres`` user when the
    tests run as root, which PostgreSQL refuses to run as)."""

    def __init__(self, root: Path) -> None:
        assert BIN is not None
        self.dir = root / "pg"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(BIN / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres")

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir.parent / "server.log")  # else the server holds our pipes open
        self._run(str(BIN / "pg_ctl"), "-D", str(self.dir), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(str(BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if BIN is None:
        could_not_run(request, "no PostgreSQL server binaries (initdb, pg_ctl) here")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        could_not_run(request, "running as root without runuser: PostgreSQL refuses root")
    # Not under pytest's temporary folder: the postgres user cannot enter root's.
    root = Path(tempfile.mkdtemp(prefix="waymark-pg-"))
    try:
        cluster = Cluster(root)
        cluster.start()
        yield cluster
        subprocess.run(
            [*cluster._as, str(BIN / "pg_ctl"), "-D", str(cluster.dir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def ready_becomes(server: RunningServer, status: int) -> None:
    """Wait (up to 120 s, however slow each ask is) until ``/v1/ready`` answers ``status``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while True:
        code, _body = await asyncio.to_thread(http, "GET", f"{server.url}/v1/ready")
        if code == status:
            return
        if loop.time() > deadline:
            raise AssertionError(f"/v1/ready never answered {status}")
        await asyncio.sleep(0.05)  # between two asks, not a wait for the outcome


async def refused_for_now(ws: ClientConnection) -> None:
    while not isinstance(msg := await recv(ws, timeout=30), Error):
        pass
    assert msg.code == "store_unavailable", msg
    with pytest.raises(ConnectionClosed) as closed:
        await recv(ws, timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_live_updates_resume_after_postgresql_restarts(
    cluster: Cluster, start_server: Callable[..., RunningServer]
) -> None:
    add_users(cluster.url, "ann")
    one = start_server(cluster.url)
    two = start_server(cluster.url, catalog=None)
    a_login, b_login = login(one.url, "ann", device="a"), login(two.url, "ann", device="b")
    ws_a, _ = await open_session(one.ws_url, a_login["token"])
    ws_b, _ = await open_session(two.ws_url, b_login["token"])
    device_a = a_login["device_id"]

    async def push_and_see(seq: int) -> None:
        await ws_a.send(encode(Push(seq, device_a, [event(seq)]), binary=True))
        ack = await until(ws_a, Ack, timeout=30)
        assert ack.acked_seq == seq and ack.accepted == 1
        while True:  # B, on the other instance, gets A's event
            msg = await recv(ws_b, timeout=10)
            if isinstance(msg, Feed) and any(e.seq == seq for e in msg.entries):
                return

    await push_and_see(1)
    cluster.stop()
    await ready_becomes(one, 503)
    await ready_becomes(two, 503)
    # While the store is down: a push, and a new connection's hello, are told to come back
    # later (store_unavailable, close 1013), not 1011 with a traceback.
    await ws_a.send(encode(Push(2, device_a, [event(2)]), binary=True))
    await refused_for_now(ws_a)
    fresh = await connect(one.ws_url)
    await fresh.send(encode(Hello([HelloAccount(a_login["token"])]), binary=True))
    await refused_for_now(fresh)
    cluster.start()
    await ready_becomes(one, 200)  # the store answers and the fan-out listens again
    await ready_becomes(two, 200)
    ws_a, welcome = await open_session(one.ws_url, a_login["token"])
    assert welcome.accounts[0].acked_seq == 1  # the refused push was not applied
    await push_and_see(2)
    await push_and_see(3)
    await ws_a.close()
    await ws_b.close()
    for server in (one, two):
        assert server.stop() == 0
        assert "Traceback" not in "".join(server.output)
