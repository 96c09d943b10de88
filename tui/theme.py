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

THEMES: Final = (
    Theme(
        name=DARK,
        primary="#4C9EEB",
        secondary="#8AB4F8",
        accent="#FFB454",
        warning="#F5C46B",
        error="#FF7B7B",
        success="#5FD38D",
        foreground="#E6E6E6",
        background="#111418",
        surface="#181C22",
        panel="#232A33",
        dark=True,
        variables={
            "text-muted": "#A9B1BB",
            "block-cursor-foreground": "#FFFFFF",
            "block-cursor-background": "#163A5E",
            "block-cursor-blurred-foreground": "#FFFFFF",
            "block-cursor-blurred-background": "#22303F",
            "footer-key-foreground": "#FFB454",
            "footer-description-foreground": "#E6E6E6",
            "input-selection-background": "#163A5E",
        },
    ),
    Theme(
        name=LIGHT,
        primary="#0A5BAA",
        secondary="#2F6DB5",
        accent="#8A4500",
        warning="#7A4E00",
        error="#B3261E",
        success="#176B35",
        foreground="#1A1A1A",
        background="#FAFAFA",
        surface="#F2F2F2",
        panel="#E2E5E9",
        dark=False,
        variables={
            "text-muted": "#545B63",
            "block-cursor-foreground": "#1A1A1A",
            "block-cursor-background": "#C9DDF2",
            "block-cursor-blurred-foreground": "#1A1A1A",
            "block-cursor-blurred-background": "#E1EAF3",
            "footer-key-foreground": "#0A4A8A",
            "footer-description-foreground": "#1A1A1A",
            "input-selection-background": "#C9DDF2",
        },
    ),
)


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
