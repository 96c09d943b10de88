"""Kiosk PINs: stored only as a salted slow hash, checked with a limit of wrong tries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client.errors import BadPin
from client.journal import Journal
from client.pins import (
    MAX_TRIES,
    PinCheck,
    check_pin,
    hash_pin,
    pin_matches,
    pin_problem,
    set_pin,
)
from tests.client.conftest import account


def test_a_pin_hash_is_salted_scrypt_and_matches_only_its_pin() -> None:
    one, two = hash_pin("482916"), hash_pin("482916")
    assert one != two  # a fresh salt each time
    assert one.startswith("scrypt$16384$8$1$") and "482916" not in one
    assert pin_matches("482916", one) and pin_matches("482916", two)
    assert not pin_matches("482917", one)
    assert hash_pin("482916", salt=b"s" * 16) == hash_pin("482916", salt=b"s" * 16)


@pytest.mark.parametrize("stored", ["", "482916", "bcrypt$1$2$3$00$00", "scrypt$x$8$1$00$00"])
def test_a_hash_in_an_unknown_form_matches_nothing(stored: str) -> None:
    assert not pin_matches("482916", stored)


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        ("1234", ""),
        ("123456789012", ""),
        ("123", "A PIN has 4 to 12 digits."),
        ("1234567890123", "A PIN has 4 to 12 digits."),
        ("12a4", "A PIN is digits only."),
        ("١٢٣٤", "A PIN is digits only."),  # Arabic-Indic digits: isdigit, not ASCII
        ("", "A PIN is digits only."),
    ],
)
def test_what_makes_a_pin(pin: str, problem: str) -> None:
    assert pin_problem(pin) == problem


async def test_the_journal_keeps_the_hash_never_the_pin(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await set_pin(journal, alice, "482916")
    stored = await journal.pin(alice.user_id)
    assert stored is not None and stored[1] == 0
    assert pin_matches("482916", stored[0])
    await journal.close()
    files = [journal.path.with_name(n) for n in ("journal.db", "journal.db-wal")]
    assert not [f for f in files if b"482916" in await asyncio.to_thread(_read, f)]


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def test_a_bad_pin_is_not_stored(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    with pytest.raises(BadPin, match="4 to 12 digits"):
        await set_pin(journal, alice, "12")
    assert await journal.pin(alice.user_id) is None


async def test_wrong_pins_count_down_a_right_one_resets_and_the_last_removes_it(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    await set_pin(journal, alice, "1234")
    assert await check_pin(journal, alice, "0000") == PinCheck(ok=False, tries_left=MAX_TRIES - 1)
    assert await check_pin(journal, alice, "1234") == PinCheck(ok=True, tries_left=MAX_TRIES)
    for left in range(MAX_TRIES - 1, 0, -1):
        assert await check_pin(journal, alice, "9999") == PinCheck(ok=False, tries_left=left)
    assert await journal.pinned() == {alice.user_id}
    assert await check_pin(journal, alice, "9999") == PinCheck(ok=False, tries_left=0)
    assert await journal.pin(alice.user_id) is None and await journal.pinned() == set()
    # Gone: even the right PIN no longer opens; the password is needed.
    assert await check_pin(journal, alice, "1234") == PinCheck(ok=False, tries_left=0)


async def test_a_logout_forgets_the_pin(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    bob = await journal.add_account(account("bob"))
    await set_pin(journal, alice, "1234")
    await set_pin(journal, bob, "5678")
    await journal.forget_account(alice)
    assert await journal.pinned() == {bob.user_id}
