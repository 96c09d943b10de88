"""Helpers for talking to a real server over HTTP and raw WebSocket frames."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from sync.codec import decode_server, encode
from sync.events import Event
from sync.messages import Hello, HelloAccount, ServerMessage, Welcome

T0 = 1_763_790_000_000


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def login(base: str, username: str, password: str = "pw", device: str = "test") -> dict[str, Any]:
    status, body = http(
        "POST",
        f"{base}/v1/auth/login",
        {"username": username, "password": password, "device_name": device},
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def event(seq: int, type_: str = "lesson.opened", **body: Any) -> Event:
    return Event(
        seq,
        f"{T0 + seq:013d}-0000",
        T0 + seq,
        type_,
        {"course": "c1", "lesson": "read", **body},
        "UTC",
    )


async def recv(ws: ClientConnection, timeout: float = 5) -> ServerMessage:
    import asyncio

    return decode_server(await asyncio.wait_for(ws.recv(), timeout))


async def open_session(
    ws_url: str, *tokens: str, binary: bool = True
) -> tuple[ClientConnection, Welcome]:
    ws = await connect(ws_url, max_size=None)
    await ws.send(encode(Hello([HelloAccount(t) for t in tokens]), binary=binary))
    welcome = await recv(ws)
    assert isinstance(welcome, Welcome), welcome
    return ws, welcome


async def until(ws: ClientConnection, kind: type[Any], timeout: float = 5) -> Any:
    """Receive until a message of ``kind`` arrives (skipping catalog, feed, ...)."""
    while not isinstance(msg := await recv(ws, timeout), kind):
        pass
    return msg
