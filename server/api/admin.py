"""Admins' REST: service tokens (``docs/events.md``, "Service tokens"): make one (the token
is in this answer only), list them, revoke one."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.api.common import AuthRequest, errors
from server.auth import Principal
from server.errors import Forbidden, NotFound
from server.storage.services import NAME_PATTERN, SCOPES, ServiceToken
from server.storage.store import Store

Scope = Literal["events:read", "progress:read", "users:write", "catalog:write"]


class NewToken(msgspec.Struct, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
    """1 to 64 of a-z 0-9 _ . -, beginning with a letter or digit; never reused."""
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=len(SCOPES))]


class MadeToken(msgspec.Struct, frozen=True):
    """A new service token: ``token`` is shown this once, and stored only hashed."""

    token: str
    service: ServiceToken


class TokenList(msgspec.Struct, frozen=True):
    tokens: list[ServiceToken]


def _admin(principal: Principal) -> None:
    if principal.user.role != "admin" or principal.service is not None:
        raise Forbidden("only admins manage service tokens")


class ServiceTokenController(Controller):
    path = "/v1/admin/tokens"
    tags = ["admin"]

    @post("/", status_code=HTTP_201_CREATED, responses=errors(403, 409))
    async def add(self, request: AuthRequest, store: Store, data: NewToken) -> MadeToken:
        """Make a service token with scopes; the answer holds the token, once."""
        _admin(request.user)
        token, made = await store.add_service_token(data.name, data.scopes)
        return MadeToken(token, made)

    @get("/", responses=errors(403))
    async def list_tokens(self, request: AuthRequest, store: Store) -> TokenList:
        """Every service token (never the tokens themselves), revoked ones too."""
        _admin(request.user)
        return TokenList(await store.service_tokens())

    @delete("/{name:str}", status_code=HTTP_204_NO_CONTENT, responses=errors(403, 404))
    async def revoke(self, request: AuthRequest, store: Store, name: str) -> None:
        """Revoke a service token at once: its next request is 401."""
        _admin(request.user)
        if not await store.revoke_service_token(name):
            raise NotFound(f"no live service token named {name!r}")
