"""Time a learner spends on an open lesson, from an injectable clock (no timers here).

Time counts while the learner is active: up to ``idle_after_ms`` past their last key or
click, or all the time while a video plays. Seconds are handed out whole; the remainder
carries over to the next :meth:`ActiveTime.take`, so no time is lost between flushes.
"""

from __future__ import annotations

from typing import Final

IDLE_AFTER_MS: Final = 120_000


class ActiveTime:
    """Call :meth:`touch` on input and :meth:`take` on every flush (:meth:`peek` between)."""

    def __init__(self, now_ms: int, idle_after_ms: int = IDLE_AFTER_MS) -> None:
        self.mark = now_ms
        self.last_input = now_ms
        self.idle_after_ms = idle_after_ms
        self.carry_ms = 0

    def touch(self, now_ms: int) -> None:
        # Time spent idle before this input is not counted: skip the mark past the gap.
        if now_ms - self.last_input > self.idle_after_ms:
            self.mark = max(self.mark, now_ms)
        self.last_input = max(self.last_input, now_ms)

    def take(self, now_ms: int, *, playing: bool = False) -> int:
        """Whole active seconds since the previous call."""
        seconds, self.carry_ms = divmod(self._spent_ms(now_ms, playing), 1000)
        self.mark = max(self.mark, now_ms)
        return seconds

    def peek(self, now_ms: int, *, playing: bool = False) -> int:
        """What :meth:`take` would return now, without taking it (a clock on screen)."""
        return self._spent_ms(now_ms, playing) // 1000

    def _spent_ms(self, now_ms: int, playing: bool) -> int:
        end = now_ms if playing else min(now_ms, self.last_input + self.idle_after_ms)
        return max(0, end - self.mark) + self.carry_ms
