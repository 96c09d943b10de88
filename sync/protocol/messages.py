"""Wire messages of the sync protocol (``docs/protocol.md`` is the normative text).

Every message is a msgspec Struct tagged by its ``type`` field. Fields are only ever added
at the end with defaults, and unknown fields are ignored, so old and new peers interoperate.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from sync.events import AtMs, Event, Hlc, Seq, Zone

PROTOCOL_VERSION: Final = 1
MAX_BATCH: Final = 500
MAX_ACCOUNTS: Final = 32
FEED_PAGE: Final = 500

Cursor = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Msg(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=False):
    pass


# -- device → server ----------------------------------------------------------------------


class HelloAccount(msgspec.Struct, frozen=True):
    token: Token
    cursor: Cursor = 0
    clock: Hlc | None = None
    """The device's clock, ticked for the hello: everything it records afterwards, for any
    learner, is stamped above it (protocol.md, ``hello``)."""
    recorded: Cursor | msgspec.UnsetType = msgspec.UNSET
    """The highest ``seq`` the device has recorded for this learner, pushed or not (0:
    none). When the server has merged all of them, ``clock`` lets the device's mark rise to
    it; the ones above the server's watermark are work the device holds and has not sent
    (reports' freshness). Left out (``UNSET``, as by clients before it): not said, so that
    work is unknown; for the horizon it counts as 0, as it always did."""


class Hello(_Msg, frozen=True, tag="hello"):
    """First message of a connection: one entry per learner signed in on this device."""

    accounts: Annotated[list[HelloAccount], msgspec.Meta(min_length=1, max_length=MAX_ACCOUNTS)]
    protocol: int = PROTOCOL_VERSION
    client: Annotated[str, msgspec.Meta(max_length=200)] = ""
    catalog_version: str = ""


class Push(_Msg, frozen=True, tag="push"):
    """Events of one device (one learner on it), in increasing ``seq`` order."""

    batch: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    device_id: DeviceId
    events: list[Event]


class Pull(_Msg, frozen=True, tag="pull"):
    """Ask for the learner's feed after ``cursor`` (the server also sends it unasked)."""

    user_id: DeviceId
    cursor: Cursor = 0


ClientMessage = Hello | Push | Pull


# -- server → device ----------------------------------------------------------------------


class WelcomeAccount(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    device_id: str
    acked_seq: int
    feed_head: int
    timezone: str = "UTC"
    role: str = "learner"
    plan: str = "free"


class Refusal(msgspec.Struct, frozen=True):
    index: int
    code: str
    reason: str


class Welcome(_Msg, frozen=True, tag="welcome"):
    accounts: list[WelcomeAccount]
    refused: list[Refusal] = []
    protocol: int = PROTOCOL_VERSION
    server: str = ""
    catalog_version: str = ""


class CatalogMsg(_Msg, frozen=True, tag="catalog"):
    version: str
    catalog: dict[str, Any]


class EventRejection(msgspec.Struct, frozen=True):
    seq: int
    code: str
    reason: str


class Ack(_Msg, frozen=True, tag="ack"):
    """Everything up to ``acked_seq`` of ``device_id`` is durably committed."""

    batch: int
    device_id: str
    acked_seq: int
    accepted: int = 0
    duplicates: int = 0
    rejected: list[EventRejection] = []
    feed_head: int = 0


class FeedEntry(msgspec.Struct, frozen=True):
    """One row of a learner's feed: an accepted device event or a server decision."""

    user_seq: int
    origin: Literal["device", "server"]
    type: str
    body: dict[str, Any]
    hlc: Hlc
    at: AtMs
    tz: Zone = ""
    device_id: str | None = None
    seq: Seq | None = None


class Feed(_Msg, frozen=True, tag="feed"):
    user_id: str
    entries: list[FeedEntry]
    head: int
    more: bool = False


class Error(_Msg, frozen=True, tag="error"):
    code: str
    message: str
    path: str | None = None
    retry_after: int | None = None  # rate_limited: seconds until it may pass
    batch: int | None = None  # rate_limited: the push refused (not applied; send it again)


ServerMessage = Welcome | CatalogMsg | Ack | Feed | Error


# -- REST wire types shared by server and device (docs/protocol.md, "Login") --------------


class LoginRequest(msgspec.Struct, frozen=True):
    """``POST /v1/auth/login``. ``refresh_token``: the one this client holds for the
    learner already; the server then keeps that device (new tokens for it) instead of
    registering another one, when the token is the learner's, unused and not expired."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    device_name: Annotated[str, msgspec.Meta(max_length=200)] = "device"
    refresh_token: Annotated[str, msgspec.Meta(max_length=200)] = ""


class LoginResponse(msgspec.Struct, frozen=True):
    """``POST /v1/auth/login`` answer: the device's identity and bearer token, the refresh
    token that renews it, and the seconds the bearer token lives."""

    user_id: str
    device_id: str
    token: str
    username: str
    timezone: str = "UTC"
    role: str = "learner"
    plan: str = "free"
    refresh_token: str = ""
    expires_in: int = 0


class RefreshRequest(msgspec.Struct, frozen=True):
    """``POST /v1/auth/refresh``: a refresh token, exchanged once."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TokenResponse(msgspec.Struct, frozen=True):
    """``POST /v1/auth/refresh`` answer: the device's new bearer and refresh tokens."""

    token: str
    refresh_token: str
    expires_in: int


class CatalogResponse(msgspec.Struct, frozen=True):
    """``GET /v1/catalog`` answer."""

    version: str
    catalog: dict[str, Any]
