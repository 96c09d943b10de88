"""Every route of a real server, walked with and without a token: only the handlers
declared public answer without one, whatever their path parameters hold (``schema``,
``health``, ``.well-known``: names that once made a route public because the public-path
patterns matched anywhere in the path). The routes come from the server's own OpenAPI
document, so a new endpoint cannot escape the walk."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
import warnings
from collections.abc import Callable

from tests.conftest import RunningServer, waymark
from tests.integration.test_spine import add_users
from tests.integration.wire import login, raw_http

PUBLIC = {
    ("GET", "/v1/health"),
    ("GET", "/v1/ready"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/session"),
    ("GET", "/v1/certificates/{code}"),
    ("GET", "/v1/certificates/{code}/credential"),
    ("POST", "/v1/credentials/verify"),
    ("GET", "/v1/issuer"),
    ("GET", "/v1/achievements/{kind}/{ref}"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/metrics"),  # open unless WAYMARK_METRICS_TOKEN is set (test_metrics.py)
}
# The routes a service token may call, and the scope each needs (docs/events.md); a service
# token is refused (403) on every other route, whatever its scopes.
SERVICE = {
    ("GET", "/v1/events"): "events:read",
    ("GET", "/v1/users/{name}/progress"): "progress:read",
    ("GET", "/v1/users/{name}/achievements"): "progress:read",
    ("GET", "/v1/users/{name}/competencies"): "progress:read",
}
ALL_SCOPES = "events:read,progress:read,users:write,catalog:write"
TRICKY = ["schema", "health", ".well-known", "schemaker", "auth", "ready", "login", "sync"]


def routes(base: str) -> list[tuple[str, str]]:
    status, _, raw = raw_http("GET", f"{base}/schema/openapi.json")
    assert status == 200
    paths = json.loads(raw)["paths"]
    return [
        (method.upper(), template)
        for template, operations in paths.items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def fill(template: str, value: str) -> str:
    return re.sub(r"\{\w+\}", value, template)


def test_only_the_public_handlers_answer_without_a_token(
    tmp_path: object, db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "alice")
    server = start_server(db_url)
    walked = routes(server.url)
    assert len(walked) > 30
    assert set(walked) >= PUBLIC  # each public route is still there
    token = login(server.url, "alice")["token"]
    for method, template in walked:
        for value in TRICKY:
            url = f"{server.url}{fill(template, value)}"
            body = {} if method in {"POST", "PUT", "PATCH"} else None
            status, _, raw = raw_http(method, url, body)
            where = f"{method} {fill(template, value)} without a token: {status} {raw[:200]!r}"
            if (method, template) in PUBLIC:
                assert status != 401, where
            else:
                assert status == 401, where
                assert json.loads(raw)["status"] == 401, where
            # A bearer token that is not one is refused the same way.
            if (method, template) not in PUBLIC:
                status, _, _ = raw_http(method, url, body, token="not-a-token")
                assert status == 401, f"{method} {url} with a bad token: {status}"
            # Logging out revokes the token it is sent with: a fresh one for it.
            logout = (method, template) == ("DELETE", "/v1/auth/device")
            used = login(server.url, "alice")["token"] if logout else token
            status, _, raw = raw_http(method, url, body, token=used)
            assert status != 401 and status < 500, f"{method} {url} with a token: {status} {raw!r}"


def service_token(db: str, name: str, scopes: str) -> str:
    made = waymark("admin", "--db", db, "token", "add", name, "--scopes", scopes)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_service_tokens_reach_only_the_routes_that_accept_their_scopes(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    add_users(db_url, "alice")
    every = service_token(db_url, "every", ALL_SCOPES)
    none_of_them = service_token(db_url, "catalog", "catalog:write")
    server = start_server(db_url)
    walked = routes(server.url)
    assert set(walked) >= set(SERVICE)
    for method, template in walked:
        url = f"{server.url}{fill(template, 'alice')}"
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        where = f"{method} {template}"
        if (method, template) in PUBLIC:
            continue
        status, _, raw = raw_http(method, url, body, token=every)
        if (method, template) in SERVICE:
            assert status == 200, f"{where} with every scope: {status} {raw[:200]!r}"
        else:
            assert status == 403, f"{where} with a service token: {status} {raw[:200]!r}"
            assert json.loads(raw)["detail"] == "service tokens may not use this endpoint"
        status, _, raw = raw_http(method, url, body, token=none_of_them)
        assert status == 403, f"{where} without the scope: {status}"
        if (method, template) in SERVICE:
            wanted = SERVICE[(method, template)]
            assert json.loads(raw)["detail"] == f"this service token lacks the scope {wanted!r}"


def test_the_openapi_documents_are_public_but_only_under_schema(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    assert raw_http("GET", f"{server.url}/schema/openapi.json")[0] == 200
    for path in ("/v1/users/schema/progress", "/v1/groups/schemas", "/v1/schema", "/schemas"):
        assert raw_http("GET", f"{server.url}{path}")[0] in {401, 404}, path
    assert raw_http("GET", f"{server.url}/v1/users/schema/progress")[0] == 401


DASHBOARD_PUBLIC = {
    ("GET", "/dashboard/sign-in"),
    ("POST", "/dashboard/sign-in"),  # checks its own CSRF token (server/dashboard/pages.py)
    ("POST", "/dashboard/sign-out"),  # checks the session's CSRF token itself
    ("GET", "/dashboard/static/{file_path:path}"),
}


def app_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from the app itself: what the OpenAPI document
    leaves out (the dashboard's HTML routes) is walked too."""
    from litestar.exceptions import LitestarDeprecationWarning

    from server.app import create_app

    with warnings.catch_warnings():  # Litestar 3's coming rules, as in the in-process tests
        warnings.simplefilter("ignore", LitestarDeprecationWarning)
        app = create_app("sqlite:///unused.db")  # never started: nothing is opened
    return sorted(
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in ("OPTIONS", "HEAD")
    )


