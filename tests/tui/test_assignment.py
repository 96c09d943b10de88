"""The assignment screen driven by Pilot: its own text above the editor, leaving with
unsaved text asks first, and a grade arriving shows on the open screen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from sync.catalog import parse_catalog
from tests.client.conftest import entry
from tests.tui.conftest import CATALOG_YAML, screen_text, seed, settle, started
from tests.tui.test_app import events
from tests.tui.test_quiz import burst, decided, until
from tui.app import WaymarkApp
from tui.messages import Open
from tui.present import AssignmentRef
from tui.screens.assignment import AssignmentScreen

ESSAY = {"course": "c2", "assignment": "essay"}
WITH_TEXT = CATALOG_YAML.replace(
    "          - {id: essay, title: Essay}\n",
    """          - id: essay
            title: Essay
            text: |
              Write **three sentences** about what you checked.
""",
)


async def open_essay(pilot: Pilot[Any]) -> AssignmentScreen:
    await started(pilot)
    pilot.app.post_message(Open(AssignmentRef("c2", "essay")))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AssignmentScreen)
    return screen


async def test_the_assignment_text_is_shown_above_an_editor_with_a_placeholder(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    home = tmp_path / "brief"
    await seed(home, "alice", catalog=parse_catalog(WITH_TEXT, "yaml"))
    async with make_app(home=home).run_test(size=(80, 24)) as pilot:
        await open_essay(pilot)
        text = screen_text(pilot)
        assert "Write three sentences about what you checked." in text
        assert "Write your answer here" in text  # the empty editor's placeholder
        assert text.index("what you checked") < text.index("Write your answer here")
        await pilot.press(*"Done")
        await settle(pilot)
        assert "Write your answer here" not in screen_text(pilot)


async def test_an_assignment_without_text_shows_only_the_editor(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        screen = await open_essay(pilot)
        assert not screen.query_one("#assignment-brief").display
        assert "Write your answer here" in screen_text(pilot)


async def test_leaving_with_unsaved_text_asks_and_staying_keeps_it(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        screen = await open_essay(pilot)
        await pilot.press(*"Hello", "escape")
        await settle(pilot)
        assert "Leave “Essay”? Your changes are not saved yet" in screen_text(pilot)
        await pilot.press("n")  # stay
        await settle(pilot)
        assert pilot.app.screen is screen and screen.text == "Hello"
        await pilot.press(*" world", "escape", "y")  # leave: saved as a draft, and said so
        await settle(pilot)
        assert not isinstance(pilot.app.screen, AssignmentScreen)
        said = [n.message for n in pilot.app._notifications]  # no public list of them
        assert "Your changes to “Essay” were saved as a draft." in said
    assert await events(home) == [("assignment.saved", {**ESSAY, "text": "Hello world"})]


async def test_leaving_without_changes_does_not_ask(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_essay(pilot)
        await pilot.press(*"Hi", "ctrl+s", "escape")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, AssignmentScreen)


async def test_a_grade_arriving_shows_on_the_open_screen(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_essay(pilot)
        await pilot.press(*"My essay", "f5", "y")
        await until(pilot, "1 submitted")
        graded = {**ESSAY, "score": 80, "passed": True, "feedback": "Clear and short."}
        await decided(
            pilot,
            entry(1, "assignment.graded", origin="server", body=graded, device_id=None, seq=None),
        )
        text = await until(pilot, "score 80/100, passed", "Feedback: Clear and short.")
        assert "✓ graded" in text


async def test_text_typed_while_the_draft_is_read_is_kept_in_order(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        pilot.app.post_message(Open(AssignmentRef("c2", "essay")))
        burst(pilot, [*"Hi", "enter", *"there"])  # queued before the draft is even asked for
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AssignmentScreen)
        assert screen.text == "Hi\nthere"
