"""sync.hlc: HLC strings and the hybrid logical clock."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.hlc import HLC_PATTERN, MAX_COUNTER, ZERO, HybridClock, format_hlc, parse_hlc

T = 1_763_790_000_000  # 2025-11-22, epoch milliseconds

walls = st.integers(min_value=0, max_value=10**13 - 2)
counters = st.integers(min_value=0, max_value=MAX_COUNTER)


def hlc(wall: int, counter: int = 0) -> str:
    return format_hlc(wall, counter)


# -- format and parse ---------------------------------------------------------------------


def test_format_is_fixed_width_zero_padded_decimal_and_hex() -> None:
    assert format_hlc(T, 3) == "1763790000000-0003"
    assert format_hlc(5, 0xABC) == "0000000000005-0abc"
    assert format_hlc(0, 0) == ZERO


@given(wall=walls, counter=counters)
def test_parse_inverts_format(wall: int, counter: int) -> None:
    text = format_hlc(wall, counter)
    assert parse_hlc(text) == (wall, counter)
    assert re.search(HLC_PATTERN, text)


@given(a=st.tuples(walls, counters), b=st.tuples(walls, counters))
def test_string_order_equals_wall_counter_order(a: tuple[int, int], b: tuple[int, int]) -> None:
    sa, sb = format_hlc(*a), format_hlc(*b)
    assert (sa < sb) == (a < b)
    assert (sa == sb) == (a == b)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1763790000000",
        "1763790000000-",
        "176379000000-0003",  # 12 digits
        "17637900000000-0003",  # 14 digits
        "1763790000000-003",
        "1763790000000-00003",
        "1763790000000-000g",
        "1763790000000-000A",  # upper-case hex would break string order
        "1763790000000_0003",
        " 1763790000000-0003",
        "1763790000000-0003 ",
        "1763790000000-0003\n",  # `$` alone would accept this
        "\uff11763790000000-0003",  # a full-width digit
        "-763790000000-0003",
    ],
)
def test_malformed_hlc_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed HLC"):
        parse_hlc(bad)
    assert not re.search(HLC_PATTERN, bad)


def test_clock_starts_at_zero_or_resumes_from_its_last_value() -> None:
    assert HybridClock().last == ZERO
    clock = HybridClock(hlc(T, 7))
    assert clock.last == hlc(T, 7)
    assert clock.tick(T) == hlc(T, 8)


def test_clock_refuses_a_malformed_last_value() -> None:
    with pytest.raises(ValueError, match="malformed HLC"):
        HybridClock("yesterday")


# -- tick ---------------------------------------------------------------------------------


def test_tick_follows_the_wall_clock_when_it_moves_forward() -> None:
    clock = HybridClock()
    assert clock.tick(T) == hlc(T)
    assert clock.tick(T + 5) == hlc(T + 5)
    assert clock.last == hlc(T + 5)


def test_tick_with_the_wall_clock_standing_still_bumps_the_counter() -> None:
    clock = HybridClock()
    assert [clock.tick(T) for _ in range(3)] == [hlc(T, 0), hlc(T, 1), hlc(T, 2)]


def test_tick_with_the_wall_clock_going_backwards_stays_ahead() -> None:
    clock = HybridClock()
    first = clock.tick(T)
    second = clock.tick(T - 60_000)  # NTP stepped the clock back a minute
    third = clock.tick(T - 59_000)
    assert first < second < third
    assert (second, third) == (hlc(T, 1), hlc(T, 2))
    assert clock.tick(T + 1) == hlc(T + 1)


def test_tick_counter_overflow_borrows_a_millisecond() -> None:
    clock = HybridClock(hlc(T, MAX_COUNTER - 1))
    assert clock.tick(T) == hlc(T, MAX_COUNTER)
    assert clock.tick(T) == hlc(T + 1, 0)
    # The borrowed millisecond is not handed out twice when the wall clock reaches it.
    assert clock.tick(T + 1) == hlc(T + 1, 1)


# -- observe ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "remote", "now", "expected"),
    [
        pytest.param(hlc(T), hlc(T + 10, 7), T, hlc(T + 10, 8), id="remote-ahead"),
        pytest.param(hlc(T + 20), hlc(T + 10, 7), T, hlc(T + 20, 1), id="local-ahead"),
        pytest.param(hlc(T, 3), hlc(T, 7), T - 5, hlc(T, 8), id="same-wall-remote-counter-higher"),
        pytest.param(hlc(T, 9), hlc(T, 7), T - 5, hlc(T, 10), id="same-wall-local-counter-higher"),
        pytest.param(hlc(T, 9), hlc(T + 1, 4), T + 50, hlc(T + 50), id="wall-clock-ahead"),
        pytest.param(hlc(T, 9), hlc(T + 50, 4), T + 50, hlc(T + 50, 5), id="now-equals-remote"),
        pytest.param(hlc(T + 50, 2), hlc(T, 4), T + 50, hlc(T + 50, 3), id="now-equals-local"),
        pytest.param(hlc(T, 2), hlc(T, 4), T, hlc(T, 5), id="all-three-equal"),
    ],
)
def test_observe_exceeds_both_local_and_remote(
    local: str, remote: str, now: int, expected: str
) -> None:
    clock = HybridClock(local)
    stamped = clock.observe(remote, now)
    assert stamped == expected
    assert stamped > local
    assert stamped > remote
    assert clock.last == stamped


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        pytest.param(hlc(T), hlc(T + 10, MAX_COUNTER), hlc(T + 11), id="remote-ahead"),
        pytest.param(hlc(T, MAX_COUNTER), hlc(T - 10), hlc(T + 1), id="local-ahead"),
        pytest.param(hlc(T, 1), hlc(T, MAX_COUNTER), hlc(T + 1), id="same-wall"),
    ],
)
def test_observe_counter_overflow_borrows_a_millisecond(
    local: str, remote: str, expected: str
) -> None:
    assert HybridClock(local).observe(remote, T - 100) == expected


def test_observe_refuses_a_malformed_remote_and_keeps_its_state() -> None:
    clock = HybridClock(hlc(T, 3))
    with pytest.raises(ValueError, match="malformed HLC"):
        clock.observe("1763790000000-3", T)
    assert clock.last == hlc(T, 3)


def test_a_reply_is_stamped_after_the_message_it_answers_despite_clock_skew() -> None:
    # Device B's wall clock runs five minutes behind device A's.
    a, b = HybridClock(), HybridClock()
    sent = a.tick(T)
    received = b.observe(sent, T - 300_000)
    reply = b.tick(T - 299_000)
    assert sent < received < reply
    assert a.observe(reply, T + 1) > reply


# -- the law ------------------------------------------------------------------------------

# Wall times in a narrow window so that ticks, observes and the wall clock collide often,
# and counters near the top so that overflow happens.
near_walls = st.integers(min_value=T - 20, max_value=T + 20)
near_counters = st.one_of(
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=MAX_COUNTER - 3, max_value=MAX_COUNTER),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), near_walls),
        st.tuples(st.just("observe"), near_walls, st.tuples(near_walls, near_counters)),
    ),
    max_size=60,
)


@given(start=st.tuples(near_walls, near_counters), ops=operations)
def test_any_interleaving_of_tick_and_observe_is_strictly_increasing(
    start: tuple[int, int], ops: list[tuple[object, ...]]
) -> None:
    clock = HybridClock(format_hlc(*start))
    values = [clock.last]
    for op in ops:
        match op:
            case ("tick", int(now)):
                stamped = clock.tick(now)
            case ("observe", int(now), (int(wall), int(counter))):
                remote = format_hlc(wall, counter)
                stamped = clock.observe(remote, now)
                assert stamped > remote
            case _:  # pragma: no cover - the strategy makes only the two shapes above
                raise AssertionError(op)
        assert stamped == clock.last
        values.append(stamped)
    parsed = [parse_hlc(v) for v in values]
    assert values == sorted(set(values))  # strictly increasing as strings
    assert parsed == sorted(set(parsed))  # and as (wall, counter)
    assert [format_hlc(*p) for p in parsed] == values
