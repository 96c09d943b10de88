"""Device tokens over REST, in-process on both engines with the clock injected (no waiting):
an access token expires after its lifetime (401, ``token expired: refresh it``), a refresh
gives a new pair and retires the old one, a refresh token presented twice revokes the
device, logout revokes it, and a token from before migration 10 gets its lifetime from its
first use. Per-device REST rate limits: 429 with ``Retry-After`` as problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.ratelimit import RateLimits
from server.storage.store import Store
from tests.server.conftest import Clock

# Litestar 2.25 warns of every handler's inferred dependencies (as test_shard_ready notes).
pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
LIFETIME_S = 3_600
REFRESH_S = 4 * 3_600


async def on_store(db_url: str, sql: str) -> None:
    """Run ``sql`` from the test's own loop (the app runs in the test client's)."""
    store = Store.for_url(db_url)
    await store.open()
    try:
        if sql.startswith("add "):  # a user, with the password "pw"
            await store.create_user(sql.removeprefix("add "), "pw")
        else:
            async with store.engine.transaction() as txn:
                await txn.execute(sql)
    finally:
        await store.close()


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[AsyncTestClient[Any], Clock]]:
    await on_store(db_url, "add ana")
    clock = Clock()
    application = create_app(
        db_url,
        clock=clock,
        token_lifetime_s=LIFETIME_S,
        refresh_lifetime_s=REFRESH_S,
        rate_limits=RateLimits(rest=5),
    )
    async with AsyncTestClient(app=application) as client:
        yield client, clock


async def login(client: AsyncTestClient[Any]) -> dict[str, Any]:
    reply = await client.post(
        "/v1/auth/login", json={"username": "ana", "password": "pw", "device_name": "t"}
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def me(client: AsyncTestClient[Any], token: str) -> Any:
    return await client.get("/v1/me/progress", headers=bearer(token))


async def test_a_token_expires_after_its_lifetime_and_refreshes(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, clock = app
    ana = await login(client)
    assert ana["expires_in"] == LIFETIME_S and ana["refresh_token"]
    clock.now += LIFETIME_S * 1000 - 100
    assert (await me(client, ana["token"])).status_code == 200
    clock.now += 100
    expired = await me(client, ana["token"])
    assert expired.status_code == 401
    assert expired.headers["content-type"].startswith("application/problem+json")
    assert expired.json()["detail"] == "token expired: refresh it"
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]

    renewed = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert pair["expires_in"] == LIFETIME_S
    assert {pair["token"], pair["refresh_token"]}.isdisjoint({ana["token"], ana["refresh_token"]})
    assert (await me(client, pair["token"])).status_code == 200
    # The old access token is retired, not merely expired.
    assert (await me(client, ana["token"])).json()["detail"] == "unknown token: log in again"
    # The new pair is rotated again, and the new token lives a whole lifetime from now.
    clock.now += LIFETIME_S * 1000 - 100
    assert (await me(client, pair["token"])).status_code == 200


async def test_a_refresh_token_presented_twice_revokes_the_device(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    ana = await login(client)
    first = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert first.status_code == 200
    pair = first.json()
    again = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert again.status_code == 403, again.text
    assert "used before" in again.json()["detail"]
    # Every token of the device is dead: the thief's and the device's.
    assert (await me(client, pair["token"])).status_code == 403
    newest = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert newest.status_code == 401
    # Another login of the learner is another device, not touched.
    assert (await me(client, (await login(client))["token"])).status_code == 200


async def test_an_expired_or_unknown_refresh_token_is_refused(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, clock = app
    ana = await login(client)
    unknown = await client.post("/v1/auth/refresh", json={"refresh_token": "nope"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "unknown refresh token: log in again"
    bad = await client.post("/v1/auth/refresh", json={"token": ana["refresh_token"]})
    assert bad.status_code == 400
    clock.now += REFRESH_S * 1000
    late = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert late.status_code == 401
    assert late.json()["detail"] == "refresh token expired: log in again"


async def devices(db_url: str) -> list[tuple[str, bool]]:
    """(id, revoked) of ana's devices, oldest first."""
    store = Store.for_url(db_url)
    await store.open()
    try:
        ana = await store.user_by_name("ana")
        assert ana is not None
        return [(d.id, d.revoked_at is not None) for d in await store.devices_of(ana.id)]
    finally:
        await store.close()


