"""``create_app()``: the Litestar application, read top to bottom."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from server.api import ROUTE_HANDLERS
from server.auth import auth_middleware
from server.errors import ServerError, TooManyRequests
from server.fanout import Hub, Listener
from server.ratelimit import Limiter, RateLimits
from server.storage.accounts import TokenPolicy
from server.storage.engine import PostgresEngine
from server.storage.store import STALE_DEVICE_MS, Clock, Store, wall_clock_ms
from server.sync_socket import sync_endpoint

log = logging.getLogger("waymark.server")


def _problem(exc: ServerError) -> ProblemDetailsException:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return ProblemDetailsException(
        status_code=exc.status, title=exc.title, detail=exc.detail, headers=headers
    )


def _http(exc: HTTPException) -> ProblemDetailsException:
    # Litestar's stock conversion puts the message in "title"; RFC 9457 wants the fixed
    # phrase there and the specifics in "detail".
    return ProblemDetailsException(
        status_code=exc.status_code,
        title=HTTPStatus(exc.status_code).phrase,
        detail=exc.detail,
        extra=exc.extra,
        headers=exc.headers,
    )


def _internal(exc: Exception) -> ProblemDetailsException:
    log.error("unhandled error", exc_info=exc)
    return ProblemDetailsException(
        status_code=500, title="Internal error", detail="the server failed; it was logged"
    )


def create_app(
    db_url: str,
    *,
    clock: Clock = wall_clock_ms,
    on_ready: Callable[[Store], None] | None = None,
    stale_device_ms: int = STALE_DEVICE_MS,
    public_url: str = "http://127.0.0.1:8765",
    token_lifetime_s: int = TokenPolicy().access_ms // 1000,
    refresh_lifetime_s: int = TokenPolicy().refresh_ms // 1000,
    rate_limits: RateLimits | None = None,
) -> Litestar:
    """Build the app for the database at ``db_url``; the store opens (and migrates) at start.
    ``public_url`` is where devices and verifiers reach it (issuer ids, certificate links).
    Device tokens live ``token_lifetime_s`` (refresh tokens ``refresh_lifetime_s``); each
    device is held to ``rate_limits`` (default :class:`RateLimits`)."""
    store = Store.for_url(db_url, clock=clock, stale_device_ms=stale_device_ms)
    hub = Hub(store)
    listener = Listener(store.engine.url, hub) if isinstance(store.engine, PostgresEngine) else None

    async def open_store(app: Litestar) -> None:
        await store.open()
        if listener is not None:
            await listener.start()
        app.state.store = store
        app.state.hub = hub
        app.state.public_url = public_url.rstrip("/")
        app.state.token_policy = TokenPolicy(token_lifetime_s * 1000, refresh_lifetime_s * 1000)
        app.state.limiter = Limiter(rate_limits or RateLimits(), store.clock)
        if on_ready is not None:
            on_ready(store)

    async def close_store() -> None:
        if listener is not None:
            await listener.stop()
        await store.close()

    return Litestar(
        route_handlers=[*ROUTE_HANDLERS, sync_endpoint],
        dependencies={
            "store": Provide(lambda: store, use_cache=True, sync_to_thread=False),
            "hub": Provide(lambda: hub, use_cache=True, sync_to_thread=False),
        },
        middleware=[auth_middleware()],
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    exception_to_problem_detail_map={
                        HTTPException: _http,
                        ServerError: _problem,
                        Exception: _internal,
                    },
                )
            ),
        ],
        on_startup=[open_store],
        on_shutdown=[close_store],
        openapi_config=OpenAPIConfig(
            title="Waymark", version="1", path="/schema", use_handler_docstrings=True
        ),
        debug=False,
    )
