"""Login: a device's bearer token for a learner."""

from __future__ import annotations

from litestar import Controller, post
from litestar.exceptions import NotAuthorizedException
from litestar.status_codes import HTTP_201_CREATED

from server.storage.store import Store
from sync.protocol.messages import LoginRequest, LoginResponse


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=HTTP_201_CREATED, exclude_from_auth=True)
    async def login(self, data: LoginRequest, store: Store) -> LoginResponse:
        """Register this device for the learner and return its bearer token (shown once)."""
        user = await store.authenticate_user(data.username, data.password)
        if user is None:
            raise NotAuthorizedException("wrong user name or password")
        device, token = await store.register_device(user.id, data.device_name or "device")
        return LoginResponse(
            user.id, device.id, token, user.username, user.timezone, user.role, user.plan
        )
