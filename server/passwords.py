"""Passwords: argon2id hashes (argon2-cffi), checked off the event loop.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane): about
30 ms a check here, and 19 MiB per check in flight. Hashes of the first releases are
scrypt (``scrypt$<salt>$<digest>``); they still verify, and :func:`check` says they need
rehashing, which the store does on the next successful login. A login for a user that does
not exist checks the password against a dummy hash, so both take the same time and an
attacker cannot tell which names exist.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

HASHER: Final = argon2.PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, type=argon2.Type.ID
)
_SCRYPT: Final = "scrypt$"


def hash_password(password: str) -> str:
    """A new argon2id hash of ``password`` (blocking: call it through :func:`hash_async`)."""
    return HASHER.hash(password)


def check(password: str, stored: str | None) -> tuple[bool, bool]:
    """``(matches, needs_rehash)`` for ``password`` against ``stored`` (``None``: no such
    user, which costs the same and never matches). Blocking."""
    if stored is None:
        _verify(_dummy(), password)
        return False, False
    if stored.startswith(_SCRYPT):
        return _check_scrypt(password, stored), True
    if not _verify(stored, password):
        return False, False
    return True, HASHER.check_needs_rehash(stored)


async def hash_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def check_async(password: str, stored: str | None) -> tuple[bool, bool]:
    return await asyncio.to_thread(check, password, stored)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def scrypt_hash(password: str, *, salt: bytes | None = None) -> str:
    """A hash in the first releases' scheme (kept to check and to test the upgrade)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"{_SCRYPT}{salt.hex()}${digest.hex()}"


def _check_scrypt(password: str, stored: str) -> bool:
    _, salt, _ = ([*stored.split("$"), "", ""])[:3]
    try:
        raw = bytes.fromhex(salt)
    except ValueError:
        return False
    return hmac.compare_digest(scrypt_hash(password, salt=raw), stored)
