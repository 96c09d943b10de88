"""Authentication for the REST API (Litestar's authentication middleware).

Three credentials, never interchangeable:

* a device's **bearer token** (``Authorization: Bearer …``): per device, stored hashed,
  revocable, expiring (``TokenPolicy``; a device refreshes them, ``server/api/auth.py``);
* an instructor's or admin's **web session** (the ``waymark_session`` cookie, from
  ``POST /v1/auth/session``) for the web pages: it ends after an idle time and at an
  absolute end (``SessionPolicy``), and since a browser sends cookies by itself, every
  unsafe request (POST, PUT, PATCH, DELETE) on a session must also carry the session's
  ``X-CSRF-Token``. A learner has no web session; the cookie is not a device and opens no
  sync connection;
* another system's **service token** (``Authorization: Bearer wst_…``, ``docs/events.md``):
  scoped, no device and no user. It may call only the handlers that name the scope they
  accept for it (opt ``service_scope``, :data:`SERVICE_SCOPE`), and only with that scope:
  elsewhere 403; revoked or unknown, 401.

A request with an ``Authorization`` header is judged by it alone. Each device's (or
session's) requests are rate limited here too, once it is known (``server/ratelimit.py``).
The WebSocket authenticates in its ``hello`` instead (one connection may carry several
learners of a kiosk).
"""

from __future__ import annotations

import hmac
from typing import Final

import msgspec
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.types import Scopes

from server.errors import TokenExpired, TooManyRequests
from server.ratelimit import limiter_of
from server.storage.accounts import (
    SessionPolicy,
    TokenPolicy,
    WebSession,
    csrf_token,
    hash_token,
)
from server.storage.services import PREFIX as SERVICE_PREFIX
from server.storage.services import ServiceToken
from server.storage.store import Device, Store, User

SERVICE_SCOPE: Final = "service_scope"
"""The handler opt naming the scope a service token needs to call it
(``@get(..., opt={SERVICE_SCOPE: "events:read"})``); a handler without it refuses service
tokens."""

PUBLIC: Final = "exclude_from_auth"
"""A route handler declared with ``exclude_from_auth=True`` (Litestar's opt key) is
public: health, readiness, login, and what anyone holding a certificate link may check.
Public is a property of the handler, never of a path pattern, so no path parameter (a
learner called ``schema``, say) can make a route public."""

EXPIRED_CHALLENGE: Final = 'Bearer error="invalid_token", error_description="token expired"'
"""RFC 6750's ``WWW-Authenticate`` for an expired token: refresh it, then try again."""

OPENAPI_PATHS: Final = ["^/schema(?:/|$)"]
"""Litestar's OpenAPI documents (``/schema``, ``/schema/openapi.json``, ...), whose handlers
Litestar makes itself; anchored, so only paths that begin with ``/schema`` match."""


SESSION_COOKIE: Final = "waymark_session"
CSRF_HEADER: Final = "x-csrf-token"
WEB_ROLES: Final = ("instructor", "admin")
"""Who may have a web session: the web pages are for the people who look after learners."""
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class Principal(msgspec.Struct, frozen=True):
    """Who a request is from: a user and their device (bearer token), a user and their
    web session (cookie), or another system (service token; ``user`` is then a stand-in
    with role ``service``, not an account); exactly one of the three."""

    user: User
    device: Device | None
    session: WebSession | None = None
    service: ServiceToken | None = None

    @property
    def can_see_others(self) -> bool:
        """Staff, or a service token (which reaches only the handlers that accept its
        scope: :data:`SERVICE_SCOPE`)."""
        return self.user.role in ("instructor", "admin") or self.service is not None


def service_principal(token: ServiceToken) -> Principal:
    """The principal of a service token: no device, no session, a stand-in user."""
    name = f"service:{token.name}"
    return Principal(User(name, name, "service", "UTC", token.created_at, 0), None, None, token)


class TokenAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization")
        if header is None and (cookie := connection.cookies.get(SESSION_COOKIE)):
            return await _by_session(connection, cookie)
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "send 'Authorization: Bearer <token>' (from /v1/auth/login)"
            )
        store: Store = connection.app.state.store
        if token.strip().startswith(SERVICE_PREFIX):
            return await _by_service_token(connection, store, token.strip())
        policy = token_policy(connection.app.state)
        try:
            device = await store.device_for_token(token.strip(), policy)
        except TokenExpired as err:
            raise NotAuthorizedException(
                err.detail, headers={"WWW-Authenticate": EXPIRED_CHALLENGE}
            ) from None
        if device is None:
            raise NotAuthorizedException("unknown token: log in again")
        if device.revoked_at is not None:
            raise PermissionDeniedException(
                "this device was revoked (logged out, or by an administrator)"
            )
        _limit(connection, device.id)
        user = await store.user_by_id(device.user_id)
        if user is None:
            raise NotAuthorizedException("the token's user no longer exists")
        return AuthenticationResult(user=Principal(user, device), auth=token)


async def _by_service_token(
    connection: ASGIConnection,  # type: ignore[type-arg]
    store: Store,
    token: str,
) -> AuthenticationResult:
    """A service token's request: a live token, a handler that accepts service tokens, and
    the scope it asks for."""
    found = await store.service_token(token)
    if found is None:
        raise NotAuthorizedException("unknown service token")
    if found.revoked_at is not None:
        raise NotAuthorizedException("this service token was revoked")
    wanted = connection.route_handler.opt.get(SERVICE_SCOPE)
    if not isinstance(wanted, str):
        raise PermissionDeniedException("service tokens may not use this endpoint")
    if wanted not in found.scopes:
        raise PermissionDeniedException(f"this service token lacks the scope {wanted!r}")
    _limit(connection, f"service:{found.name}")
    return AuthenticationResult(user=service_principal(found), auth=token)


async def _by_session(connection: ASGIConnection, cookie: str) -> AuthenticationResult:  # type: ignore[type-arg]
    """A web session's request: live session, a user who may have one, and for an unsafe
    method the session's CSRF token."""
    store: Store = connection.app.state.store
    session = await store.web_session(cookie, session_policy(connection.app.state))
    if session is None:
        raise NotAuthorizedException("your web session ended: sign in again")
    user = await store.user_by_id(session.user_id)
    if user is None or user.role not in WEB_ROLES:
        raise NotAuthorizedException("this account no longer has web access: sign in again")
    if connection.scope.get("method", "GET") not in _SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(cookie).encode()):
            raise PermissionDeniedException(
                "send the session's CSRF token in X-CSRF-Token (from POST /v1/auth/session)"
            )
    _limit(connection, f"session:{hash_token(cookie)[:16]}")
    return AuthenticationResult(user=Principal(user, None, session), auth=cookie)


def _limit(connection: ASGIConnection, key: str) -> None:  # type: ignore[type-arg]
    limiter = limiter_of(connection.app.state)
    if limiter is not None and (wait := limiter.hit("rest", key)):
        if (metrics := getattr(connection.app.state, "metrics", None)) is not None:
            metrics.limited("rest")
        raise TooManyRequests(f"too many requests from this device: try again in {wait} s", wait)


def session_policy(state: object) -> SessionPolicy:
    """The app's web-session lifetimes (``app.state.session_policy``), else the defaults."""
    found = getattr(state, "session_policy", None)
    return found if isinstance(found, SessionPolicy) else SessionPolicy()


def token_policy(state: object) -> TokenPolicy:
    """The app's token lifetimes (``app.state.token_policy``), else the defaults."""
    found = getattr(state, "token_policy", None)
    return found if isinstance(found, TokenPolicy) else TokenPolicy()


def auth_middleware() -> DefineMiddleware:
    scopes: Scopes = {ScopeType.HTTP}
    return DefineMiddleware(
        TokenAuthentication, exclude=OPENAPI_PATHS, exclude_from_auth_key=PUBLIC, scopes=scopes
    )
