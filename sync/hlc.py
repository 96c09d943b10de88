"""Hybrid logical clock (Kulkarni et al., 2014), as fixed-width strings.

An HLC is written ``"<13 decimal digits of wall milliseconds>-<4 hex digits counter>"``,
e.g. ``"1763790000000-0003"``, so comparing two HLC strings compares the clocks. Ties between
events with equal HLCs are broken by event identity ``(device_id, seq)``.

The clock never reads time itself: callers pass ``now_ms``.
"""

from __future__ import annotations

import re
from typing import Final

# `$(?!\n)`: Python's `$` also matches before a final newline, and both re.match here and
# msgspec's pattern check would accept "…-0000\n". The lookahead is also valid ECMA-262.
HLC_PATTERN: Final = r"^[0-9]{13}-[0-9a-f]{4}$(?!\n)"
_HLC_RE: Final = re.compile(HLC_PATTERN)
MAX_COUNTER: Final = 0xFFFF
ZERO: Final = "0000000000000-0000"


def format_hlc(wall_ms: int, counter: int) -> str:
    """Return the string form of ``(wall_ms, counter)``."""
    return f"{wall_ms:013d}-{counter:04x}"


def parse_hlc(value: str) -> tuple[int, int]:
    """Return ``(wall_ms, counter)``; raises ``ValueError`` on a malformed HLC."""
    if not _HLC_RE.match(value):
        raise ValueError(f"malformed HLC {value!r}")
    wall, counter = value.split("-")
    return int(wall), int(counter, 16)


class HybridClock:
    """A hybrid logical clock for one node.

    Call :meth:`tick` to stamp a local event and :meth:`observe` when a remote HLC arrives;
    both return a value strictly greater than every value this clock returned before.
    """

    def __init__(self, last: str = ZERO) -> None:
        self._wall, self._counter = parse_hlc(last)

    @property
    def last(self) -> str:
        return format_hlc(self._wall, self._counter)

    def tick(self, now_ms: int) -> str:
        if now_ms > self._wall:
            self._wall, self._counter = now_ms, 0
        else:
            self._bump()
        return self.last

    def observe(self, remote: str, now_ms: int) -> str:
        r_wall, r_counter = parse_hlc(remote)
        top = max(self._wall, r_wall, now_ms)
        if top == self._wall == r_wall:
            self._counter = max(self._counter, r_counter)
            self._bump()
        elif top == self._wall:
            self._bump()
        elif top == r_wall:
            self._wall, self._counter = r_wall, r_counter
            self._bump()
        else:
            self._wall, self._counter = top, 0
        return self.last

    def _bump(self) -> None:
        if self._counter >= MAX_COUNTER:
            # Counter overflow: borrow one millisecond; order is still strictly increasing.
            self._wall, self._counter = self._wall + 1, 0
        else:
            self._counter += 1
