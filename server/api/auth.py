"""Login: a device's bearer token for a learner."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.status_codes import HTTP_201_CREATED

from server.api.common import errors
from server.errors import TooManyRequests
from server.storage.accounts import LoginThrottle, login_keys
from server.storage.store import Store
from sync.protocol.messages import LoginRequest, LoginResponse

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
        """Register this device for the learner and return its bearer token (shown once).

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
        device, token = await store.register_device(user.id, data.device_name or "device")
        return LoginResponse(
            user.id, device.id, token, user.username, user.timezone, user.role, user.plan
        )


def _locked(ms: int) -> TooManyRequests:
    seconds = max(1, math.ceil(ms / 1000))
    return TooManyRequests(
        f"too many failed logins for this name or address: try again in {seconds} s", seconds
    )