def test_only_the_dashboard_is_left_out_of_the_openapi_document(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    documented = set(routes(server.url))
    hidden = {
        (m, p)
        for m, p in app_routes()
        if (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)) not in documented
    }
    # The OpenAPI document's own pages aside, only the dashboard's HTML routes are not
    # in it, and the walk of the dashboard below covers those.
    assert {(m, p) for m, p in hidden if not p.startswith(("/dashboard", "/schema"))} == set()
    assert {(m, p) for m, p in hidden if p.startswith("/dashboard")} >= DASHBOARD_PUBLIC


def no_redirect(
    base: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """Status, ``Location`` and body of one request, redirects not followed."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        body = b"" if method == "POST" else None
        conn.request(method, path, body, headers or {})
        reply = conn.getresponse()
        return reply.status, reply.getheader("location") or "", reply.read()
    finally:
        conn.close()


def test_every_dashboard_page_sends_a_browser_without_a_session_to_sign_in(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    dashboard = [(m, p) for m, p in app_routes() if p.startswith("/dashboard")]
    assert len(dashboard) >= 5
    for method, template in dashboard:
        for value in ("dashboard.css", "schema", "..%2F..%2Fserver.db"):
            path = re.sub(r"\{[^}]+\}", value, template)
            where = f"{method} {path}"
            for headers in ({}, {"authorization": "Bearer not-a-token"}):
                status, location, raw = no_redirect(server.url, method, path, headers)
                assert status < 500, f"{where}: {status} {raw[:200]!r}"
                if (method, template) in DASHBOARD_PUBLIC:
                    assert status != 401, where
                elif template == "/dashboard/live":
                    assert status == 303 or status == 401, where  # a stream: 401 if asked as one
                elif "%2F" in value and ":path}" not in template and status == 404:
                    pass  # the slash splits the path: it routes to no page at all
                else:
                    assert status == 303, f"{where} {headers}: {status}"
                    assert location.startswith("/dashboard/sign-in?next=/dashboard"), where
    stream = {"accept": "text/event-stream"}
    assert no_redirect(server.url, "GET", "/dashboard/live", stream)[0] == 401
