"""The line at the bottom of every screen: online/offline (offline: a countdown to the next
try and the key that tries now), events waiting, last sync, rejected events."""

from __future__ import annotations

import math

from textual.reactive import reactive
from textual.widgets import Static

from tui.present import when
from tui.state import SyncState

CONNECTION = {
    "off": "[$text-muted]○ sync off[/]",
    "connecting": "[$warning]◌ connecting[/]",
    "online": "[$success]● online[/]",
    "offline": "[$error]○ offline[/]",
    "refused": "[$error]✗ refused[/]",
}


RETRY_KEY = "ctrl+r"  # bound by the app (its ``reconnect`` action)


class StatusLine(Static):
    """Set :attr:`state`; it redraws."""

    state: reactive[SyncState] = reactive(SyncState, always_update=True)

    def render_state(self, state: SyncState) -> str:
        parts = [CONNECTION[state.connection]]
        if state.connection == "offline" and state.retry_at is not None:
            left = math.ceil((state.retry_at - state.now_ms) / 1000)
            parts.append(f"retrying in {left} s" if left > 0 else "retrying…")
            parts.append(f"{RETRY_KEY} to retry now")
        if state.user:
            parts.append(f"{state.pending} waiting")
            synced = (
                when(state.synced_at, state.account, seconds=True) if state.account else "never"
            )
            parts.append(f"synced {synced}")
        if state.rejected:
            last = state.rejected[-1]
            parts.append(
                f"[$error]{len(state.rejected)} rejected: {last.get('type', '?')} "
                f"({last.get('code', '')})[/]"
            )
        if state.error:
            parts.append(f"[$error]{state.error}[/]")
        return " · ".join(parts)

    def on_mount(self) -> None:
        self.update(self.render_state(self.state))

    def watch_state(self, state: SyncState) -> None:
        self.update(self.render_state(state))
