"""The line at the bottom of every screen: online/offline, events waiting, last sync,
rejected events."""

from __future__ import annotations

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


class StatusLine(Static):
    """Set :attr:`state`; it redraws."""

    state: reactive[SyncState] = reactive(SyncState, always_update=True)

    def render_state(self, state: SyncState) -> str:
        parts = [CONNECTION[state.connection]]
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
