"""Charts drawn on the server as SVG: no script, nothing loaded, the same bytes for the
same data (deterministic ids and numbers).

Each function returns a ``<figure>`` (well-formed XML, as :class:`markupsafe.Markup` for the
templates) holding an ``<svg role="img">`` with its ``<title>`` and ``<desc>``, and the
same data as a table under ``<details>``: the text alternative for people who cannot see
the picture. Colours come from :data:`PALETTE`, each at least 3:1 against the white
background (WCAG 1.4.11); text is #1a1a1a. Call :func:`bar_chart`, :func:`stacked_bars`,
:func:`funnel`, :func:`line_chart` or :func:`histogram`; empty data gives a figure that
says so.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from datetime import date
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

PALETTE: Final = ("#1f5f99", "#b34700", "#2e7d32", "#7b1fa2", "#c62828", "#4d4d4d")
"""Blue 6.9:1, orange 5.0:1, green 5.1:1, purple 7.6:1, red 5.6:1, grey 8.5:1 on white."""
TEXT: Final = "#1a1a1a"
GRID: Final = "#767676"  # 4.5:1: axis lines and ticks are graphics that must be seen
WIDTH: Final = 640
FONT: Final = 13
LABEL_W: Final = 230
"""Room for the category labels left of horizontal bars."""
VALUE_W: Final = 90
"""Room for the value printed right of the longest bar."""
ROW_H: Final = 26
GAP: Final = 8


def _id(kind: str, title: str) -> str:
    return f"chart-{kind}-{hashlib.sha1(title.encode()).hexdigest()[:10]}"


def _num(value: float) -> str:
    """A number as the picture prints it: ``12``, ``2.5``, ``0.33``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _xy(value: float) -> str:
    """A coordinate, rounded so the output is the same on every machine."""
    return f"{round(value, 2):g}"


def _text(x: float, y: float, content: str, *, anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return (
        f'<text x="{_xy(x)}" y="{_xy(y)}" font-size="{FONT}" fill="{TEXT}"'
        f' text-anchor="{anchor}"{extra}>{escape(content)}</text>'
    )


def _figure(
    kind: str,
    title: str,
    desc: str,
    height: float,
    body: list[str],
    table: tuple[Sequence[str], Sequence[Sequence[str]]],
) -> Markup:
    ident = _id(kind, title)
    head, rows = table
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_xy(height)}"'
        f' width="{WIDTH}" height="{_xy(height)}" role="img"'
        f' aria-labelledby="{ident}-title {ident}-desc" class="chart-{kind}"'
        ' font-family="DejaVu Sans, sans-serif">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{_xy(height)}" fill="#ffffff"/>'
        + "".join(body)
        + "</svg>"
    )
    cells = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    lines = "".join(
        "<tr>"
        + f'<th scope="row">{escape(row[0])}</th>'
        + "".join(f"<td>{escape(c)}</td>" for c in row[1:])
        + "</tr>"
        for row in rows
    )
    data = (
        f"<details><summary>{escape(title)}: data table</summary>"
        f"<table><caption>{escape(title)}</caption><thead><tr>{cells}</tr></thead>"
        f"<tbody>{lines}</tbody></table></details>"
        if rows
        else f"<p>{escape(title)}: no data yet.</p>"
    )
    return Markup(
        f'<figure class="chart" id="{ident}"><figcaption>{escape(title)}</figcaption>'
        # On a narrow screen the picture keeps a readable size and scrolls sideways; the
        # scrolling region takes the focus, so a keyboard can scroll it too.
        f'<div class="chart-scroll" role="region" tabindex="0" aria-label={quoteattr(title)}>'
        f"{svg}</div>{data}</figure>"
    )


def _empty(kind: str, title: str, head: Sequence[str]) -> Markup:
    body = [_text(WIDTH / 2, 40, "No data yet", anchor="middle")]
    return _figure(kind, title, "No data yet.", 64, body, (head, []))


def _summary(pairs: Sequence[tuple[str, float]], unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    return "; ".join(f"{label}: {_num(value)}{suffix}" for label, value in pairs) + "."


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, unit: str = "", color: str = PALETTE[0]
) -> Markup:
    """Horizontal bars, one per ``(label, value)`` (values >= 0), each as long as its value
    relative to the largest."""
    head = ("Category", f"Value ({unit})" if unit else "Value")
    if not bars:
        return _empty("bar", title, head)
    top = max(v for _, v in bars) or 1
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, value) in enumerate(bars):
        y = GAP + i * (ROW_H + GAP)
        length = span * max(0.0, value) / top
        body.append(_text(LABEL_W - 8, y + ROW_H * 0.68, label, anchor="end"))
        body.append(
            f'<rect class="bar" x="{LABEL_W}" y="{_xy(y)}" width="{_xy(length)}"'
            f' height="{ROW_H}" fill="{color}" data-value="{_num(value)}">'
            f"<title>{escape(label)}: {_num(value)}</title></rect>"
        )
        body.append(_text(LABEL_W + length + 6, y + ROW_H * 0.68, _num(value)))
    height = GAP + len(bars) * (ROW_H + GAP)
    rows = [(label, _num(value)) for label, value in bars]
    return _figure("bar", title, _summary(bars, unit), height, body, (head, rows))


