"""The SVG charts, parsed as XML: bars as long as their values say, every label and the
text alternative there, empty data drawn as "no data", the same bytes every time."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from server.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def svg_of(figure: ET.Element) -> ET.Element:
    found = list(figure.iter(f"{SVG}svg"))
    assert len(found) == 1
    return found[0]


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def rects(svg: ET.Element, cls: str = "bar") -> list[ET.Element]:
    return [r for r in svg.iter(f"{SVG}rect") if r.get("class") == cls]


def table_rows(figure: ET.Element) -> list[list[str]]:
    return [
        [cell.text or "" for cell in row] for row in figure.iter("tr") if row.find("td") is not None
    ]


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_bar_lengths_are_proportional_to_the_values() -> None:
    figure = parse(charts.bar_chart("Lessons", [("alpha", 10), ("beta", 5), ("gamma", 2.5)]))
    svg = svg_of(figure)
    widths = [float(r.get("width", "")) for r in rects(svg)]
    assert widths[0] > 0
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert widths[2] == pytest.approx(widths[0] / 4)
    assert {"alpha", "beta", "gamma", "10", "5", "2.5"} <= set(texts(svg))
    assert table_rows(figure) == [["alpha", "10"], ["beta", "5"], ["gamma", "2.5"]]
    row_heads = [th.text for th in figure.iter("th") if th.get("scope") == "row"]
    assert row_heads == ["alpha", "beta", "gamma"]


def test_a_chart_names_itself_and_describes_its_data() -> None:
    svg = svg_of(parse(charts.bar_chart("Sync", [("fresh", 3), ("stale", 1)], unit="learners")))
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Sync"
    assert desc is not None and desc.text == "fresh: 3 learners; stale: 1 learners."
    labelled = (svg.get("aria-labelledby") or "").split()
    assert labelled == [title.get("id"), desc.get("id")]


def test_empty_data_says_so_and_draws_no_bars() -> None:
    for figure in (
        parse(charts.bar_chart("None", [])),
        parse(charts.funnel("None", [])),
        parse(charts.stacked_bars("None", ["a"], [])),
        parse(charts.line_chart("None", [])),
        parse(charts.histogram("None", [], [0, 50, 100])),
    ):
        svg = svg_of(figure)
        assert rects(svg) == [] and rects(svg, "segment") == []
        assert "No data yet" in texts(svg)
        assert "no data yet" in "".join(figure.itertext())


def test_the_same_data_gives_the_same_bytes() -> None:
    points = [(date(2026, 11, d), float(d)) for d in (3, 1, 2)]
    assert charts.line_chart("Time", points) == charts.line_chart("Time", points)
    assert charts.bar_chart("A", [("x", 1)]) == charts.bar_chart("A", [("x", 1)])


def test_stacked_segments_add_up_to_the_bar_and_bars_to_their_totals() -> None:
    figure = parse(
        charts.stacked_bars(
            "Status", ["done", "started", "not started"], [("m1", [6, 3, 1]), ("m2", [1, 1, 3])]
        )
    )
    svg = svg_of(figure)
    segments = [float(r.get("width", "")) for r in rects(svg, "segment")]
    first, second = sum(segments[:3]), sum(segments[3:])
    assert second == pytest.approx(first / 2)  # totals 10 and 5
    assert segments[0] == pytest.approx(2 * segments[1])  # 6 vs 3
    assert {"done", "started", "not started", "m1", "m2", "10", "5"} <= set(texts(svg))
    assert table_rows(figure) == [["m1", "6", "3", "1", "10"], ["m2", "1", "1", "3", "5"]]
    with pytest.raises(ValueError, match="one value per category"):
        charts.stacked_bars("Bad", ["a", "b"], [("m1", [1])])


def test_a_funnel_shows_each_step_s_share_of_the_first() -> None:
    figure = parse(charts.funnel("Funnel", [("enrolled", 40), ("started", 30), ("done", 10)]))
    widths = [float(r.get("width", "")) for r in rects(svg_of(figure))]
    assert widths[1] == pytest.approx(widths[0] * 0.75)
    assert widths[2] == pytest.approx(widths[0] * 0.25)
    assert table_rows(figure) == [
        ["enrolled", "40", "100 %"],
        ["started", "30", "75 %"],
        ["done", "10", "25 %"],
    ]


def test_a_line_chart_places_points_by_date_on_a_scale_from_zero() -> None:
    points = [(date(2026, 11, 1), 10.0), (date(2026, 11, 2), 20.0), (date(2026, 11, 5), 40.0)]
    svg = svg_of(parse(charts.line_chart("Minutes a day", points, unit="min")))
    circles = list(svg.iter(f"{SVG}circle"))
    xs = [float(c.get("cx", "")) for c in circles]
    ys = [float(c.get("cy", "")) for c in circles]
    # x by date: day 2 is a quarter of the way from day 1 to day 5.
    assert (xs[1] - xs[0]) == pytest.approx((xs[2] - xs[0]) / 4)
    # y from a zero baseline: 20 is twice as high above it as 10.
    ticks = [t for t in svg.iter(f"{SVG}line") if t.get("class") == "tick"]
    baseline = max(float(t.get("y1", "")) for t in ticks)
    assert baseline - ys[1] == pytest.approx(2 * (baseline - ys[0]))
    labels = texts(svg)
    assert {"0", "10", "20", "30", "40"} <= set(labels)  # the y axis scale
    assert "2026-11-01" in labels and "2026-11-05" in labels and "min" in labels


def test_a_histogram_counts_values_into_bins_including_the_last_edge() -> None:
    figure = parse(charts.histogram("Scores", [0, 10, 49, 50, 75, 100, 100, 120], [0, 50, 100]))
    svg = svg_of(figure)
    heights = [float(r.get("height", "")) for r in rects(svg)]
    assert [r.get("data-value") for r in rects(svg)] == ["3", "4"]  # 120 is outside
    assert heights[0] == pytest.approx(heights[1] * 3 / 4)
    assert table_rows(figure) == [["0 to 50", "3"], ["50 to 100", "4"]]
    assert {"0", "50", "100"} <= set(texts(svg))
    with pytest.raises(ValueError, match="increasing edges"):
        charts.histogram("Bad", [1], [5, 5])


def test_chart_colours_stand_out_from_the_background_and_text_is_readable() -> None:
    for colour in charts.PALETTE:
        assert contrast(colour, "#ffffff") >= 3, colour
    assert contrast(charts.GRID, "#ffffff") >= 3
    assert contrast(charts.TEXT, "#ffffff") >= 4.5


def test_labels_are_escaped() -> None:
    figure = parse(charts.bar_chart("<b>&", [("a<b", 1)]))
    assert "a<b" in texts(svg_of(figure))


def test_nice_ticks_are_round_and_reach_the_top() -> None:
    assert charts.nice_ticks(40) == [0, 10, 20, 30, 40]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0) == [0, 1]
