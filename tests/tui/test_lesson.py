"""The lesson screen: the video stand-in's clock ticks, its meta line reads in words with
one rounding rule, and only a text lesson without text says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Markdown, ProgressBar

from sync.catalog import parse_catalog
from tests.tui.conftest import CATALOG_YAML, Clock, screen_text, seed, settle, started
from tests.tui.test_app import events, record
from tests.tui.wait import shows
from tui.app import WaymarkApp
from tui.screens.lesson import NO_TEXT, LessonScreen

VIDEO = {"course": "c1", "lesson": "video"}


async def open_video(pilot: Pilot[Any]) -> LessonScreen:
    await started(pilot)
    await pilot.press("enter")  # continue: the video
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LessonScreen) and screen.is_video
    return screen


async def test_the_video_clock_ticks_every_second_without_recording_more(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(home, clock, ("lesson.progressed", {**VIDEO, "position": 20}))
    before = len(await events(home))
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_video(pilot)
        await pilot.press("space")
        for second in (1, 2, 3):  # the screen's interval redraws from the app's clock
            clock.advance(1)
            await shows(pilot, f"▶ Playing  0:{20 + second} / 3:20")
        clock.advance(200)  # past the end: the segment is recorded and the video stops
        # (time spent counts the whole while it "played", as before the end was reached)
        await shows(pilot, "‖ Paused  3:20 / 3:20")
        await pilot.press("escape")
        await settle(pilot)
    recorded = (await events(home))[before:]
    assert recorded == [
        ("lesson.opened", VIDEO),
        ("lesson.progressed", {**VIDEO, "from": 20, "to": 200, "seconds": 203, "position": 200}),
    ]


async def test_the_meta_line_rounds_like_the_bar_and_says_the_rule_in_words(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    # 179 of 200 seconds: 89.5 % watched, under the 90 % the lesson needs.
    await record(
        home, clock, ("lesson.progressed", {**VIDEO, "seconds": 179, "from": 0, "to": 179})
    )
    async with make_app().run_test(size=(80, 24)) as pilot:
        screen = await open_video(pilot)
        text = screen_text(pilot)
        assert "watched 89%" in text and "89.5" not in text
        assert screen.query_one("#watched", ProgressBar).percentage == 0.89
        assert "89%" in text.split("watched 89%", 1)[1]  # the bar's own label
        assert "completes at 90% watched" in text
        assert "watched:90" not in text
        assert NO_TEXT.strip("*") not in text  # a video without text says nothing of it
        assert not screen.query(Markdown)


async def test_only_a_text_lesson_without_text_says_it_has_none(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    home = tmp_path / "kiosk"
    yaml = CATALOG_YAML.replace(
        "          - {id: video, title: Watching",
        "          - {id: empty, title: Empty}\n"
        "          - {id: video, title: Watching, text: 'Watch it twice.'",
    )
    await seed(home, "alice", catalog=parse_catalog(yaml, "yaml"))
    async with make_app(home=home).run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")  # Course One
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # Basics > Empty
        await settle(pilot)
        text = screen_text(pilot)
        assert isinstance(pilot.app.screen, LessonScreen)
        assert "This lesson has no text." in text
        assert "completes when you mark it complete" in text
        await pilot.press("escape", "down", "enter")  # Watching: a video with text
        await settle(pilot)
        text = screen_text(pilot)
        assert "Watch it twice." in text and "This lesson has no text." not in text
