"""Helpers for talking to a real server over HTTP and raw WebSocket frames."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from sync.events import Event
from sync.protocol.codec import decode_server, encode
from sync.protocol.messages import Hello, HelloAccount, ServerMessage, Welcome

T0 = 1_763_790_000_000


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """Status and decoded JSON of the answer."""
    status, _, raw = raw_http(method, url, body, token)
    return status, json.loads(raw or b"null")


def raw_http(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, bytes, bytes]:
    """Status, headers and body of the answer: every byte a device receives."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, str(response.headers).encode(), response.read()
    except urllib.error.HTTPError as err:
        return err.code, str(err.headers).encode(), err.read()


RouteValues = dict[frozenset[str], list[dict[str, str]]]


def get_routes(base: str, values: RouteValues, query_values: dict[str, str]) -> list[str]:
    """Every GET URL of the API (from its OpenAPI document), each path parameter filled in
    with every set of ``values`` for that route's parameter names, required query
    parameters from ``query_values``. Fails on a route nobody gave values for, so a new
    endpoint cannot escape a scan."""
    status, _, raw = raw_http("GET", f"{base}/schema/openapi.json")
    assert status == 200
    schema = json.loads(raw)
    urls = []
    for template, methods in schema["paths"].items():
        if "get" not in methods:
            continue
        names = frozenset(re.findall(r"\{(\w+)\}", template))
        assert names in values, f"add values for {template} to the route values"
        query = [
            p["name"]
            for p in methods["get"].get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        ]
        suffix = "&".join(f"{q}={query_values[q]}" for q in query)
        for filled in values[names]:
            url = template
            for name, value in filled.items():
                url = url.replace(f"{{{name}}}", value)
            urls.append(f"{base}{url}" + (f"?{suffix}" if suffix else ""))
    return urls


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
