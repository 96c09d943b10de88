"""Per-device rate limits: REST requests, WebSocket pushes and connection attempts.

Each limit is a token bucket per device: it holds up to ``per_minute`` requests and refills
at ``per_minute`` a minute, so a device may spend a minute's worth at once and then goes at
the steady rate. A refused request learns how many seconds until it would pass (the
``Retry-After``). The defaults are far above what a learner's device does, and above what
``waymark bench`` does with one device (``docs/operations.md``, "Rate limits").

The buckets live in the server process's memory, not in the database: one more write per
request would cost every request, and the limit exists to keep one device from hogging an
instance. Behind a load balancer with N instances, a device that spreads its requests over
all of them gets up to N times the limit. Login attempts are limited in the database
instead (``server.storage.accounts.LoginThrottle``), since those must hold across instances.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal

import msgspec

Scope = Literal["rest", "push", "connect"]
MAX_KEYS: Final = 100_000
"""Buckets kept before full ones (idle long enough to have refilled) are dropped."""


class RateLimits(msgspec.Struct, frozen=True):
    """Requests a device may make per minute in each scope; 0 turns that limit off."""

    rest: int = 1_200
    push: int = 6_000
    connect: int = 120

    def of(self, scope: Scope) -> int:
        return int(getattr(self, scope))


class Limiter:
    """The buckets of one server process, keyed by scope and device (its id, or for a
    connection attempt the hash of the token it presents: it is not authenticated yet)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], int]) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[tuple[Scope, str], tuple[float, int]] = {}  # -> (tokens, at ms)
        self.refused: Counter[Scope] = Counter()  # requests refused per scope (for metrics)

    def __len__(self) -> int:
        """Buckets held."""
        return len(self._buckets)

    def hit(self, scope: Scope, key: str) -> int:
        """Count one request; 0 if it may go ahead, else the seconds until one would."""
        size = self.limits.of(scope)
        if size <= 0:
            return 0
        now = self.clock()
        tokens, at = self._buckets.get((scope, key), (float(size), now))
        tokens = min(float(size), tokens + (now - at) * size / 60_000)
        if tokens >= 1:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            self._buckets[(scope, key)] = (tokens - 1, now)
            return 0
        self._buckets[(scope, key)] = (tokens, now)
        self.refused[scope] += 1
        return max(1, math.ceil((1 - tokens) * 60 / size))

    def _prune(self, now: int) -> None:
        """Forget buckets that have refilled: they behave as new ones would. If that is not
        enough (a flood of made-up tokens at the connection limit), forget the half seen first:
        a forgotten bucket only lets its key start afresh."""
        for (scope, key), (tokens, at) in list(self._buckets.items()):
            size = self.limits.of(scope)
            if tokens + (now - at) * size / 60_000 >= size:
                del self._buckets[(scope, key)]
        if len(self._buckets) >= MAX_KEYS // 2:
            for old in list(self._buckets)[: len(self._buckets) - MAX_KEYS // 2]:
                del self._buckets[old]


def limiter_of(state: object) -> Limiter | None:
    """The app's limiter (``app.state.limiter``), if it has one."""
    found = getattr(state, "limiter", None)
    return found if isinstance(found, Limiter) else None
