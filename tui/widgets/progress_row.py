"""One row of the dashboard: title, progress bar, status and last activity."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ListItem, ProgressBar

from tui.present import marked


class ProgressRow(ListItem):
    """A selectable row; ``target`` is what opening it shows (posted by the screen)."""

    def __init__(
        self, target: object, title: str, percent: int, status: str, last: str, *, id: str
    ) -> None:
        super().__init__(id=id)
        self.target = target
        self.title = title
        self.percent = percent
        self.status = status
        self.last = last

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.title, classes="title")
            bar = ProgressBar(total=100, show_eta=False, classes="bar")
            bar.progress = self.percent
            yield bar
            yield Label(marked(self.status), classes="status")
            yield Label(self.last, classes="last")

    def take(self, other: ProgressRow) -> None:
        """Show what ``other`` (a row for the same thing, not mounted) shows."""
        self.target, self.title, self.percent = other.target, other.title, other.percent
        self.status, self.last = other.status, other.last
        if self.is_mounted:
            self.query_one(".title", Label).update(self.title)
            self.query_one(ProgressBar).progress = self.percent
            self.query_one(".status", Label).update(marked(self.status))
            self.query_one(".last", Label).update(self.last)


class EntryRow(ListItem):
    """A selectable one-line row (the "continue" entry)."""

    def __init__(self, target: object, text: str, *, id: str) -> None:
        super().__init__(Label(text), id=id)
        self.target = target
        self.text = text

    def take(self, other: EntryRow) -> None:
        """Show what ``other`` (a row for the same thing, not mounted) shows."""
        self.target, self.text = other.target, other.text
        if self.is_mounted:
            self.query_one(Label).update(self.text)


class RowHeading(Horizontal):
    """Column titles over :class:`ProgressRow` rows, in the same columns (the stylesheet
    widens them together on a wide screen)."""

    def compose(self) -> ComposeResult:
        yield Label("Course / path", classes="title")
        yield Label("progress", classes="bar")
        yield Label("status", classes="status")
        yield Label("last", classes="last")
