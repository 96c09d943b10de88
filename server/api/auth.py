"""Login, token refresh and logout: a device's bearer token for a learner."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, delete, post
from litestar.exceptions import NotAuthorizedException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.api.common import AuthRequest, errors
from server.auth import token_policy
from server.errors import TooManyRequests
from server.storage.accounts import LoginThrottle, login_keys
from server.storage.store import Store
from sync.protocol.messages import LoginRequest, LoginResponse, RefreshRequest, TokenResponse

if TYPE_CHECKING:
    from server.metrics import Metrics


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post(
        "/login", status_code=HTTP_201_CREATED, exclude_from_auth=True, responses=errors(401, 429)
    )
    async def login(
        self, data: LoginRequest, store: Store, request: Request[Any, Any, Any]
    ) -> LoginResponse:
        """Register this device for the learner and return its bearer and refresh tokens
        (shown once).

        Failed logins slow down the next ones for that name and for that client address
        (429 with ``Retry-After``; ``docs/operations.md``, "Logins")."""
        throttle: LoginThrottle = getattr(request.app.state, "login_throttle", LoginThrottle())
        address = request.client.host if request.client else "unknown"
        keys = login_keys(data.username, address)
        metrics: Metrics | None = getattr(request.app.state, "metrics", None)
        locked = await store.login_locked_ms(keys)
        if locked:
            if metrics is not None:
                metrics.login_failed("locked")
                metrics.limited("login")
            raise _locked(locked)
        user = await store.authenticate_user(data.username, data.password)
        if user is None:
            if metrics is not None:
                metrics.login_failed("wrong_password")
            lock = await store.login_failed(keys, throttle)
            if lock:
                if metrics is not None:
                    metrics.limited("login")
                raise _locked(lock)
            raise NotAuthorizedException("wrong user name or password")
        await store.login_succeeded(keys[0])
        device, pair = await store.register_device_tokens(user.id, data.device_name or "device")
        return LoginResponse(
            user.id,
            device.id,
            pair.access,
            user.username,
            user.timezone,
            user.role,
            user.plan,
            refresh_token=pair.refresh,
            expires_in=token_policy(request.app.state).access_ms // 1000,
        )

    @post("/refresh", status_code=HTTP_200_OK, exclude_from_auth=True, responses=errors(401, 403))
    async def refresh(
        self, data: RefreshRequest, store: Store, request: Request[Any, Any, Any]
    ) -> TokenResponse:
        """Exchange the refresh token for a new bearer and refresh token; the old ones stop
        working. A refresh token works once: presenting it again revokes the device (403),
        as only a stolen copy would be presented twice."""
        policy = token_policy(request.app.state)
        pair = await store.refresh_device(data.refresh_token, policy)
        return TokenResponse(pair.access, pair.refresh, policy.access_ms // 1000)

    @delete("/device", status_code=HTTP_204_NO_CONTENT)
    async def log_out(self, store: Store, request: AuthRequest) -> None:
        """Log this device out: its tokens are revoked on the server at once."""
        await store.log_out(request.user.device)


def _locked(ms: int) -> TooManyRequests:
    seconds = max(1, math.ceil(ms / 1000))
    return TooManyRequests(
        f"too many failed logins for this name or address: try again in {seconds} s", seconds
    )