def funnel(title: str, steps: Sequence[tuple[str, float]]) -> Markup:
    """Steps of a funnel (``(label, count)``, in order): bars relative to the first step,
    each labelled with its count and its share of the first."""
    head = ("Step", "Count", "Share of first")
    if not steps:
        return _empty("funnel", title, head)
    first = steps[0][1] or 1
    top = max(v for _, v in steps) or 1
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    rows = []
    for i, (label, value) in enumerate(steps):
        y = GAP + i * (ROW_H + GAP)
        length = span * max(0.0, value) / top
        share = f"{math.floor(100 * value / first)} %"
        x = LABEL_W + (span - length) / 2  # centred: the funnel's shape
        body.append(_text(LABEL_W - 8, y + ROW_H * 0.68, label, anchor="end"))
        body.append(
            f'<rect class="bar" x="{_xy(x)}" y="{_xy(y)}" width="{_xy(length)}"'
            f' height="{ROW_H}" fill="{PALETTE[i % len(PALETTE)]}" data-value="{_num(value)}">'
            f"<title>{escape(label)}: {_num(value)} ({share})</title></rect>"
        )
        body.append(_text(WIDTH - VALUE_W + 6, y + ROW_H * 0.68, f"{_num(value)} ({share})"))
        rows.append((label, _num(value), share))
    height = GAP + len(steps) * (ROW_H + GAP)
    desc = "; ".join(f"{r[0]}: {r[1]} ({r[2]})" for r in rows) + "."
    return _figure("funnel", title, desc, height, body, (head, rows))


def stacked_bars(
    title: str, categories: Sequence[str], bars: Sequence[tuple[str, Sequence[float]]]
) -> Markup:
    """One horizontal bar per ``(label, values)``, split into a segment per category (in
    ``categories``' order and colours); bars are as long as their totals relative to the
    largest. A legend names the colours; the table gives every number."""
    head = ("Bar", *categories, "Total")
    if not bars or not categories:
        return _empty("stacked", title, head)
    if any(len(values) != len(categories) for _, values in bars):
        raise ValueError("every bar needs one value per category")
    totals = [sum(max(0.0, v) for v in values) for _, values in bars]
    top = max(totals) or 1
    span = WIDTH - LABEL_W - VALUE_W
    legend_h = 28
    body = []
    x = float(LABEL_W)
    for j, category in enumerate(categories):
        color = PALETTE[j % len(PALETTE)]
        body.append(f'<rect x="{_xy(x)}" y="6" width="14" height="14" fill="{color}"/>')
        body.append(_text(x + 20, 18, category))
        x += 28 + 8 * len(category)
    rows = []
    for i, ((label, values), total) in enumerate(zip(bars, totals, strict=True)):
        y = legend_h + GAP + i * (ROW_H + GAP)
        body.append(_text(LABEL_W - 8, y + ROW_H * 0.68, label, anchor="end"))
        x = float(LABEL_W)
        for j, value in enumerate(values):
            length = span * max(0.0, value) / top
            body.append(
                f'<rect class="segment" x="{_xy(x)}" y="{_xy(y)}" width="{_xy(length)}"'
                f' height="{ROW_H}" fill="{PALETTE[j % len(PALETTE)]}"'
                f' data-value="{_num(value)}" stroke="#ffffff" stroke-width="1">'
                f"<title>{escape(label)}, {escape(categories[j])}: {_num(value)}</title></rect>"
            )
            x += length
        body.append(_text(x + 6, y + ROW_H * 0.68, _num(total)))
        rows.append((label, *(_num(v) for v in values), _num(total)))
    height = legend_h + GAP + len(bars) * (ROW_H + GAP)
    desc = (
        "; ".join(
            f"{label}: "
            + ", ".join(f"{c} {_num(v)}" for c, v in zip(categories, values, strict=True))
            for label, values in bars
        )
        + "."
    )
    return _figure("stacked", title, desc, height, body, (head, rows))


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 times a power of
    ten), about ``count`` of them."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


PLOT_L: Final = 56
PLOT_R: Final = 20
PLOT_T: Final = 16
PLOT_B: Final = 40
PLOT_H: Final = 220


