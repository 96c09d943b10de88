"""Token expiry, refresh and logout against a real ``waymark serve``, over REST and the
WebSocket, on both engines. A token is made old by moving its issue time back in the
server's database (as if its lifetime had passed): the server reads it at every check,
so no test waits for a clock. Per-device push and connection limits over the socket."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from client.api import Device
from client.errors import DeviceRevoked
from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Error, Feed, Hello, HelloAccount, Push
from tests.conftest import RunningServer, init_db, waymark
from tests.integration.test_spine import add_users
from tests.integration.wire import event, http, login, open_session, recv, until

DAY_MS = 86_400_000


def limits(folder: Path, **settings: int) -> tuple[str, ...]:
    """``waymark serve`` options for a config file holding ``settings``."""
    path = folder / "waymark.toml"
    path.write_text("".join(f"{name} = {value}\n" for name, value in settings.items()))
    return ("--config", str(path))


async def age_tokens(db: str, days: int) -> None:
    """Move every access token's issue time ``days`` back, in the server's database."""
    sql = "UPDATE device_tokens SET issued_at = issued_at - $1"
    if db.startswith("sqlite"):
        import aiosqlite

        async with aiosqlite.connect(db.removeprefix("sqlite:///")) as conn:
            await conn.execute(sql.replace("$1", "?"), (days * DAY_MS,))
            await conn.commit()
        return
    base, _, query = db.partition("?")
    schema = query.partition("search_path=")[2]
    conn = await asyncpg.connect(base, server_settings={"search_path": schema})
    try:
        await conn.execute(sql, days * DAY_MS)
    finally:
        await conn.close()


async def refused_at_hello(server: RunningServer, token: str) -> tuple[Error, int | None]:
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount(token)]), binary=True))
        error = await recv(ws)
        assert isinstance(error, Error), error
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    rcvd = closed.value.rcvd
    return error, rcvd.code if rcvd else None


async def test_an_expired_token_is_refused_at_hello_and_the_device_refreshes_and_syncs(
    db_url: str, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "ann")
    server = start_server(db_url, extra=("--token-lifetime-days", "30"))
    async with Device(tmp_path / "laptop", timezone="UTC") as laptop:
        await laptop.login(server.url, "ann", "pw", "laptop")
        await laptop.record("lesson.opened", {"course": "c1", "lesson": "read"})
        before = (await laptop.accounts())[0]
        await age_tokens(db_url, 30)
        error, close = await refused_at_hello(server, before.token)
        assert (error.code, error.message, close) == (
            "token_expired",
            "token expired: refresh it",
            4440,
        )
        status, problem = http("GET", f"{server.url}/v1/me/progress", token=before.token)
        assert status == 401 and problem["detail"] == "token expired: refresh it"

        report = await laptop.sync_once()  # refused, renewed, synced on a second connection
        assert report.pushed == 1 and report.refused == []
        after = (await laptop.accounts())[0]
        assert after.token != before.token and after.refresh_token != before.refresh_token
        assert (await laptop.status())["pending"] == 0
        # REST refreshes too: the next expiry is renewed by the leaderboard call itself.
        await age_tokens(db_url, 30)
        assert "rows" in await laptop.leaderboard()
        assert (await laptop.accounts())[0].token != after.token
        # The old refresh token again: the theft signal, and the device is revoked.
        status, problem = http(
            "POST", f"{server.url}/v1/auth/refresh", {"refresh_token": before.refresh_token}
        )
        assert status == 403, problem
        with pytest.raises(DeviceRevoked):
            await laptop.sync_once()


async def test_follow_renews_an_expired_token_and_stays_connected(
    db_url: str, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "ann")
    server = start_server(db_url)
    async with Device(tmp_path / "laptop", timezone="UTC") as laptop:
        await laptop.login(server.url, "ann", "pw", "laptop")
        await age_tokens(db_url, 31)
        ann = login(server.url, "ann")  # another device of hers, to see the push arrive
        ws, _ = await open_session(server.ws_url, ann["token"])
        stop = asyncio.Event()
        follow = asyncio.create_task(laptop.follow(lambda change: None, stop=stop))
        await laptop.record("lesson.opened", {"course": "c1", "lesson": "read"})
        feed = await until(ws, Feed, timeout=30)
        assert feed.entries[0].type == "lesson.opened"
        stop.set()
        await follow
        await ws.close()


def test_waymark_logout_revokes_the_device_and_keeps_unsynced_events(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    server = start_server(db)
    home = {"WAYMARK_HOME": str(tmp_path / "home")}
    assert waymark("login", server.url, "ann", "--password", "pw", env=home).returncode == 0
    token = asyncio.run(_token(tmp_path / "home"))
    server.stop()  # offline: the event cannot be pushed, nor the token revoked
    recorded = waymark("record", "lesson.opened", "course=c1", "lesson=read", env=home)
    assert recorded.returncode == 0, recorded.stderr
    refused = waymark("logout", env=home)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("Error: ann has 1 events not synced yet")
    assert "Traceback" not in refused.stderr

    server = start_server(db)  # back online, on another port: the journal names the old one
    forced = waymark("logout", "--force", env=home)
    assert forced.returncode == 0, forced.stderr
    assert "logged out ann (1 events not synced kept for the next login)" in forced.stdout
    assert waymark("status", env=home).returncode == 4  # nobody is logged in
    # The token is still live on the server (it could not be reached): an admin revokes it.
    assert http("GET", f"{server.url}/v1/me/progress", token=token)[0] == 200

    # Logging in again pushes what the logout kept; logging out then revokes on the server.
    assert waymark("login", server.url, "ann", "--password", "pw", env=home).returncode == 0
    synced = waymark("sync", env=home)
    assert synced.returncode == 0, synced.stderr
    token = asyncio.run(_token(tmp_path / "home"))
    out = waymark("logout", env=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "logged out ann"
    status, problem = http("GET", f"{server.url}/v1/me/progress", token=token)
    assert status == 403, problem
    listed = waymark("admin", "--db", db, "devices", "ann")
    assert listed.returncode == 0, listed.stderr
    states = [re.search(r"  (active|revoked)  ", line) for line in listed.stdout.splitlines()]
    assert [m.group(1) if m else None for m in states] == ["active", "revoked"]


async def _token(home: Path) -> str:
    async with Device(home) as device:
        return (await device.accounts())[0].token


async def test_a_device_over_its_push_limit_is_told_when_to_push_again(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    server = start_server(db, extra=limits(tmp_path, pushes_per_device_per_minute=2))
    ann = login(server.url, "ann")
    ws, _ = await open_session(server.ws_url, ann["token"])
    for seq in (1, 2, 3):
        await ws.send(encode(Push(seq, ann["device_id"], [event(seq)]), binary=True))
    acks = [await until(ws, Ack), await until(ws, Ack)]
    assert [a.acked_seq for a in acks] == [1, 2]
    limited = await until(ws, Error)
    assert (limited.code, limited.batch, limited.retry_after) == ("rate_limited", 3, 30)
    assert limited.message == "too many pushes from this device: send batch 3 again in 30 s"
    await ws.ping()  # the connection goes on
    await ws.close()


async def test_a_device_over_its_connection_limit_is_refused_with_4429(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    server = start_server(db, extra=limits(tmp_path, connects_per_device_per_minute=1))
    ann = login(server.url, "ann")
    ws, _ = await open_session(server.ws_url, ann["token"])
    await ws.close()
    error, close = await refused_at_hello(server, ann["token"])
    assert (error.code, error.retry_after, close) == ("rate_limited", 60, 4429)
    other = login(server.url, "ann")  # another device is not held back
    ws, _ = await open_session(server.ws_url, other["token"])
    await ws.close()


def test_a_refresh_lifetime_shorter_than_the_token_lifetime_is_one_line(tmp_path: Path) -> None:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    result = waymark(
        "serve",
        "--db",
        db,
        "--token-lifetime-days",
        "40",
        env={"WAYMARK_REFRESH_TOKEN_LIFETIME_DAYS": "30"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Error: WAYMARK_REFRESH_TOKEN_LIFETIME_DAYS: 30 days is shorter than the token "
        "lifetime (40): a refresh token must outlive the token it renews"
    ], result.stderr
