"""Service tokens: other systems' credentials, with scopes (``docs/events.md``, "Service
tokens"). A token is made here, returned once, and stored as its SHA-256 hash; revoking
keeps the row, so a revoked token is told apart from an unknown one and no name is reused.

:meth:`ServiceTokenStore.add_service_token` raises :class:`~server.errors.Conflict` for a
name in use and :class:`~server.errors.BadRequest` for a bad name or scope."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Final

import msgspec

from server.errors import BadRequest, Conflict
from server.storage.accounts import hash_token
from server.storage.base import StoreBase
from server.storage.engine import Row

SCOPES: Final = ("events:read", "progress:read", "users:write", "catalog:write")
"""Every scope a service token may carry."""
PREFIX: Final = "wst_"
"""How a service token begins (a device token never does: ``secrets.token_urlsafe``)."""
NAME_PATTERN: Final = "^[a-z0-9][a-z0-9_.-]{0,63}$"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # NAME_PATTERN, matched whole


class ServiceToken(msgspec.Struct, frozen=True):
    """A service token as listed (never the token itself)."""

    name: str
    scopes: list[str]
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, deduplicated in :data:`SCOPES` order; raises :class:`BadRequest` naming
    an unknown one (or for none at all)."""
    wanted = {s.strip() for s in scopes if s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise BadRequest(f"unknown scope {unknown[0]!r}: the scopes are {', '.join(SCOPES)}")
    if not wanted:
        raise BadRequest(f"give at least one scope: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in wanted]


def _token(r: Row) -> ServiceToken:
    used, revoked = r["last_used_at"], r["revoked_at"]
    return ServiceToken(
        str(r["name"]),
        str(r["scopes"]).split(),
        int(r["created_at"]),
        None if used is None else int(used),
        None if revoked is None else int(revoked),
    )


class ServiceTokenStore(StoreBase):
    """Service tokens."""

    async def add_service_token(self, name: str, scopes: Iterable[str]) -> tuple[str, ServiceToken]:
        """Make a token named ``name`` with ``scopes``: ``(the token, once; its listing)``."""
        if not _NAME.fullmatch(name):
            raise BadRequest(
                f"bad token name {name[:70]!r}: 1 to 64 of a-z 0-9 _ . -, beginning with a"
                " letter or digit"
            )
        granted = check_scopes(scopes)
        token = PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        async with self.engine.transaction() as txn:
            taken = await txn.fetchval("SELECT 1 FROM service_tokens WHERE name = ?", name)
            if taken is not None:
                raise Conflict(f"a service token named {name!r} exists (names are never reused)")
            await txn.execute(
                "INSERT INTO service_tokens (token_hash, name, scopes, created_at)"
                " VALUES (?, ?, ?, ?)",
                hash_token(token),
                name,
                " ".join(granted),
                now,
            )
        return token, ServiceToken(name, granted, now)

    async def service_tokens(self) -> list[ServiceToken]:
        """Every service token, revoked ones too, by name."""
        rows = await self.engine.fetch(
            "SELECT name, scopes, created_at, last_used_at, revoked_at FROM service_tokens"
            " ORDER BY name"
        )
        return [_token(r) for r in rows]

    async def revoke_service_token(self, name: str) -> bool:
        """Revoke the token named ``name`` at once; False if there is none (or it was
        revoked already)."""
        async with self.engine.transaction() as txn:
            found = await txn.fetchval(
                "SELECT 1 FROM service_tokens WHERE name = ? AND revoked_at IS NULL", name
            )
            if found is None:
                return False
            await txn.execute(
                "UPDATE service_tokens SET revoked_at = ? WHERE name = ?", self.clock(), name
            )
        return True

    async def service_token(self, token: str) -> ServiceToken | None:
        """The token's listing (revoked or not), None if unknown; notes its use (at most
        once a minute, so a busy consumer does not write on every request)."""
        digest = hash_token(token)
        row = await self.engine.fetchrow(
            "SELECT name, scopes, created_at, last_used_at, revoked_at FROM service_tokens"
            " WHERE token_hash = ?",
            digest,
        )
        if row is None:
            return None
        found = _token(row)
        now = self.clock()
        if found.revoked_at is None and (found.last_used_at or 0) < now - 60_000:
            async with self.engine.transaction() as txn:
                await txn.execute(
                    "UPDATE service_tokens SET last_used_at = ? WHERE token_hash = ?", now, digest
                )
        return found
