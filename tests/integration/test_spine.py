"""End to end through real servers, real journals and the real ``waymark`` command:
offline recording, sync, live follow across devices and server instances, idempotence,
isolation of revoked devices, and clean stops."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client.api import Device
from client.connection import Backoff, Change
from sync.hlc import format_hlc
from tests.conftest import ROOT, RunningServer, init_db, waymark

T0 = 1_763_790_000_000


class Clock:
    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1000
        return self.now


def add_users(db: str, *names: str) -> None:
    init_db(db)
    for name in names:
        result = waymark("admin", "--db", db, "user", "add", name, "--password", "pw")
        assert result.returncode == 0, result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lesson(status: dict[str, Any], course: str, lesson_id: str) -> dict[str, Any]:
    for c in status["courses"]:
        if c["id"] == course:
            for m in c["modules"]:
                for x in m["lessons"]:
                    if x["id"] == lesson_id:
                        return x  # type: ignore[no-any-return]
    raise KeyError(lesson_id)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return init_db(f"sqlite:///{tmp_path / 'server.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return init_db(f"sqlite:///{tmp_path / 'server.db'}")
    return str(request.getfixturevalue("pg_url"))


async def device(
    home: Path, server: RunningServer, name: str, clock: Clock | None = None
) -> Device:
    dev = Device(home, clock=clock or Clock(), timezone="Europe/Paris")
    await dev.__aenter__()
    await dev.login(server.url, name, "pw", home.name)
    return dev


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
async def test_concurrent_offline_edits_from_two_devices_lose_nothing(
    start_server: Callable[..., RunningServer],
    sqlite_db: str,
    tmp_path: Path,
    order: tuple[int, int],
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    a = await device(tmp_path / "a", server, "ann")
    b = await device(tmp_path / "b", server, "ann", Clock(T0 + 5000))
    body = {"course": "c1", "lesson": "read"}
    await a.record("lesson.progressed", body | {"seconds": 100})
    await a.record("lesson.completed", body)
    await b.record("lesson.progressed", body | {"seconds": 50})
    pair = [a, b]
    for i in order + order:
        await pair[i].sync_once()
    for dev in pair:
        seen = lesson(await dev.status(), "c1", "read")
        assert (seen["status"], seen["seconds"]) == ("completed", 150)
        await dev.__aexit__()


async def test_an_uncomplete_later_by_hlc_wins_everywhere_and_an_earlier_one_loses(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    a = await device(tmp_path / "a", server, "ann", Clock(T0))
    b = await device(tmp_path / "b", server, "ann", Clock(T0 + 60_000))  # B's clock is later
    read = {"course": "c1", "lesson": "read"}
    other = {"course": "c2", "lesson": "a"}
    await a.record("lesson.completed", read)  # T0 + 1 s
    await b.record("lesson.uncompleted", read)  # T0 + 61 s: later by HLC, wins
    await b.record("lesson.uncompleted", other)  # T0 + 62 s
    assert isinstance(a.clock, Clock)
    a.clock.now = T0 + 600_000
    await a.record("lesson.completed", other)  # later by HLC than B's uncomplete: it loses
    for dev in (b, a, b):
        await dev.sync_once()
    for dev in (a, b):
        status = await dev.status()
        assert lesson(status, "c1", "read")["status"] == "in_progress"
        assert lesson(status, "c2", "a")["status"] == "completed"
        await dev.__aexit__()


async def test_an_idle_device_s_sync_releases_the_learner_s_settled_horizon(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    """A device that has recorded nothing says its clock in the hello: the server raises
    its mark, so it no longer holds the learner's horizon at zero (protocol.md, hello)."""
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    a = await device(tmp_path / "a", server, "ann", Clock(T0))
    b = await device(tmp_path / "b", server, "ann", Clock(T0 + 60_000))
    await a.record("lesson.progressed", {"course": "c1", "lesson": "read", "seconds": 30})
    await a.sync_once()
    db = sqlite_db.removeprefix("sqlite:///")

    def marks() -> list[str]:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT mark FROM devices WHERE name != 'REST API'")
            return sorted(str(r[0]) for r in rows)

    assert marks()[0] == "0000000000000-0000"  # B has said nothing yet
    await b.sync_once()
    with sqlite3.connect(tmp_path / "b" / "journal.db") as conn:
        (clock,) = conn.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()
    # The hello's tick: above B's start, at most B's clock now (the feed moved it on since).
    assert format_hlc(T0 + 60_000, 0) < marks()[1] <= clock
    for dev in (a, b):
        await dev.__aexit__()


