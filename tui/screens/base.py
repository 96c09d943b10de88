"""What every learner screen shares: the data handed down and the status line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.reactive import var
from textual.screen import Screen

from tui.state import Snapshot, SyncState
from tui.widgets.status_line import StatusLine


class LearnerScreen(Screen[None]):
    """The app sets :attr:`snapshot` and :attr:`sync_state`; subclasses draw them in
    :meth:`show` and :meth:`mounted`."""

    snapshot: var[Snapshot | None] = var(None, init=False, always_update=True)
    sync_state: var[SyncState] = var(SyncState, init=False, always_update=True)

    def __init__(
        self,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
    ) -> None:
        super().__init__()
        self.clock = clock
        self.set_reactive(LearnerScreen.snapshot, snapshot)
        self.set_reactive(LearnerScreen.sync_state, sync_state)

    @property
    def user(self) -> str:
        return self.snapshot.account.username if self.snapshot else ""

    async def on_mount(self) -> None:
        self.query_one(StatusLine).state = self.sync_state
        self.mounted()
        if self.snapshot is not None:
            await self.show(self.snapshot)

    def mounted(self) -> None:
        """Called once composed, before the first :meth:`show`."""

    async def show(self, snapshot: Snapshot) -> None:
        """Draw ``snapshot`` (called on mount and on every change)."""

    async def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        if snapshot is not None and self.is_mounted:
            await self.show(snapshot)

    def watch_sync_state(self, state: SyncState) -> None:
        if self.is_mounted:
            self.query_one(StatusLine).state = state

    def note_input(self, now_ms: int) -> None:
        """The app saw a key or click at ``now_ms`` (lessons count active time with it)."""

    def leave_question(self) -> str:
        """What to ask before this screen closes with work that closing would lose (an
        unsent quiz attempt); "" when nothing would be lost."""
        return ""

    def unsaved(self) -> list[tuple[str, dict[str, Any]]]:
        """Events for work not recorded yet (time in a lesson, an edited draft); the app
        records them when the screen is about to close, and they count as recorded."""
        return []
