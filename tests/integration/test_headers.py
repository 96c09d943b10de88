"""Security headers on every answer of a real server (successes, 401, 404, problem details,
the OpenAPI pages), and CORS only for the origins configured (none by default)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest

from server.security import HTML_CSP, JSON_CSP
from tests.conftest import RunningServer, init_db
from tests.integration.test_spine import add_users
from tests.integration.wire import login

ORIGIN = "https://app.example.edu"


def answer(
    method: str, url: str, *, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, Message]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., RunningServer]) -> RunningServer:
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_users(db, "ann")
    return start_server(db)


def test_every_kind_of_answer_carries_the_security_headers(server: RunningServer) -> None:
    token = login(server.url, "ann")["token"]
    bearer = {"authorization": f"Bearer {token}"}
    cases = [
        ("GET", "/v1/health", None, {}, 200),
        ("GET", "/v1/me/enrollments", None, {}, 401),
        ("GET", "/v1/me/enrollments", None, bearer, 200),
        ("GET", "/v1/no-such-thing", None, bearer, 404),
        ("POST", "/v1/auth/login", {"username": 5}, {}, 400),
        ("GET", "/schema/openapi.json", None, {}, 200),
        ("GET", "/schema", None, {}, 200),
    ]
    for method, path, body, headers, status in cases:
        got, head = answer(method, server.url + path, body=body, headers=headers)
        where = f"{method} {path}"
        assert got == status, where
        assert head["X-Content-Type-Options"] == "nosniff", where
        assert head["Referrer-Policy"] == "no-referrer", where
        assert head["X-Frame-Options"] == "DENY", where
        csp = head["Content-Security-Policy"]
        html = head["Content-Type"].startswith("text/html")
        assert csp == (HTML_CSP if html else JSON_CSP) and "frame-ancestors 'none'" in csp, where
        # Plain HTTP and an http public URL: no HSTS (a browser would ignore it anyway).
        assert head["Strict-Transport-Security"] is None, where
        if status >= 400 and method == "POST":
            assert head["Content-Type"] == "application/problem+json", where
        # An answer to a request with a token is that learner's: never stored.
        assert (head["Cache-Control"] == "no-store") == bool(headers), where
    _, schema = answer("GET", server.url + "/schema")
    assert schema["Content-Type"].startswith("text/html")


def test_an_https_public_url_adds_hsts(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(
        f"sqlite:///{tmp_path / 's.db'}", extra=("--public-url", "https://learn.example.edu")
    )
    for path in ("/v1/health", "/v1/me/enrollments"):
        _, head = answer("GET", server.url + path)
        assert head["Strict-Transport-Security"] == "max-age=31536000", path


def preflight(server: RunningServer, origin: str) -> tuple[int, Message]:
    return answer(
        "OPTIONS",
        f"{server.url}/v1/me/enrollments",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_is_off_by_default(server: RunningServer) -> None:
    _, head = preflight(server, ORIGIN)
    assert head["Access-Control-Allow-Origin"] is None
    _, head = answer("GET", f"{server.url}/v1/health", headers={"Origin": ORIGIN})
    assert head["Access-Control-Allow-Origin"] is None


def test_a_configured_origin_passes_the_preflight_and_another_does_not(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    db = init_db(f"sqlite:///{tmp_path / 's.db'}")
    add_users(db, "ann")
    server = start_server(db, extra=("--cors-origin", ORIGIN))
    status, head = preflight(server, ORIGIN)
    assert status in (200, 204)
    assert head["Access-Control-Allow-Origin"] == ORIGIN
    assert "GET" in head["Access-Control-Allow-Methods"]
    assert "authorization" in head["Access-Control-Allow-Headers"].lower()
    token = login(server.url, "ann")["token"]
    _, head = answer(
        "GET",
        f"{server.url}/v1/me/enrollments",
        headers={"Origin": ORIGIN, "authorization": f"Bearer {token}"},
    )
    assert head["Access-Control-Allow-Origin"] == ORIGIN
    _, head = preflight(server, "https://evil.example")
    assert head["Access-Control-Allow-Origin"] is None
    # The configured server still sends its security headers on the preflight.
    assert head["X-Content-Type-Options"] == "nosniff"
