"""Login, token refresh and logout: a device's bearer token for a learner; and the web
session of an instructor or admin (a cookie for the web pages, ``server/auth.py``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.api.common import AuthRequest, errors
from server.auth import SESSION_COOKIE, WEB_ROLES, session_policy, token_policy
from server.errors import TooManyRequests
from server.storage.accounts import (
    LoginThrottle,
    NewWebSession,
    User,
    WebSession,
    csrf_token,
    login_keys,
)
from server.storage.store import Store
from sync.protocol.messages import LoginRequest, LoginResponse, RefreshRequest, TokenResponse

if TYPE_CHECKING:
    from server.metrics import Metrics


class SessionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class SessionResponse(msgspec.Struct, frozen=True):
    """A web session: whose it is, when it ends at the latest (ms since the epoch; an idle
    one ends sooner), and the CSRF token every unsafe request must send as
    ``X-CSRF-Token`` (given at sign-in, and again by ``GET /v1/auth/session``)."""

    username: str
    role: str
    expires_at: int
    idle_timeout_s: int
    csrf_token: str


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
        (shown once). With the refresh token the client holds for the learner already,
        that device is kept and gets new tokens (a kiosk signing a learner in again).

        Failed logins slow down the next ones for that name and for that client address
        (429 with ``Retry-After``; ``docs/operations.md``, "Logins")."""
        user = await authenticate(store, request, data.username, data.password)
        policy = token_policy(request.app.state)
        kept = (
            await store.relogin_device(user.id, data.refresh_token, policy)
            if data.refresh_token
            else None
        )
        device, pair = kept or await store.register_device_tokens(
            user.id, data.device_name or "device"
        )
        return LoginResponse(
            user.id,
            device.id,
            pair.access,
            user.username,
            user.timezone,
            user.role,
            user.plan,
            refresh_token=pair.refresh,
            expires_in=policy.access_ms // 1000,
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

    @delete("/device", status_code=HTTP_204_NO_CONTENT, responses=errors(403))
    async def log_out(self, store: Store, request: AuthRequest) -> None:
        """Log this device out: its tokens are revoked on the server at once."""
        device = request.user.device
        if device is None:
            raise PermissionDeniedException(
                "a web session is not a device: DELETE /v1/auth/session"
            )
        await store.log_out(device)

    @post(
        "/session",
        status_code=HTTP_201_CREATED,
        exclude_from_auth=True,
        responses=errors(401, 403, 429),
    )
    async def sign_in(
        self, data: SessionRequest, store: Store, request: Request[Any, Any, Any]
    ) -> Response[SessionResponse]:
        """Sign an instructor or admin in on a browser (the web pages): sets the
        ``waymark_session`` cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) and
        returns the session's CSRF token. Learners use a device (``/v1/auth/login``): 403.
        Failed sign-ins count with failed logins (429 with ``Retry-After``)."""
        user = await authenticate(store, request, data.username, data.password)
        if user.role not in WEB_ROLES:
            raise PermissionDeniedException(
                "web sessions are for instructors and admins; learners sign in on a device"
            )
        policy = session_policy(request.app.state)
        new, cookie = await start_web_session(store, request, user)
        return Response(
            _session(user, new.session, policy.idle_ms, csrf_token(new.token)),
            status_code=HTTP_201_CREATED,
            cookies=[cookie],
        )

    @get("/session", responses=errors(401, 403))
    async def session(self, store: Store, request: AuthRequest) -> SessionResponse:
        """The web session this browser is signed in with (401 if none), with its CSRF
        token again: a page loaded later reads it from here."""
        principal = request.user
        if principal.session is None:
            raise PermissionDeniedException(
                "this is a device's token, not a web session (POST /v1/auth/session)"
            )
        idle = session_policy(request.app.state).idle_ms
        return _session(principal.user, principal.session, idle, csrf_token(request.auth))

    @delete("/session", status_code=HTTP_204_NO_CONTENT, responses=errors(401, 403))
    async def sign_out(self, store: Store, request: AuthRequest) -> Response[None]:
        """Sign this browser out: its session ends on the server at once and the cookie
        is cleared."""
        if request.user.session is None:
            raise PermissionDeniedException(
                "this is a device's token, not a web session: DELETE /v1/auth/device"
            )
        await store.end_web_session(request.auth)
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            cookies=[Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0, expires=0)],
        )


async def start_web_session(
    store: Store, request: Request[Any, Any, Any], user: User
) -> tuple[NewWebSession, Cookie]:
    """A new web session for ``user`` (an instructor or admin: the caller checked) and the
    ``waymark_session`` cookie that carries it (HttpOnly, SameSite=Strict, Secure over
    HTTPS); used by ``POST /v1/auth/session`` and the dashboard's sign-in form."""
    policy = session_policy(request.app.state)
    new = await store.create_web_session(user.id, policy)
    secure = bool(getattr(request.app.state, "secure_cookies", False))
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=new.token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=policy.absolute_ms // 1000,
    )
    return new, cookie


async def authenticate(
    store: Store, request: Request[Any, Any, Any], username: str, password: str
) -> User:
    """The user with this name and password, counting a failure for the name and the
    client address (raises :class:`TooManyRequests` once locked), or raises
    :class:`NotAuthorizedException`. Every password check goes through here (device
    logins, web sessions, the dashboard's sign-in form): one throttle for all."""
    throttle: LoginThrottle = getattr(request.app.state, "login_throttle", LoginThrottle())
    address = request.client.host if request.client else "unknown"
    keys = login_keys(username, address)
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    locked = await store.login_locked_ms(keys)
    if locked:
        if metrics is not None:
            metrics.login_failed("locked")
            metrics.limited("login")
        raise _locked(locked)
    user = await store.authenticate_user(username, password)
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
    return user


def _session(user: User, session: WebSession, idle_ms: int, csrf: str) -> SessionResponse:
    return SessionResponse(user.username, user.role, session.expires_at, idle_ms // 1000, csrf)


def _locked(ms: int) -> TooManyRequests:
    seconds = max(1, math.ceil(ms / 1000))
    return TooManyRequests(
        f"too many failed logins for this name or address: try again in {seconds} s", seconds
    )
