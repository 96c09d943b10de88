"""The event stream through a real server (``waymark serve``), as server-sent events: a
service token made by ``waymark admin token add`` follows the events a learner's REST
actions commit, drops the connection, resumes with ``Last-Event-ID`` and gets the rest, none
twice; a revoked token is refused at once; a stopping server ends its streams."""

from __future__ import annotations

import http.client
import json
import signal
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from tests.conftest import RunningServer, waymark
from tests.integration.test_spine import add_users
from tests.integration.wire import login, raw_http

Message = dict[str, str]


def open_stream(
    base: str, token: str, last_event_id: str | None = None, query: str = ""
) -> tuple[http.client.HTTPConnection, Iterator[Message]]:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    conn.request("GET", "/v1/events" + query, headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")

    def messages() -> Iterator[Message]:
        fields: Message = {}
        while True:
            line = response.readline()
            if not line:
                return  # the server ended the stream
            text = line.decode().rstrip("\r\n")
            if not text:
                if "data" in fields:
                    yield fields
                fields = {}
            elif not text.startswith(":"):
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")

    return conn, messages()


def take(stream: Iterator[Message], count: int) -> list[Message]:
    return [next(stream) for _ in range(count)]


def act(base: str, token: str, action: str) -> None:
    status, _, raw = raw_http("POST", f"{base}/v1/me/lessons/c1/read/{action}", {}, token)
    assert status == 200, raw


def outbox_ids(db: str) -> list[str]:
    shown = waymark("admin", "--db", db, "outbox", "tail", "-n", "1000", "--json")
    assert shown.returncode == 0, shown.stderr
    return [json.loads(line)["id"] for line in shown.stdout.splitlines()]


def make_token(db: str, name: str, scopes: str) -> str:
    made = waymark("admin", "--db", db, "token", "add", name, "--scopes", scopes)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_server_sent_events_follow_commits_and_resume_from_last_event_id(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "leo")
    token = make_token(db_url, "analytics", "events:read")
    server = start_server(db_url)
    learner = login(server.url, "leo")["token"]
    conn, stream = open_stream(server.url, token)
    try:
        act(server.url, learner, "complete")  # committed after the stream opened
        first = take(stream, 2)
    finally:
        conn.close()
    envelopes: list[dict[str, Any]] = [json.loads(m["data"]) for m in first]
    assert [m["event"] for m in first] == [e["type"] for e in envelopes]
    assert envelopes[0]["type"] == "progress.lesson.completed"
    assert envelopes[0]["learner"]["username"] == "leo"
    # More commits while disconnected; the reconnect resumes after the last id it got.
    act(server.url, learner, "uncomplete")
    act(server.url, learner, "complete")
    expected = outbox_ids(db_url)
    conn, stream = open_stream(server.url, token, last_event_id=first[-1]["id"])
    try:
        rest = take(stream, len(expected) - 2)
    finally:
        conn.close()
    got = [e["id"] for e in envelopes] + [json.loads(m["data"])["id"] for m in rest]
    assert got == expected  # every event once, in commit order
    # The page form agrees, and after= works for the stream as for pages.
    status, _, raw = raw_http("GET", f"{server.url}/v1/events?limit=1000", token=token)
    assert status == 200 and [e["id"] for e in json.loads(raw)["events"]] == expected
    conn, stream = open_stream(server.url, token, query=f"?after={rest[0]['id']}")
    try:
        assert [json.loads(m["data"])["id"] for m in take(stream, 1)] == expected[3:4]
    finally:
        conn.close()


def test_a_revoked_token_is_refused_and_a_stopping_server_ends_its_streams(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "leo")
    token = make_token(db_url, "analytics", "events:read,progress:read")
    server = start_server(db_url)
    status, _, _ = raw_http("GET", f"{server.url}/v1/users/leo/progress", token=token)
    assert status == 200
    conn, stream = open_stream(server.url, token)
    server.proc.send_signal(signal.SIGTERM)
    assert list(stream) == []  # the stream ends: the server does not wait for the client
    assert server.proc.wait(timeout=30) == 0
    conn.close()
    revoked = waymark("admin", "--db", db_url, "token", "revoke", "analytics")
    assert revoked.returncode == 0, revoked.stderr
    server = start_server(db_url)
    status, _, raw = raw_http("GET", f"{server.url}/v1/events", token=token)
    assert (status, json.loads(raw)["detail"]) == (401, "this service token was revoked")
