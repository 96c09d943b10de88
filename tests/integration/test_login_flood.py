"""A flood of wrong passwords against a real server: after the free failures the name (and
then the address) is locked out with 429 problem details and ``Retry-After``, and
meanwhile the server goes on answering
``/v1/health``, REST and sync for a learner already signed in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Push
from tests.conftest import RunningServer
from tests.integration.test_spine import add_users
from tests.integration.wire import event, login, open_session, raw_http, until


def attempt(base: str, username: str, password: str) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = raw_http(
        "POST", f"{base}/v1/auth/login", {"username": username, "password": password}
    )
    lines = headers.decode().splitlines()
    parsed = dict(line.split(": ", 1) for line in lines if ": " in line)
    return status, {k.lower(): v for k, v in parsed.items()}, body


async def test_a_login_flood_is_throttled_while_learners_keep_syncing(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "alice", "bob")
    server = start_server(db_url)
    bob = login(server.url, "bob")
    ws, welcome = await open_session(server.ws_url, bob["token"])
    assert welcome.accounts[0].username == "bob"

    # Fifteen wrong passwords for alice, one after the other, while bob syncs.
    def flood() -> list[tuple[int, dict[str, str], bytes]]:
        return [attempt(server.url, "alice", f"guess{i}") for i in range(15)]

    with ThreadPoolExecutor(1) as pool:
        flooding = asyncio.get_running_loop().run_in_executor(pool, flood)
        await ws.send(encode(Push(1, bob["device_id"], [event(1)]), binary=True))
        ack = await until(ws, Ack, timeout=30)
        health = await asyncio.to_thread(raw_http, "GET", f"{server.url}/v1/health")
        progress = await asyncio.to_thread(
            raw_http, "GET", f"{server.url}/v1/me/progress", None, bob["token"]
        )
        answers = await flooding
    await ws.close()
    assert (ack.acked_seq, health[0], progress[0]) == (1, 200, 200)

    # Five free failures; every attempt after is refused, locked out or locking out again.
    statuses = [status for status, _, _ in answers]
    assert statuses == [401] * 5 + [429] * 10
    limited = [(headers, body) for status, headers, body in answers if status == 429]
    for headers, body in limited:
        assert headers["content-type"].startswith("application/problem+json")
        assert int(headers["retry-after"]) >= 1
        problem = json.loads(body)
        assert problem["status"] == 429 and problem["title"] == "Too many requests"
        assert "too many failed logins for this name or address" in problem["detail"]

    # Another name from the same address still logs in: at most 15 failures counted, fewer
    # than the address's 20.
    assert attempt(server.url, "bob", "pw")[0] == 201
