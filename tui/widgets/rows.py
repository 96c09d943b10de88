"""Lists whose keys open what they show.

Enter and space are bound on the focused list itself, not on the screen with priority:
priority bindings run as soon as a key arrives, ahead of the keys still queued for the
list, so a quick "down, down, enter" would open the row the cursor started on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.binding import Binding
from textual.widgets import ListItem, ListView, Tree

from tui.widgets.progress_row import EntryRow, ProgressRow


class Rows(ListView):
    """Enter posts :class:`ListView.Selected` for the highlighted row; the screen opens it.
    Screens redraw it with :meth:`refill`."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]

    async def refill(self, rows: Sequence[ProgressRow | EntryRow]) -> None:
        """Show ``rows`` (each with an id). The same ids as now are updated in place, so
        the cursor and keys pressed meanwhile are not lost to a rebuild; otherwise the
        list is rebuilt and the cursor stays on its row (rows coming or going shift the
        others), else on its line."""
        shown = list(self.query_children(ListItem))
        if [row.id for row in shown] == [row.id for row in rows]:
            for old, new in zip(shown, rows, strict=True):
                if isinstance(old, ProgressRow) and isinstance(new, ProgressRow):
                    old.take(new)
                if isinstance(old, EntryRow) and isinstance(new, EntryRow):
                    old.take(new)
            return
        held, index = self.highlighted_child, self.index
        await self.clear()
        await self.extend(rows)
        ids = [row.id for row in rows]
        if held is not None and held.id in ids:
            self.index = ids.index(held.id)
        else:
            self.index = min(index or 0, len(rows) - 1) if rows else None


class OpeningTree(Tree[Any]):
    """Enter posts :class:`Tree.NodeSelected` (and folds a branch); space runs the
    screen's ``fold`` action."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("space", "screen.fold", "Fold/unfold"),
    ]
