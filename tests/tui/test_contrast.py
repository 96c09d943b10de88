"""WCAG AA contrast of every screen in both themes, read from the running app: each cell
drawn (its character, resolved foreground and background) and each progress bar's
colours, so a colour change anywhere (theme, stylesheet, markup) that breaks contrast
fails here.

Rules (:mod:`tui.theme`): text 4.5:1 against its background; graphics (block glyphs of
the chart and level bar, progress bars: filled part against the background and against
the unfilled track) 3:1. Borders and scrollbars are decoration and are not checked (a
border's title is text and is), nor the screen dimmed behind a dialog; a glyph drawn in
its background colour is not drawn at all (an unchosen choice's empty box).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from textual.app import App
from textual.color import Color
from textual.screen import ModalScreen
from textual.scrollbar import ScrollBar, ScrollBarCorner
from textual.widget import Widget
from textual.widgets._progress_bar import Bar

from tests.tui import tour
from tests.tui.conftest import Clock, settle
from tui.app import WaymarkApp
from tui.theme import DARK, GRAPHIC_CONTRAST, LIGHT, TEXT_CONTRAST, contrast
from tui.widgets.progress_row import ProgressRow
from tui.widgets.status_line import CONNECTION


def is_line(char: str) -> bool:
    return "\u2500" <= char <= "\u257f"  # box drawing: borders, rules


def is_block(char: str) -> bool:
    return "\u2580" <= char <= "\u259f"  # block elements: bars, chart, level


def cell_colours(segment: Segment, widget: Widget) -> tuple[Color, Color]:
    style = segment.style
    fg = Color.from_rich_color(style.color) if style and style.color else widget.colors[3]
    bg = Color.from_rich_color(style.bgcolor) if style and style.bgcolor else widget.colors[2]
    if style and style.reverse:
        fg, bg = bg, fg
    if style and style.dim:  # drawn at half strength
        fg = bg.blend(fg, 0.5)
    return fg, bg


def violations(app: App[Any]) -> list[str]:
    """Each cell and bar on the current screen below its contrast, as readable lines."""
    screen = app.screen
    found: list[str] = []
    cells: dict[tuple[str, str, str, float, float], list[str]] = {}
    bars: set[Bar] = set()
    for y, strip in enumerate(screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            for char in segment.text:
                here = x
                x += cell_len(char)  # an emoji takes two cells
                if char.isspace():
                    continue
                try:
                    widget, region = screen.get_widget_at(here, y)
                except Exception:
                    continue
                if isinstance(widget, ScrollBar | ScrollBarCorner):
                    continue
                if widget is screen and isinstance(screen, ModalScreen):
                    continue  # the screen behind a dialog, dimmed on purpose
                if isinstance(widget, Bar):
                    bars.add(widget)
                    continue
                border = widget.styles.border.spacing
                inside = region.shrink(border).contains(here, y)
                if not inside and (is_line(char) or is_block(char)):
                    continue  # a border
                fg, bg = cell_colours(segment, widget)
                if fg == bg:
                    continue  # not drawn: an unchosen choice's empty box
                need = GRAPHIC_CONTRAST if is_block(char) or is_line(char) else TEXT_CONTRAST
                ratio = contrast(fg, bg)
                if ratio < need:
                    where = f"{type(widget).__name__}#{widget.id} row {y}"
                    cells.setdefault((where, fg.hex, bg.hex, ratio, need), []).append(char)
    for (where, fg_hex, bg_hex, ratio, need), chars in cells.items():
        found.append(f"{where} {''.join(chars)!r} {fg_hex} on {bg_hex}: {ratio:.2f} < {need}")
    for bar in bars:
        background = bar.colors[2]
        for part in ("bar--bar", "bar--complete"):
            style = bar.get_component_rich_style(part)
            filled = Color.from_rich_color(style.color)
            track = Color.from_rich_color(style.bgcolor)
            for other, what in ((background, "background"), (track, "track")):
                ratio = contrast(filled, other)
                if ratio < GRAPHIC_CONTRAST:
                    found.append(
                        f"Bar in {type(bar.parent.parent if bar.parent else bar).__name__} "
                        f"{part} {filled.hex} on {what} {other.hex}: {ratio:.2f}"
                    )
    return sorted(set(found))


@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("visit", tour.VISITS, ids=lambda v: v.name)
async def test_every_screen_meets_wcag_aa_contrast(
    visit: tour.Visit, theme: str, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    app = tour.build(visit, make_app, await tour.prepare(visit, home, clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await tour.walk(visit, theme)(pilot)
        assert app.theme == theme
        assert violations(app) == []


@pytest.mark.parametrize("theme", [DARK, LIGHT])
async def test_every_sync_state_and_a_highlighted_bar_meet_contrast(
    theme: str, make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    visit = tour.BY_NAME["dashboard"]
    app = tour.build(visit, make_app, await tour.prepare(visit, home, clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await tour.walk(visit, theme)(pilot)
        await pilot.press("down")  # the cursor on Course One: its bar on the cursor's colour
        await settle(pilot)
        row = app.screen.query_one("#course-c1", ProgressRow)
        assert row.highlighted and row.query_one(Bar).percentage
        for connection in CONNECTION:
            rejected = [{"type": "lesson.completed", "code": "unknown_lesson"}]
            state = dataclasses.replace(
                app.sync_state, connection=connection, error="refused: bad token", rejected=rejected
            )
            app.set_sync_state(state)
            await settle(pilot)
            assert violations(app) == [], connection