async def test_a_journal_restored_from_a_backup_and_synced_again_changes_no_number(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    home = tmp_path / "a"
    a = await device(home, server, "ann")
    await a.record("lesson.progressed", {"course": "c1", "lesson": "lab", "seconds": 90})
    await a.record(
        "lesson.progressed",
        {"course": "c1", "lesson": "video", "seconds": 30, "from": 0, "to": 100},
    )
    await a.__aexit__()
    shutil.copytree(home, tmp_path / "backup")
    await a.__aenter__()
    await a.sync_once()
    await a.record("lesson.progressed", {"course": "c1", "lesson": "lab", "seconds": 40})
    await a.sync_once()
    before = await a.status()
    await a.__aexit__()
    shutil.rmtree(home)
    shutil.copytree(tmp_path / "backup", home)  # the old journal: two events "pending" again
    async with Device(home, clock=Clock(T0 + 10**6), timezone="UTC") as restored:
        await restored.sync_once()
        after = await restored.status()
    assert after["courses"] == before["courses"]
    assert lesson(after, "c1", "lab") | {} == lesson(before, "c1", "lab")
    assert (
        lesson(after, "c1", "lab")["seconds"] == 130
        and lesson(after, "c1", "lab")["status"] == "completed"
    )


async def _follow_until(
    dev: Device, stop: asyncio.Event, seen: list[Change], arrived: asyncio.Event
) -> None:
    def on_change(change: Change) -> None:
        if change.entry.origin == "device":  # not the server's awards that come with it
            seen.append(change)
            arrived.set()

    await dev.follow(on_change, stop=stop, backoff=Backoff(base=0.05, cap=0.2))


async def _live(a: Device, b: Device) -> None:
    """B follows; a change recorded and synced on A shows up on B over B's open connection
    (B never polls: without the live push it would never come). How fast is ``waymark
    bench --scenario live``'s figure (target: within a second), not a test's: a deadline of
    one second failed on a busy machine."""
    stop, arrived = asyncio.Event(), asyncio.Event()
    seen: list[Change] = []
    task = asyncio.create_task(_follow_until(b, stop, seen, arrived))
    # Warm-up: B is connected once it has seen A's first change (however long that takes).
    await a.record("lesson.opened", {"course": "c1", "lesson": "intro"})
    await a.sync_once()
    await asyncio.wait_for(arrived.wait(), 30)
    arrived.clear()
    await a.record("lesson.completed", {"course": "c1", "lesson": "read"})
    await a.sync_once()
    await asyncio.wait_for(arrived.wait(), 30)
    assert seen[-1].entry.type == "lesson.completed"
    assert lesson(await b.status(), "c1", "read")["status"] == "completed"
    stop.set()
    await task


async def test_follow_shows_another_devices_change_live(
    start_server: Callable[..., RunningServer], any_db: str, tmp_path: Path
) -> None:
    add_users(any_db, "ann")
    server = start_server(any_db)
    a = await device(tmp_path / "a", server, "ann")
    b = await device(tmp_path / "b", server, "ann")
    await _live(a, b)
    await a.__aexit__()
    await b.__aexit__()


@pytest.mark.parametrize("fanout", ["postgresql", "redis"])
async def test_follow_is_live_across_two_server_instances_sharing_postgresql(
    start_server: Callable[..., RunningServer],
    pg_url: str,
    tmp_path: Path,
    fanout: str,
    request: pytest.FixtureRequest,
) -> None:
    """Live across instances on either fan-out: PostgreSQL LISTEN/NOTIFY, or Redis."""
    extra: tuple[str, ...] = ()
    if fanout == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("channel_prefix")
        extra = ("--fanout", redis_url, "--fanout-channel-prefix", prefix)
    add_users(pg_url, "ann")
    one = start_server(pg_url, extra=extra)
    two = start_server(pg_url, catalog=None, extra=extra)
    a = await device(tmp_path / "a", one, "ann")
    b = await device(tmp_path / "b", two, "ann")
    await _live(a, b)
    await a.__aexit__()
    await b.__aexit__()


def _cli(home: Path, *args: str) -> Any:
    return waymark(*args, env={"WAYMARK_HOME": str(home)})


async def test_the_command_line_records_offline_then_syncs_when_the_server_returns(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path / "kiosk"
    down = _cli(home, "login", url, "ann", "--password", "pw")
    assert down.returncode != 0 and len(down.stderr.strip().splitlines()) == 1
    up = start_server(sqlite_db, port=port)
    assert (
        _cli(home, "login", url, "ann", "--password", "pw", "--device-name", "kiosk").returncode
        == 0
    )
    assert up.stop() == 0
    for args in (
        ("lesson.opened", "course=c1", "lesson=video"),
        ("lesson.progressed", "course=c1", "lesson=video", "seconds=60", "from=0", "to=190"),
    ):
        assert _cli(home, "record", *args).returncode == 0  # offline
    offline = _cli(home, "sync", "--once")
    assert offline.returncode != 0 and len(offline.stderr.strip().splitlines()) == 1
    status = json.loads(_cli(home, "status", "--json").stdout)
    # Offline, the device already shows what the server will compute from the same facts.
    assert status["pending"] == 2 and lesson(status, "c1", "video")["status"] == "completed"
    start_server(sqlite_db, catalog=None, port=port)
    assert _cli(home, "sync", "--once").returncode == 0
    status = json.loads(_cli(home, "status", "--json").stdout)
    assert status["pending"] == 0 and status["synced_at"] is not None
    video = lesson(status, "c1", "video")
    assert (video["status"], video["seconds"], video["watched_percent"]) == ("completed", 60, 95.0)


async def test_sync_follow_on_the_command_line_prints_other_devices_changes(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    home = tmp_path / "b"
    assert _cli(home, "login", server.url, "ann", "--password", "pw").returncode == 0
    a = await device(tmp_path / "a", server, "ann")
    follower = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "sync",
        "--follow",
        cwd=ROOT,
        env={"WAYMARK_HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert follower.stdout is not None
    try:
        await a.record("lesson.opened", {"course": "c1", "lesson": "intro"})
        await a.sync_once()
        line = (await asyncio.wait_for(follower.stdout.readline(), 30)).decode()
        assert "lesson.opened" in line and "intro" in line
    finally:
        follower.terminate()
        await follower.wait()
        await a.__aexit__()


async def test_a_revoked_device_cannot_sync_and_is_told_why(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    home = tmp_path / "stolen"
    assert _cli(home, "login", server.url, "ann", "--password", "pw").returncode == 0
    device_id = json.loads(await _accounts(home))[0]
    assert waymark("admin", "--db", sqlite_db, "revoke", device_id).returncode == 0
    result = _cli(home, "sync", "--once")
    assert result.returncode != 0
    assert "revoked" in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def _accounts(home: Path) -> str:
    async with Device(home) as dev:
        return json.dumps([a.device_id for a in await dev.accounts()])


async def test_a_stopped_server_closes_cleanly_and_keeps_what_it_acked(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    port = free_port()
    server = start_server(sqlite_db, port=port)
    a = await device(tmp_path / "a", server, "ann")
    b = await device(tmp_path / "b", server, "ann")
    stop, arrived = asyncio.Event(), asyncio.Event()
    seen: list[Change] = []
    task = asyncio.create_task(_follow_until(b, stop, seen, arrived))
    await a.record("lesson.completed", {"course": "c1", "lesson": "read"})
    await a.sync_once()
    await asyncio.wait_for(arrived.wait(), 30)
    assert server.stop() == 0  # SIGTERM: clean stop, exit status 0
    assert "Waymark stopped" in "".join(server.output)
    arrived.clear()
    again = start_server(sqlite_db, catalog=None, port=port)
    await a.record("lesson.completed", {"course": "c1", "lesson": "intro"})
    await a.sync_once()  # the follower reconnects by itself and sees it
    await asyncio.wait_for(arrived.wait(), 30)
    assert seen[-1].entry.body["lesson"] == "intro"
    stop.set()
    await task
    from tests.integration.wire import http

    _, progress = http("GET", f"{again.url}/v1/me/progress", token=(await a.accounts())[0].token)
    statuses = {x["id"]: x["status"] for x in progress["courses"][0]["modules"][0]["lessons"]}
    assert statuses == {"read": "completed", "intro": "completed"}
    await a.__aexit__()
    await b.__aexit__()


async def test_a_crashed_server_loses_nothing_it_acked(
    start_server: Callable[..., RunningServer], any_db: str, tmp_path: Path
) -> None:
    add_users(any_db, "ann")
    port = free_port()
    server = start_server(any_db, port=port)
    a = await device(tmp_path / "a", server, "ann")
    for seconds in (30, 40, 50):
        await a.record("lesson.progressed", {"course": "c1", "lesson": "lab", "seconds": seconds})
    await a.sync_once()  # acked
    server.proc.kill()  # SIGKILL: no shutdown, no flush
    server.proc.wait()
    again = start_server(any_db, catalog=None, port=port)
    from tests.integration.wire import http

    token = (await a.accounts())[0].token
    _, progress = http("GET", f"{again.url}/v1/me/progress", token=token)
    lab = progress["courses"][0]["modules"][1]["lessons"][1]
    assert (lab["id"], lab["seconds"], lab["status"]) == ("lab", 120, "completed")
    await a.sync_once()  # and the device has nothing to resend
    assert (await a.status())["pending"] == 0
    await a.__aexit__()


async def test_logging_in_again_pushes_pending_events_under_their_old_identity_first(
    start_server: Callable[..., RunningServer], sqlite_db: str, tmp_path: Path
) -> None:
    add_users(sqlite_db, "ann")
    server = start_server(sqlite_db)
    a = await device(tmp_path / "a", server, "ann")
    first = (await a.accounts())[0]
    await a.record("lesson.progressed", {"course": "c1", "lesson": "lab", "seconds": 70})
    await a.record("lesson.progressed", {"course": "c1", "lesson": "lab", "seconds": 60})
    await a.login(server.url, "ann", "pw", "again")
    assert (await a.status())["pending"] == 0
    listing = waymark("admin", "--db", sqlite_db, "devices", "ann").stdout
    assert f"{first.device_id}  'a'  active  acked_seq=2" in listing
    await a.sync_once()
    assert lesson(await a.status(), "c1", "lab")["seconds"] == 130
    await a.__aexit__()


async def test_devices_recover_when_the_server_is_restored_from_a_backup(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    db_file = tmp_path / "server.db"
    db = init_db(f"sqlite:///{db_file}")
    add_users(db, "ann")
    port = free_port()
    server = start_server(db, port=port)
    a = await device(tmp_path / "a", server, "ann")
    b = await device(tmp_path / "b", server, "ann")
    lab = {"course": "c1", "lesson": "lab"}
    await a.record("lesson.progressed", lab | {"seconds": 10})
    await a.sync_once()
    server.stop()
    shutil.copy(db_file, tmp_path / "backup.db")  # a clean stop leaves no WAL behind
    server = start_server(db, catalog=None, port=port)
    await a.record("lesson.progressed", lab | {"seconds": 20})
    await a.record("lesson.progressed", lab | {"seconds": 40})
    await a.sync_once()  # A now holds feed entries 1..3
    server.stop()
    shutil.copy(
        tmp_path / "backup.db", db_file
    )  # no -wal/-shm: the clean stop removed them  # the server loses entries 2..3
    start_server(db, catalog=None, port=port)
    await b.record("lesson.progressed", lab | {"seconds": 100})
    await b.sync_once()  # B's event takes user_seq 2 in the restored feed
    await a.sync_once()  # A resends what the server lost and re-reads the feed
    await b.sync_once()
    for dev in (a, b):
        assert lesson(await dev.status(), "c1", "lab")["seconds"] == 170
        await dev.__aexit__()
