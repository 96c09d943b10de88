"""The app's size rules: the breakpoint classes the stylesheet uses to spend extra width
(``Screen.-wide``), and the notice shown over any screen below :data:`MIN_SIZE`.

Below the minimum the screen underneath keeps its state and focus (the notice only covers
it), so growing the terminal again brings it back as it was; meanwhile keys do not reach
it, except those of the app's actions in :data:`UNCOVERED` (the app checks
:func:`too_small` before it lets a key in).
"""

from __future__ import annotations

from typing import Any, Final

from textual.app import App
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH: Final = 80
MIN_HEIGHT: Final = 24
WIDE: Final = 120

HORIZONTAL: Final = [(0, "-narrow"), (MIN_WIDTH, "-normal"), (WIDE, "-wide")]
TALL: Final = 40
VERTICAL: Final = [(0, "-short"), (MIN_HEIGHT, "-normal-height"), (TALL, "-tall")]


UNCOVERED: Final = frozenset({"quit", "help"})
"""The app's actions whose keys still work under the notice (ctrl+q, ? and F1)."""


def too_small(size: Size) -> bool:
    """True when the notice covers the screen (the stylesheet's ``-narrow``/``-short``)."""
    return size.width < MIN_WIDTH or size.height < MIN_HEIGHT


BY: Final = "\N{MULTIPLICATION SIGN}"  # sizes are written 80 BY 24


def size_text(width: int, height: int) -> str:
    return f"{width}{BY}{height}"


def notice_text(width: int, height: int) -> str:
    return (
        f"Waymark needs at least {size_text(MIN_WIDTH, MIN_HEIGHT)}; "
        f"this terminal is {size_text(width, height)}.\n\n"
        "Make the window larger (or the font smaller) to go on; "
        "nothing is lost meanwhile. ctrl+q quits."
    )


class SizeNotice(Static):
    """Covers its screen when the terminal is below the minimum (shown by the stylesheet
    through the screen's ``-narrow`` / ``-short`` classes)."""

    def render(self) -> str:
        size = self.app.size
        return notice_text(size.width, size.height)

    def on_resize(self) -> None:
        self.refresh()


def cover(screen: Screen[Any]) -> None:
    """Give ``screen`` its notice (once), so every screen says it is too small."""
    if not screen.query(SizeNotice):
        screen.mount(SizeNotice(id="size-notice"))


def install(app: App[Any]) -> None:
    """Cover each screen the app shows from now on."""
    app.screen_change_signal.subscribe(app, cover)
