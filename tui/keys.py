"""Keys in the order they were typed, each to the screen it was meant for.

Textual hands a key to the focused widget and takes the next key at once; a key that opens
(or closes) a screen does so only after a few more messages (a tree's ``NodeSelected``, the
screen's ``Open``, the app's push and the new screen's mount). Keys typed in the meantime
(a burst from a fast typist, a paste of keys, tmux ``send-keys``) would reach the screen
that was on top before. :class:`KeyLine` holds the keys the terminal sends and lets them
into the app one at a time, the next only once the app has :func:`settled` after the one
before: so the key after an Enter that opens a quiz is the quiz's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import Any, Final

from textual import events
from textual.app import App
from textual.message_pump import MessagePump

SETTLE_SECONDS: Final = 10.0
"""A key waits at most this long for the one before to settle, then goes anyway (a key is
never dropped, even if some widget never quietens)."""


def _pumps(app: App[Any]) -> Iterator[MessagePump]:
    yield app
    for screen in app.screen_stack:
        yield from screen.walk_children(with_self=True)


async def _handled(pumps: list[MessagePump]) -> None:
    """Return once each of ``pumps`` has handled every message queued to it before (a
    callback queued behind them runs), as Textual's ``Pilot`` waits for a screen."""
    left = 0
    done = asyncio.Event()

    def one() -> None:
        nonlocal left
        left -= 1
        if not left:
            done.set()

    for pump in pumps:
        if pump.call_later(one):
            left += 1
    if left:
        await done.wait()


async def settled(app: App[Any], timeout: float = SETTLE_SECONDS) -> None:
    """Return once the app, its screens and their widgets have handled every message,
    including those that the ones handled meanwhile posted (a screen being pushed is in the
    stack, so its mounting counts); after ``timeout`` seconds return anyway."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await _handled(list(_pumps(app)))
                if not any(pump.message_queue_size for pump in _pumps(app)):
                    return
    except TimeoutError:
        pass


class KeyLine:
    """The keys the terminal sent, let into ``app`` one at a time.

    The app calls :meth:`hold` for each key from the terminal (not for a key forwarded
    back to it) and, when :meth:`released` says the key is the one let in now, handles it
    as Textual would. Only keys wait: mouse events and pastes go as they come."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.held: deque[events.Key] = deque()
        self.releasing: events.Key | None = None
        self._running = False

    @property
    def waiting(self) -> bool:
        """True while a key is held or the last one let in has not settled."""
        return self._running

    def hold(self, key: events.Key) -> None:
        self.held.append(key)
        if not self._running:
            self._running = True
            self.app.run_worker(self._release(), name="keys", group="keys")

    def released(self, key: events.Key) -> bool:
        return key is self.releasing

    async def _release(self) -> None:
        try:
            while self.held:
                self.releasing = key = self.held.popleft()
                self.app.post_message(key)
                await settled(self.app)
        finally:
            # No await between the loop's last check and this: a key held from now on
            # starts a new run.
            self.releasing = None
            self._running = False
