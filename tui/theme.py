"""Waymark's two themes, and the WCAG contrast they are held to.

The app registers only these two (Textual's built-in themes are not checked for contrast,
so they are not offered): pick one in the command palette ("Theme"); the choice is saved
in the device home (:mod:`tui.settings`). ``tests/tui/test_contrast.py`` draws every screen
in both and checks each cell against :data:`TEXT_CONTRAST` / :data:`GRAPHIC_CONTRAST`.
"""

from __future__ import annotations

from typing import Final

from textual.color import Color
from textual.theme import Theme

DARK: Final = "waymark-dark"
LIGHT: Final = "waymark-light"
DEFAULT: Final = DARK

TEXT_CONTRAST: Final = 4.5  # WCAG 2.2 SC 1.4.3 (AA), normal text
GRAPHIC_CONTRAST: Final = 3.0  # WCAG 2.2 SC 1.4.11, bars, marks and other graphics


COLOURS: Final = {  # role: (dark theme, light theme)
    # Textual's base colours
    "primary": ("#4C9EEB", "#0A5BAA"),
    "secondary": ("#8AB4F8", "#2F6DB5"),
    "accent": ("#FFB454", "#8A4500"),
    "warning": ("#F5C46B", "#7A4E00"),
    "error": ("#FF7B7B", "#B3261E"),
    "success": ("#5FD38D", "#176B35"),
    "foreground": ("#E6E6E6", "#1A1A1A"),
    "background": ("#111418", "#FAFAFA"),
    "surface": ("#181C22", "#F2F2F2"),
    "panel": ("#232A33", "#E2E5E9"),
    # the variables Waymark sets: dimmed text, the highlighted row (its text, and its
    # background when its list has the focus or not; a selection in a field is the
    # same), the footer's keys
    "muted": ("#A9B1BB", "#545B63"),
    "cursor-text": ("#FFFFFF", "#1A1A1A"),
    "cursor": ("#163A5E", "#C9DDF2"),
    "cursor-blurred": ("#22303F", "#E1EAF3"),
    "footer-key": ("#FFB454", "#0A4A8A"),
}


def waymark_theme(name: str, *, dark: bool) -> Theme:
    """The theme ``name`` from the dark or the light column of :data:`COLOURS`."""
    c = {role: pair[0 if dark else 1] for role, pair in COLOURS.items()}
    return Theme(
        name=name,
        primary=c["primary"],
        secondary=c["secondary"],
        accent=c["accent"],
        warning=c["warning"],
        error=c["error"],
        success=c["success"],
        foreground=c["foreground"],
        background=c["background"],
        surface=c["surface"],
        panel=c["panel"],
        dark=dark,
        variables={
            "text-muted": c["muted"],
            "block-cursor-foreground": c["cursor-text"],
            "block-cursor-background": c["cursor"],
            "block-cursor-blurred-foreground": c["cursor-text"],
            "block-cursor-blurred-background": c["cursor-blurred"],
            "footer-key-foreground": c["footer-key"],
            "footer-description-foreground": c["foreground"],
            "input-selection-background": c["cursor"],
        },
    )


THEMES: Final = (waymark_theme(DARK, dark=True), waymark_theme(LIGHT, dark=False))


def luminance(color: Color) -> float:
    """WCAG relative luminance of an opaque colour (0 black … 1 white)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(one: Color, other: Color) -> float:
    """WCAG contrast ratio of two opaque colours, 1.0 … 21.0."""
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)
