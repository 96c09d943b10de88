"""Bearer-token authentication for the REST API (Litestar's authentication middleware).

Tokens are per device, stored hashed, revocable, and expire (``TokenPolicy``; a device
refreshes them, ``server/api/auth.py``). Each device's requests are rate limited here too,
once it is known (``server/ratelimit.py``). The WebSocket authenticates in its ``hello``
instead (one connection may carry several learners of a kiosk).
"""

from __future__ import annotations

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
from server.storage.accounts import TokenPolicy
from server.storage.store import Device, Store, User

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


class Principal(msgspec.Struct, frozen=True):
    user: User
    device: Device

    @property
    def can_see_others(self) -> bool:
        return self.user.role in ("instructor", "admin")


class TokenAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "send 'Authorization: Bearer <token>' (from /v1/auth/login)"
            )
        store: Store = connection.app.state.store
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
        limiter = limiter_of(connection.app.state)
        if limiter is not None and (wait := limiter.hit("rest", device.id)):
            if (metrics := getattr(connection.app.state, "metrics", None)) is not None:
                metrics.limited("rest")
            raise TooManyRequests(
                f"too many requests from this device: try again in {wait} s", wait
            )
        user = await store.user_by_id(device.user_id)
        if user is None:
            raise NotAuthorizedException("the token's user no longer exists")
        return AuthenticationResult(user=Principal(user, device), auth=token)


def token_policy(state: object) -> TokenPolicy:
    """The app's token lifetimes (``app.state.token_policy``), else the defaults."""
    found = getattr(state, "token_policy", None)
    return found if isinstance(found, TokenPolicy) else TokenPolicy()


def auth_middleware() -> DefineMiddleware:
    scopes: Scopes = {ScopeType.HTTP}
    return DefineMiddleware(
        TokenAuthentication, exclude=OPENAPI_PATHS, exclude_from_auth_key=PUBLIC, scopes=scopes
    )
