"""The login throttle in the store: failed logins per name and per address, a lock-out
that doubles per further failure up to a cap, a window after which failures are forgotten,
and a success that clears the name's count. Both engines; the store's clock is injected."""

from __future__ import annotations

from server.storage.accounts import LoginThrottle, login_keys
from server.storage.store import Store

POLICY = LoginThrottle(user_free=3, address_free=5, window_ms=60_000, base_ms=1_000, max_ms=8_000)


def advance(store: Store, ms: int) -> None:
    store.clock.now += ms  # type: ignore[attr-defined]


def test_the_lock_doubles_after_the_free_failures_up_to_the_cap() -> None:
    assert [POLICY.lock_ms(n, 3) for n in range(1, 9)] == [
        0,
        0,
        0,
        1_000,
        2_000,
        4_000,
        8_000,
        8_000,
    ]
    assert POLICY.lock_ms(10**6, 3) == 8_000


def test_keys_are_the_case_folded_name_and_the_address() -> None:
    assert login_keys("Ana", "10.0.0.7") == ("user:ana", "addr:10.0.0.7")


async def test_failures_lock_the_name_out_for_longer_and_longer(store: Store) -> None:
    keys = login_keys("ana", "10.0.0.1")
    assert [await store.login_failed(keys, POLICY) for _ in range(4)] == [0, 0, 0, 1_000]
    assert 0 < await store.login_locked_ms(keys) <= 1_000
    # The same name from another address is locked too; another name from here is not.
    assert await store.login_locked_ms(login_keys("ANA", "10.0.0.2")) > 0
    assert await store.login_locked_ms(login_keys("bob", "10.0.0.1")) == 0
    advance(store, 1_000)
    assert await store.login_locked_ms(keys) == 0
    assert await store.login_failed(keys, POLICY) == 2_000


async def test_an_address_guessing_many_names_is_locked_out(store: Store) -> None:
    locks = [await store.login_failed(login_keys(f"u{i}", "10.0.0.9"), POLICY) for i in range(6)]
    assert locks == [0, 0, 0, 0, 0, 1_000]
    assert await store.login_locked_ms(login_keys("someone-else", "10.0.0.9")) > 0


async def test_failures_older_than_the_window_are_forgotten(store: Store) -> None:
    keys = login_keys("ana", "10.0.0.1")
    for _ in range(2):
        await store.login_failed(keys, POLICY)
    advance(store, 60_001)
    assert await store.login_failed(keys, POLICY) == 0  # a new window: the first failure


async def test_a_success_clears_the_names_count_but_not_the_addresss(store: Store) -> None:
    keys = login_keys("ana", "10.0.0.1")
    for _ in range(2):
        await store.login_failed(keys, POLICY)
    await store.login_succeeded(keys[0])
    # The name starts over (failures 1 and 2 are free again) ...
    assert [await store.login_failed(keys, POLICY) for _ in range(2)] == [0, 0]
    # ... the address did not: its 5th failure is free, its 6th locks it.
    other = login_keys("bob", "10.0.0.1")
    assert [await store.login_failed(other, POLICY) for _ in range(2)] == [0, 1_000]