def _y_axis(ticks: list[float], unit: str) -> tuple[list[str], float]:
    """Grid lines and labels of a vertical scale; returns them and the scale's top."""
    top = ticks[-1]
    body = []
    for tick in ticks:
        y = PLOT_T + PLOT_H - PLOT_H * tick / top
        body.append(
            f'<line class="tick" x1="{PLOT_L}" x2="{WIDTH - PLOT_R}" y1="{_xy(y)}" y2="{_xy(y)}"'
            f' stroke="{GRID}" stroke-width="{1 if tick else 1.5}"'
            f"{'' if tick == 0 else ' stroke-dasharray=' + quoteattr('2 4')}/>"
        )
        body.append(_text(PLOT_L - 6, y + 4, _num(tick), anchor="end"))
    if unit:
        body.append(_text(8, PLOT_T - 4, unit))
    return body, top


def line_chart(
    title: str, points: Sequence[tuple[date, float]], *, unit: str = "", color: str = PALETTE[0]
) -> Markup:
    """A value over dates (``(day, value)``, any order): a line through points placed by
    date on the x axis, with a y axis scale from 0 (ticks at round numbers)."""
    head = ("Date", f"Value ({unit})" if unit else "Value")
    if not points:
        return _empty("line", title, head)
    ordered = sorted(points)
    ticks = nice_ticks(max(v for _, v in ordered))
    body, top = _y_axis(ticks, unit)
    first, last = ordered[0][0], ordered[-1][0]
    days = (last - first).days or 1
    span = WIDTH - PLOT_L - PLOT_R

    def at(day: date, value: float) -> tuple[float, float]:
        x = PLOT_L + (span * (day - first).days / days if len(ordered) > 1 else span / 2)
        return x, PLOT_T + PLOT_H - PLOT_H * max(0.0, value) / top

    coords = [at(d, v) for d, v in ordered]
    body.append(
        f'<polyline class="line" fill="none" stroke="{color}" stroke-width="2.5"'
        f' points="{" ".join(f"{_xy(x)},{_xy(y)}" for x, y in coords)}"/>'
    )
    for (day, value), (x, y) in zip(ordered, coords, strict=True):
        body.append(
            f'<circle class="point" cx="{_xy(x)}" cy="{_xy(y)}" r="4" fill="{color}"'
            f' data-value="{_num(value)}"><title>{day.isoformat()}: {_num(value)}</title></circle>'
        )
    base = PLOT_T + PLOT_H + 18
    labelled = {0, len(ordered) - 1, (len(ordered) - 1) // 2}
    for i in sorted(labelled):
        x, _ = coords[i]
        anchor = "start" if i == 0 else "end" if i == len(ordered) - 1 else "middle"
        body.append(_text(x, base, ordered[i][0].isoformat(), anchor=anchor))
    height = PLOT_T + PLOT_H + PLOT_B
    rows = [(d.isoformat(), _num(v)) for d, v in ordered]
    desc = f"From {first.isoformat()} to {last.isoformat()}: " + _summary(
        [(d.isoformat(), v) for d, v in ordered], unit
    )
    return _figure("line", title, desc, height, body, (head, rows))


def histogram(
    title: str, values: Sequence[float], edges: Sequence[float], *, unit: str = ""
) -> Markup:
    """How many of ``values`` fall in each bin between consecutive ``edges`` (increasing;
    the last bin includes its upper edge, values outside every bin are left out): vertical
    bars as tall as their counts, on a count scale from 0."""
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError("a histogram needs at least two increasing edges")
    head = (f"Range ({unit})" if unit else "Range", "Count")
    bins = list(itertools.pairwise(edges))
    counts = [0] * len(bins)
    for value in values:
        for i, (low, high) in enumerate(bins):
            if low <= value < high or (i == len(bins) - 1 and value == high):
                counts[i] += 1
                break
    if not any(counts):
        return _empty("histogram", title, head)
    ticks = nice_ticks(max(counts))
    body, top = _y_axis(ticks, "count")
    span = WIDTH - PLOT_L - PLOT_R
    width = span / len(bins)
    labels = [f"{_num(low)} to {_num(high)}" for low, high in bins]
    for i, count in enumerate(counts):
        height = PLOT_H * count / top
        x = PLOT_L + i * width
        body.append(
            f'<rect class="bar" x="{_xy(x + 1)}" y="{_xy(PLOT_T + PLOT_H - height)}"'
            f' width="{_xy(width - 2)}" height="{_xy(height)}" fill="{PALETTE[0]}"'
            f' data-value="{count}"><title>{escape(labels[i])}: {count}</title></rect>'
        )
    base = PLOT_T + PLOT_H + 18
    for i, edge in enumerate(edges):
        body.append(_text(PLOT_L + i * width, base, _num(edge), anchor="middle"))
    if unit:
        body.append(_text(WIDTH - PLOT_R, base + 16, unit, anchor="end"))
    rows = [(label, str(c)) for label, c in zip(labels, counts, strict=True)]
    desc = f"{sum(counts)} values in {len(bins)} bins: " + _summary(
        list(zip(labels, [float(c) for c in counts], strict=True)), ""
    )
    return _figure("histogram", title, desc, PLOT_T + PLOT_H + PLOT_B + 8, body, (head, rows))
