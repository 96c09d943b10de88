"""Points, level, streak, badges, certificates, the weekly leaderboard and a chart of time
spent per day.

Everything but the leaderboard comes from the journal (works offline). The leaderboard
needs other learners' points, so the app fetches it from the server in a worker when this
screen opens (and on ``r``); offline it shows the last one fetched, with its time.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import var
from textual.widgets import Footer, Header, Static

from tui.messages import FetchLeaderboard
from tui.present import (
    badge_lines,
    board_lines,
    certificate_lines,
    day_chart,
    level_line,
    plural,
    streak_line,
)
from tui.screens.base import LearnerScreen
from tui.state import Board, Snapshot, SyncState
from tui.widgets.status_line import StatusLine


class AchievementsScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("r", "refresh", "Refresh leaderboard"),
        Binding("tab", "focus_next", "Switch pane"),
    ]

    board: var[Board] = var(Board, init=False, always_update=True)

    def __init__(
        self,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
        board: Board | None = None,
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.set_reactive(AchievementsScreen.board, board or Board())

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="ach-summary")
        with Horizontal(id="ach-panes"):
            with VerticalScroll(id="ach-badges") as badges:
                badges.border_title = "Badges & certificates"
                yield Static("", id="ach-badge-list")
            with VerticalScroll(id="ach-board") as board:
                board.border_title = "Leaderboard"
                yield Static("", id="ach-board-list")
        yield Static("", id="ach-chart")
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        self.sub_title = "Achievements"
        self.query_one("#ach-badges", VerticalScroll).focus()
        self._draw_board(self.board)
        self.post_message(FetchLeaderboard())

    async def show(self, snapshot: Snapshot) -> None:
        view, account = snapshot.achievements, snapshot.account
        summary = self.query_one("#ach-summary", Static)
        if view is None:
            summary.update("No achievements on this device yet.")
            return
        this_week = f"{plural(view.week_points, 'point')} this week ({view.week})"
        summary.update(f"{level_line(view)}\n{streak_line(view.streak)} · {this_week}")
        self.query_one("#ach-badge-list", Static).update(
            "\n".join(
                [
                    *badge_lines(view, account),
                    "",
                    "[b]Certificates[/b]",
                    *certificate_lines(view, account),
                ]
            )
        )
        self._draw_chart()
        self._draw_board(self.board)

    def _draw_chart(self) -> None:
        """The chart fills its box: wider columns on a wide screen, taller when tall."""
        chart = self.query_one("#ach-chart", Static)
        if self.snapshot is None:
            return
        size = chart.content_size
        lines = day_chart(
            self.snapshot.days,
            height=max(3, size.height - 2),
            width=size.width or None,
        )
        chart.update("\n".join(lines))

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw_chart)

    def watch_board(self, board: Board) -> None:
        if self.is_mounted:
            self._draw_board(board)

    def _draw_board(self, board: Board) -> None:
        pane = self.query_one("#ach-board", VerticalScroll)
        week = board.board.week if board.board else ""
        pane.border_title = f"Leaderboard {week}".strip()
        pane.border_subtitle = "fetching…" if board.loading else ""
        if self.snapshot is not None:
            lines = board_lines(board, self.snapshot.account)
            self.query_one("#ach-board-list", Static).update("\n".join(lines))

    def action_refresh(self) -> None:
        self.post_message(FetchLeaderboard())