async def login_again(client: AsyncTestClient[Any], refresh_token: str) -> dict[str, Any]:
    reply = await client.post(
        "/v1/auth/login",
        json={"username": "ana", "password": "pw", "refresh_token": refresh_token},
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_a_login_with_the_devices_refresh_token_keeps_the_device(
    app: tuple[AsyncTestClient[Any], Clock], db_url: str
) -> None:
    client, _ = app
    ana = await login(client)
    again = await login_again(client, ana["refresh_token"])
    assert again["device_id"] == ana["device_id"]
    assert {again["token"], again["refresh_token"]}.isdisjoint({ana["token"], ana["refresh_token"]})
    assert (await me(client, again["token"])).status_code == 200
    assert (await me(client, ana["token"])).json()["detail"] == "unknown token: log in again"
    assert await devices(db_url) == [(ana["device_id"], False)]
    # The wrong password keeps nothing and retires nothing.
    wrong = await client.post(
        "/v1/auth/login",
        json={"username": "ana", "password": "nope", "refresh_token": again["refresh_token"]},
    )
    assert wrong.status_code == 401
    assert (await me(client, again["token"])).status_code == 200


async def test_a_login_whose_refresh_token_cannot_be_exchanged_gets_a_new_device(
    app: tuple[AsyncTestClient[Any], Clock], db_url: str
) -> None:
    client, clock = app
    await on_store(db_url, "add bo")
    ana = await login(client)
    unknown = await login_again(client, "nope")
    assert unknown["device_id"] != ana["device_id"]
    # Another learner's refresh token keeps nothing, and that device is not touched.
    bo = await client.post("/v1/auth/login", json={"username": "bo", "password": "pw"})
    bo_pair = bo.json()
    other = await login_again(client, bo_pair["refresh_token"])
    assert other["device_id"] not in (bo_pair["device_id"], ana["device_id"])
    assert (await me(client, bo_pair["token"])).status_code == 200
    # One used before: the device it belonged to is revoked (a copy holds it), and the
    # login gets a new device.
    renewed = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert renewed.status_code == 200
    reused = await login_again(client, ana["refresh_token"])
    assert reused["device_id"] != ana["device_id"]
    assert (await me(client, renewed.json()["token"])).status_code == 403
    # Expired: a new device.
    clock.now += REFRESH_S * 1000
    late = await login_again(client, reused["refresh_token"])
    assert late["device_id"] != reused["device_id"]
    found = dict(await devices(db_url))
    assert found[ana["device_id"]] is True and found[late["device_id"]] is False
    assert len(found) == 5  # ana's first, "nope", bo's token, the reuse, the late one


async def test_logout_revokes_the_device_on_the_server(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, _ = app
    ana = await login(client)
    other = await login(client)
    assert (await client.delete("/v1/auth/device")).status_code == 401
    out = await client.delete("/v1/auth/device", headers=bearer(ana["token"]))
    assert out.status_code == 204 and out.content == b""
    assert (await me(client, ana["token"])).status_code == 403
    refused = await client.post("/v1/auth/refresh", json={"refresh_token": ana["refresh_token"]})
    assert refused.status_code == 401
    assert (await me(client, other["token"])).status_code == 200  # only this device


async def test_a_token_from_before_expiry_lives_a_lifetime_from_its_first_use(
    app: tuple[AsyncTestClient[Any], Clock], db_url: str
) -> None:
    client, clock = app
    ana = await login(client)
    # As migration 10 leaves a token issued before it.
    await on_store(db_url, "UPDATE device_tokens SET issued_at = NULL")
    clock.now += 10 * LIFETIME_S * 1000
    assert (await me(client, ana["token"])).status_code == 200  # first use: stamped now
    clock.now += LIFETIME_S * 1000 - 100
    assert (await me(client, ana["token"])).status_code == 200
    clock.now += 100
    assert (await me(client, ana["token"])).status_code == 401


async def test_a_device_over_its_rest_limit_gets_429_with_retry_after(
    app: tuple[AsyncTestClient[Any], Clock],
) -> None:
    client, clock = app
    ana, other = await login(client), await login(client)
    answers = [(await me(client, ana["token"])).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    limited = await me(client, ana["token"])
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.headers["retry-after"] == "12"  # 5 a minute: one every 12 s
    assert "too many requests from this device" in limited.json()["detail"]
    assert (await me(client, other["token"])).status_code == 200  # per device
    clock.now += 12_000
    assert (await me(client, ana["token"])).status_code == 200
    assert (await me(client, ana["token"])).status_code == 429
