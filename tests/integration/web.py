"""Helpers for the dashboard's tests against a real server: its people and groups, a web
session's cookie, and a reader of the live stream (server-sent events)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import urllib.parse
from typing import Any

from server.storage.store import Store
from tests.conftest import init_db
from tests.integration.wire import http as http_json

INSTRUCTOR = "ines"
ADMIN = "ada"
IN_GROUP = "leo"
ELSEWHERE = "mia"


def seed(db: str) -> None:
    """ines (instructor) created group A with leo; mia is in no group; ada is an admin.
    Every password is ``pw``. Run before the server starts."""

    async def run() -> None:
        store = Store.for_url(init_db(db))
        await store.open()
        try:
            users = {}
            for name, role in [
                (INSTRUCTOR, "instructor"),
                (ADMIN, "admin"),
                (IN_GROUP, "learner"),
                (ELSEWHERE, "learner"),
            ]:
                users[name] = await store.create_user(name, "pw", role=role)
            group = await store.create_group("Group A", INSTRUCTOR)
            await store.set_member(group.id, users[IN_GROUP].id, True)
        finally:
            await store.close()

    # In a thread of its own: callable from a test's event loop and from plain code alike.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def session_cookie(base: str, name: str) -> str:
    """A web session of ``name`` (``POST /v1/auth/session``): the cookie's value."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/v1/auth/session",
            json.dumps({"username": name, "password": "pw"}),
            {"content-type": "application/json"},
        )
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 201, reply.status
        cookie = reply.getheader("set-cookie") or ""
    finally:
        conn.close()
    return cookie.split(";")[0].split("=", 1)[1]


class LiveStream:
    """``GET /dashboard/live`` with a session's cookie, read event by event (blocking;
    call :meth:`next_event` in a thread). ``timeout`` only guards against a hang."""

    def __init__(self, base: str, cookie: str, timeout: float = 15) -> None:
        parts = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        self.conn.request(
            "GET",
            "/dashboard/live",
            headers={"cookie": f"waymark_session={cookie}", "accept": "text/event-stream"},
        )
        self.reply = self.conn.getresponse()
        assert self.reply.status == 200, self.reply.status
        assert (self.reply.getheader("content-type") or "").startswith("text/event-stream")

    def next_event(self) -> tuple[str, Any]:
        """The next event with data: ``(event type, decoded JSON data)``; comments (the
        stream's opening, keep-alives) are skipped."""
        kind, data = "message", ""
        while True:
            line = self.reply.readline().decode()
            if not line:
                raise EOFError("the live stream ended")
            line = line.rstrip("\r\n")
            if not line:
                if data:
                    return kind, json.loads(data)
                kind = "message"
                continue
            field, _, value = line.partition(":")
            if field == "event":
                kind = value.strip()
            elif field == "data":
                data += value.lstrip(" ")

    def close(self) -> None:
        self.conn.close()


def learner_login(base: str, name: str) -> dict[str, Any]:
    status, body = http_json(
        "POST", f"{base}/v1/auth/login", {"username": name, "password": "pw", "device_name": "t"}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]
