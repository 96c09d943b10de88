"""Lists whose keys open what they show.

Enter and space are bound on the focused list itself, not on the screen with priority:
priority bindings run as soon as a key arrives, ahead of the keys still queued for the
list, so a quick "down, down, enter" would open the row the cursor started on.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import ListView, Tree


class Rows(ListView):
    """Enter posts :class:`ListView.Selected` for the highlighted row; the screen opens it."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class OpeningTree(Tree[Any]):
    """Enter posts :class:`Tree.NodeSelected` (and folds a branch); space runs the
    screen's ``fold`` action."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("space", "screen.fold", "Fold/unfold"),
    ]
