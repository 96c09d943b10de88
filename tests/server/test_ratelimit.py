"""server.ratelimit: a token bucket per scope and device, on an injected clock."""

from __future__ import annotations

from server.ratelimit import MAX_KEYS, Limiter, RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def test_a_minutes_worth_at_once_then_the_steady_rate() -> None:
    clock = Clock()
    limiter = Limiter(RateLimits(rest=60, push=0, connect=6), clock)
    assert [limiter.hit("rest", "a") for _ in range(61)] == [0] * 60 + [1]
    assert limiter.hit("rest", "b") == 0  # per device
    clock.now += 1_000  # one more a second
    assert [limiter.hit("rest", "a") for _ in range(2)] == [0, 1]
    assert [limiter.hit("connect", "a") for _ in range(7)] == [0] * 6 + [10]
    assert all(limiter.hit("push", "a") == 0 for _ in range(10_000))  # 0: no limit
    assert limiter.refused == {"rest": 2, "connect": 1}


def test_the_wait_is_until_one_request_would_pass() -> None:
    clock = Clock()
    limiter = Limiter(RateLimits(rest=2), clock)
    limiter.hit("rest", "a")
    limiter.hit("rest", "a")
    assert limiter.hit("rest", "a") == 30
    clock.now += 29_000
    assert limiter.hit("rest", "a") == 1
    clock.now += 1_000
    assert limiter.hit("rest", "a") == 0


def test_idle_buckets_are_dropped_when_there_are_too_many() -> None:
    clock = Clock()
    limiter = Limiter(RateLimits(connect=1), clock)
    for n in range(MAX_KEYS):
        limiter.hit("connect", f"k{n}")
    clock.now += 60_000  # all refilled
    limiter.hit("connect", "busy")
    assert len(limiter) == 1


def test_a_flood_of_keys_cannot_grow_the_buckets_without_end() -> None:
    clock = Clock()
    limiter = Limiter(RateLimits(connect=1), clock)
    for n in range(MAX_KEYS + 10):
        limiter.hit("connect", f"made-up-{n}")
    assert len(limiter) <= MAX_KEYS
