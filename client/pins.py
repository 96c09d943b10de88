"""Kiosk PINs: a short secret a learner sets after signing in with the password on a shared
device, so that coming back (after switching learners or the idle sign-out) takes the PIN
instead of the password.

The journal keeps only :func:`hash_pin`'s salted scrypt hash (never the PIN) and the wrong
tries in a row. Call :func:`set_pin` after a password sign-in and :func:`check_pin` when
the learner comes back; after :data:`MAX_TRIES` wrong PINs in a row the PIN is removed and
the learner signs in with the password again (then may set a new one).

A PIN guards against the next person at the kiosk, not against someone who can read the
device's files: the journal holds the learner's tokens too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from client.errors import BadPin
from client.journal import Account, Journal

MAX_TRIES: Final = 5
"""Wrong PINs in a row after which the learner must use the password again."""
MIN_DIGITS: Final = 4
MAX_DIGITS: Final = 12
# scrypt's cost: 2**14 blocks of 8 x 128 bytes (16 MiB), tens of milliseconds per try.
# A 4-digit PIN would still fall to a patient attacker who has the file; the hash keeps
# the PIN itself (often reused elsewhere) out of it.
_N: Final = 2**14
_R: Final = 8
_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32


@dataclass(frozen=True)
class PinCheck:
    """The answer of :func:`check_pin`: ``ok``, else how many tries are left (0: the PIN
    is gone, or there was none, and the password is needed)."""

    ok: bool
    tries_left: int


def pin_problem(pin: str) -> str:
    """Why ``pin`` cannot be a PIN ('' if it can)."""
    if not (pin.isascii() and pin.isdigit()):
        return "A PIN is digits only."
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        return f"A PIN has {MIN_DIGITS} to {MAX_DIGITS} digits."
    return ""


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` (hex) for ``pin``, with a fresh random salt by default.
    Slow on purpose: call it in a thread from async code."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_KEY_BYTES)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${key.hex()}"


def pin_matches(pin: str, hashed: str) -> bool:
    """Whether ``pin`` is the one :func:`hash_pin` made ``hashed`` from (False for a hash
    in a form it does not know)."""
    try:
        name, n, r, p, salt, key = hashed.split("$")
        if name != "scrypt":
            return False
        want = bytes.fromhex(key)
        got = hashlib.scrypt(
            pin.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


async def set_pin(journal: Journal, account: Account, pin: str) -> None:
    """Store ``pin``'s hash for the learner (replacing any older PIN); raises
    :class:`BadPin` if it is not a valid PIN (see :func:`pin_problem`)."""
    problem = pin_problem(pin)
    if problem:
        raise BadPin(problem)
    await journal.set_pin(account.user_id, await asyncio.to_thread(hash_pin, pin))


async def check_pin(journal: Journal, account: Account, pin: str) -> PinCheck:
    """Try ``pin`` for the learner: a right one resets the count of wrong tries, the
    :data:`MAX_TRIES`-th wrong one in a row removes the PIN."""
    stored = await journal.pin(account.user_id)
    if stored is None:
        return PinCheck(ok=False, tries_left=0)
    right = await asyncio.to_thread(pin_matches, pin, stored[0])
    failures = await journal.pin_tried(account.user_id, right=right, limit=MAX_TRIES)
    return PinCheck(ok=right, tries_left=MAX_TRIES - failures)
