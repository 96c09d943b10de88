"""``create_app()``: the Litestar application, read top to bottom."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import CharacterNotInRepertoireError
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
from server.api.events import EventStreams
from server.api.openapi import DESCRIPTION, RouteDefaults, components
from server.api.strict import StrictBodies
from server.auth import auth_middleware
from server.dashboard import LiveFeed, dashboard_router, template_config
from server.errors import ServerError, TooManyRequests
from server.fanout import Hub, Listener
from server.fanout_redis import DEFAULT_CHANNEL_PREFIX, RedisFanout
from server.logs import RequestLogging, echo_request_id
from server.metrics import Metrics, MetricsController, prometheus_config
from server.ratelimit import Limiter, RateLimits
from server.security import cors_config, security_headers
from server.storage.accounts import LoginThrottle, SessionPolicy, TokenPolicy
from server.storage.engine import PostgresEngine
from server.storage.store import STALE_DEVICE_MS, Clock, Store, wall_clock_ms
from server.sync_socket import Connections, sync_endpoint
from sync.events import CLOCK_SKEW_MS
from sync.merge.decide import Policy

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


def _unstorable(exc: CharacterNotInRepertoireError) -> ProblemDetailsException:
    # PostgreSQL text cannot hold NUL (U+0000); such a value in a request is bad input, not
    # a server failure (SQLite stores it, and the look-up simply finds nothing).
    return ProblemDetailsException(
        status_code=400, title="Bad Request", detail="text may not contain NUL (U+0000)"
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
    fanout: str | None = None,
    fanout_channel_prefix: str = DEFAULT_CHANNEL_PREFIX,
    policy: Policy | None = None,
    login_throttle: LoginThrottle | None = None,
    cors_origins: Sequence[str] = (),
    tls: bool = False,
    metrics_token: str | None = None,
    instrumentation: bool = True,
    clock_skew_ms: int = CLOCK_SKEW_MS,
    token_lifetime_s: int = TokenPolicy().access_ms // 1000,
    refresh_lifetime_s: int = TokenPolicy().refresh_ms // 1000,
    rate_limits: RateLimits | None = None,
    session_policy: SessionPolicy | None = None,
) -> Litestar:
    """Build the app for the database at ``db_url``; the store opens (and migrates) at start.
    ``public_url`` is where devices and verifiers reach it (issuer ids, certificate links);
    ``fanout``: a Redis URL to carry live updates between instances instead of PostgreSQL's
    ``LISTEN``/``NOTIFY`` (``server.fanout_redis``); ``policy`` and ``login_throttle`` come
    from the settings (:mod:`server.settings`); ``cors_origins`` empty means no CORS;
    ``tls`` (or an https public URL) adds HSTS; ``metrics_token``, when set, is the bearer
    token ``/metrics`` asks for; ``instrumentation=False`` drops metrics and the request and
    merge log lines (only to measure what they cost: ``waymark bench --scenario overhead``);
    ``clock_skew_ms``: how far ahead of the server's clock an event's time is taken as sent
    (docs/protocol.md, "Time"). Device tokens live ``token_lifetime_s`` (refresh tokens
    ``refresh_lifetime_s``); each device is held to ``rate_limits`` (:class:`RateLimits`).
    Instructors' and admins' web sessions live as ``session_policy`` says; their cookie is
    ``Secure`` when the server is reached over HTTPS."""
    store = Store.for_url(
        db_url,
        clock=clock,
        stale_device_ms=stale_device_ms,
        policy=policy,
        clock_skew_ms=clock_skew_ms,
    )
    hub = Hub(store)
    if fanout is not None:
        hub.backend = RedisFanout(fanout, hub, channel_prefix=fanout_channel_prefix)
        if isinstance(store.engine, PostgresEngine):
            store.engine.notifies = False  # nobody LISTENs: Redis carries the news
    elif isinstance(store.engine, PostgresEngine):
        hub.backend = Listener(store.engine.url, hub)
    live = LiveFeed(store)
    hub.watch(live.announced)
    metrics = Metrics(store.engine.dialect, token=metrics_token) if instrumentation else None
    middleware: list[Any] = [auth_middleware()]
    if metrics is not None:
        store.on_merged = metrics.merged
        hub.on_store_error = metrics.store_error
        middleware = [RequestLogging(), prometheus_config().middleware, *middleware]

    async def open_store(app: Litestar) -> None:
        await store.open()
        await hub.backend.start()
        app.state.store = store
        app.state.hub = hub
        app.state.dashboard_live = live
        app.state.metrics = metrics  # None: instrumentation off
        app.state.public_url = public_url.rstrip("/")
        app.state.login_throttle = login_throttle or LoginThrottle()
        app.state.token_policy = TokenPolicy(token_lifetime_s * 1000, refresh_lifetime_s * 1000)
        app.state.limiter = Limiter(rate_limits or RateLimits(), store.clock)
        app.state.session_policy = session_policy or SessionPolicy()
        app.state.secure_cookies = tls or public_url.startswith("https://")
        if on_ready is not None:
            on_ready(store)

    async def close_store() -> None:
        live.close()
        await hub.backend.stop()
        await store.close()

    app = Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            sync_endpoint,
            *([MetricsController] if metrics is not None else []),
            dashboard_router(),
        ],
        template_config=template_config(),
        dependencies={
            "store": Provide(lambda: store, use_cache=True, sync_to_thread=False),
            "hub": Provide(lambda: hub, use_cache=True, sync_to_thread=False),
        },
        middleware=middleware,
        after_exception=[metrics.after_exception] if metrics is not None else [],
        before_send=[
            echo_request_id,
            security_headers(https=tls or public_url.startswith("https://")),
        ],
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    exception_to_problem_detail_map={
                        HTTPException: _http,
                        ServerError: _problem,
                        CharacterNotInRepertoireError: _unstorable,
                        Exception: _internal,
                    },
                )
            ),
            RouteDefaults(),
            StrictBodies(),
        ],
        on_startup=[open_store],
        cors_config=cors_config(cors_origins),
        on_shutdown=[close_store],
        openapi_config=OpenAPIConfig(
            title="Waymark",
            version="1",
            path="/schema",
            use_handler_docstrings=True,
            components=components(),
            description=DESCRIPTION,
        ),
        debug=False,
    )
    # Drained by a stopping server (``waymark serve``: SIGTERM); /v1/ready says 503 then.
    app.state.sync_connections = Connections()
    app.state.sync_connections.on_drain.append(live.close)
    # Ended by a stopping server too: a server-sent stream never holds its stop.
    app.state.event_streams = EventStreams()
    return app
