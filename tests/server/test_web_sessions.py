"""Web sessions of instructors and admins, in-process on both engines with the clock
injected: the cookie's attributes, a session that ends when idle, at its absolute end and
at sign-out, CSRF on unsafe requests, learners refused, the cookie never taken for a device
(nor a device's token for a session), failed sign-ins counted with failed logins, and
``waymark admin user sign-out``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.cli import admin
from server.storage.accounts import LoginThrottle, SessionPolicy, csrf_token
from server.storage.store import Store
from tests.server.conftest import Clock

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
IDLE_S = 600
ABSOLUTE_S = 3_600
GROUPS = "/v1/groups"


async def add_users(db_url: str) -> None:
    store = Store.for_url(db_url)
    await store.open()
    try:
        await store.create_user("ines", "pw", role="instructor")
        await store.create_user("ada", "pw", role="admin")
        await store.create_user("leo", "pw")
    finally:
        await store.close()


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[AsyncTestClient[Any], Clock]]:
    await add_users(db_url)
    clock = Clock()
    application = create_app(
        db_url,
        clock=clock,
        session_policy=SessionPolicy(absolute_ms=ABSOLUTE_S * 1000, idle_ms=IDLE_S * 1000),
        login_throttle=LoginThrottle(user_free=2),
    )
    async with AsyncTestClient(app=application) as client:
        yield client, clock


async def sign_in(client: AsyncTestClient[Any], name: str = "ines") -> dict[str, Any]:
    reply = await client.post("/v1/auth/session", json={"username": name, "password": "pw"})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_signing_in_sets_a_strict_http_only_cookie_and_gives_the_csrf_token(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, clock = app
    body = await sign_in(client)
    cookie = client.cookies.get("waymark_session")
    assert cookie and body["csrf_token"] == csrf_token(cookie)
    assert body["username"] == "ines" and body["role"] == "instructor"
    assert body["idle_timeout_s"] == IDLE_S
    assert ABSOLUTE_S * 1000 - 5 <= body["expires_at"] - clock.now <= ABSOLUTE_S * 1000
    # The cookie's attributes, as the browser is told them (over plain HTTP: not Secure).
    client.cookies.clear()
    reply = await client.post("/v1/auth/session", json={"username": "ines", "password": "pw"})
    header = reply.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    assert "secure" not in header
    assert f"max-age={ABSOLUTE_S}" in header
    # The session opens the pages' API; GET /v1/auth/session gives the CSRF token again.
    assert (await client.get(GROUPS)).status_code == 200
    again = await client.get("/v1/auth/session")
    assert again.status_code == 200 and again.json()["csrf_token"] == csrf_token(
        client.cookies["waymark_session"]
    )


async def test_a_session_ends_when_idle_and_at_its_absolute_end(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, clock = app
    await sign_in(client)
    clock.now += IDLE_S * 1000 - 1_000
    assert (await client.get(GROUPS)).status_code == 200  # a use keeps it alive
    clock.now += IDLE_S * 1000 - 1_000
    assert (await client.get(GROUPS)).status_code == 200
    clock.now += IDLE_S * 1000 + 1
    idle = await client.get(GROUPS)
    assert idle.status_code == 401 and "web session ended" in idle.json()["detail"]
    # Kept busy, it still ends at its absolute end.
    await sign_in(client)
    for _ in range(ABSOLUTE_S // (IDLE_S // 2)):
        clock.now += IDLE_S // 2 * 1000
        if (await client.get(GROUPS)).status_code != 200:
            break
    else:
        clock.now += IDLE_S // 2 * 1000
    assert (await client.get(GROUPS)).status_code == 401


async def test_unsafe_requests_need_the_csrf_token(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    body = await sign_in(client)
    group = {"name": "g1"}
    refused = await client.post(GROUPS, json=group)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = await client.post(GROUPS, json=group, headers={"x-csrf-token": "x" * 43})
    assert wrong.status_code == 403
    made = await client.post(GROUPS, json=group, headers={"x-csrf-token": body["csrf_token"]})
    assert made.status_code == 201, made.text


async def test_signing_out_ends_the_session_on_the_server(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    body = await sign_in(client)
    kept = client.cookies["waymark_session"]
    no_csrf = await client.delete("/v1/auth/session")
    assert no_csrf.status_code == 403  # signing out is an unsafe request too
    out = await client.delete("/v1/auth/session", headers={"x-csrf-token": body["csrf_token"]})
    assert out.status_code == 204
    assert "waymark_session" not in client.cookies
    client.cookies.set("waymark_session", kept)
    replayed = await client.get(GROUPS)
    assert replayed.status_code == 401


async def test_learners_get_no_web_session_and_wrong_passwords_count_as_failed_logins(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    learner = await client.post("/v1/auth/session", json={"username": "leo", "password": "pw"})
    assert learner.status_code == 403 and "learners sign in on a device" in learner.text
    assert "waymark_session" not in client.cookies
    for _ in range(2):
        wrong = await client.post("/v1/auth/session", json={"username": "ada", "password": "nope"})
        assert wrong.status_code == 401
    locked = await client.post("/v1/auth/session", json={"username": "ada", "password": "nope"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1


async def test_the_cookie_is_not_a_device_and_a_token_is_not_a_session(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    body = await sign_in(client, "ada")
    csrf = {"x-csrf-token": body["csrf_token"]}
    # DELETE /v1/auth/device is a device's: a session has none to log out.
    assert (await client.delete("/v1/auth/device", headers=csrf)).status_code == 403
    # The cookie's value as a bearer token is unknown.
    cookie = client.cookies["waymark_session"]
    client.cookies.clear()
    as_bearer = await client.get(GROUPS, headers={"authorization": f"Bearer {cookie}"})
    assert as_bearer.status_code == 401
    # A device's token answers for itself and has no session to show; with a header the
    # cookie is not looked at.
    login = await client.post(
        "/v1/auth/login", json={"username": "ada", "password": "pw", "device_name": "t"}
    )
    token = login.json()["token"]
    device = await client.get("/v1/auth/session", headers={"authorization": f"Bearer {token}"})
    assert device.status_code == 403 and "not a web session" in device.text
    client.cookies.set("waymark_session", cookie)
    assert (await client.get(GROUPS)).status_code == 200
    bad_header = await client.get(GROUPS, headers={"authorization": "Bearer nope"})
    assert bad_header.status_code == 401


async def test_admin_user_sign_out_ends_every_session_of_a_user(
    db_url: str, app: tuple[AsyncTestClient[Any], Clock]
) -> None:
    client, _ = app
    await sign_in(client)
    assert (await client.get(GROUPS)).status_code == 200
    # The command runs its own event loop: in a thread, beside the test's.
    result = await asyncio.to_thread(
        CliRunner().invoke, admin, ["--db", db_url, "user", "sign-out", "ines"]
    )
    assert result.exit_code == 0, result.output
    assert "ended 1 web session of ines" in result.output
    assert (await client.get(GROUPS)).status_code == 401
    unknown = await asyncio.to_thread(
        CliRunner().invoke, admin, ["--db", db_url, "user", "sign-out", "x"]
    )
    assert unknown.exit_code == 1 and "no user 'x'" in unknown.output
