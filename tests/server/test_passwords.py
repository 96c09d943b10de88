"""Passwords: argon2id, checked in a worker thread, the first releases' scrypt hashes
upgraded on the next successful login, and the same work for names that do not exist."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server import passwords
from server.storage.store import Store


async def stored_hash(store: Store, user_id: str) -> str:
    value = await store.engine.fetchval("SELECT password_hash FROM users WHERE id = ?", user_id)
    assert isinstance(value, str)
    return value


async def test_new_users_get_argon2id_hashes(store: Store) -> None:
    user = await store.create_user("ann", "correct horse")
    stored = await stored_hash(store, user.id)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in stored
    assert await store.authenticate_user("ann", "correct horse") == user
    assert await store.authenticate_user("ann", "wrong") is None


async def test_a_scrypt_hash_still_logs_in_and_is_upgraded_to_argon2id(store: Store) -> None:
    user = await store.create_user("ann", "old secret")
    legacy = passwords.scrypt_hash("old secret")
    async with store.engine.transaction() as txn:
        await txn.execute("UPDATE users SET password_hash = ? WHERE id = ?", legacy, user.id)
    assert await store.authenticate_user("ann", "wrong") is None
    assert await stored_hash(store, user.id) == legacy  # a failed login changes nothing
    assert await store.authenticate_user("ann", "old secret") == user
    upgraded = await stored_hash(store, user.id)
    assert upgraded.startswith("$argon2id$")
    assert await store.authenticate_user("ann", "old secret") == user
    assert await stored_hash(store, user.id) == upgraded  # once


async def test_weaker_argon2_parameters_are_upgraded_too(store: Store) -> None:
    user = await store.create_user("ann", "pw")
    weak = passwords.argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    async with store.engine.transaction() as txn:
        await txn.execute("UPDATE users SET password_hash = ? WHERE id = ?", weak, user.id)
    assert await store.authenticate_user("ann", "pw") == user
    assert (await stored_hash(store, user.id)).startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize("stored", ["", "scrypt$zz$00", "$argon2id$garbage", "plain"])
def test_a_malformed_stored_hash_never_matches(stored: str) -> None:
    assert passwords.check("plain", stored)[0] is False


async def test_known_and_unknown_names_do_the_same_work(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_user("ann", "pw")
    checks: list[str] = []
    verify = passwords._verify
    monkeypatch.setattr(passwords, "_verify", lambda h, p: checks.append(h[:9]) or verify(h, p))
    assert await store.authenticate_user("ann", "wrong") is None
    assert await store.authenticate_user("nobody", "wrong") is None
    assert checks == ["$argon2id", "$argon2id"]


async def test_checking_a_password_does_not_block_the_event_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a check runs, the loop goes on: here the check waits for a coroutine on the
    loop to let it finish, which would never happen if it ran on the loop."""
    await store.create_user("ann", "pw")
    release = threading.Event()
    check = passwords.check
    where: list[bool] = []

    def slow_check(password: str, stored: str | None) -> tuple[bool, bool]:
        where.append(threading.current_thread() is threading.main_thread())
        assert release.wait(timeout=30), "the event loop was blocked"
        return check(password, stored)

    monkeypatch.setattr(passwords, "check", slow_check)

    async def let_it_finish() -> None:
        release.set()

    login = asyncio.ensure_future(store.authenticate_user("ann", "pw"))
    await asyncio.sleep(0)  # the login starts its check ...
    await let_it_finish()  # ... and the loop still runs this
    assert (await login) is not None
    assert where == [False]
