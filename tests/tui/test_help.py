"""The keys screen (? and F1): every key of the screen underneath, read from its bindings."""

from __future__ import annotations

from collections.abc import Callable

from tests.tui.conftest import screen_text, settle, started
from tui.app import WaymarkApp
from tui.help import HelpScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.lesson import LessonScreen
from tui.screens.quiz import QuizScreen


def shown(screen: object) -> set[tuple[str, str]]:
    """(keys, description) of each line the keys screen lists."""
    assert isinstance(screen, HelpScreen)
    return {(k.keys, k.description) for k in screen.keys}


async def test_question_mark_lists_the_dashboards_keys_and_closes_again(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, HelpScreen)
        text = screen_text(pilot)
        assert "Keys · alice" in text and "This screen" in text and "Everywhere" in text
        assert {("a", "Achievements"), ("l", "Learners"), ("⏎", "Open"), ("^q", "Quit")} <= shown(
            pilot.app.screen
        )
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DashboardScreen)


async def test_f1_on_a_quiz_question_shows_space_and_every_quiz_key(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 30)) as pilot:
        await started(pilot)
        for key in ("down", "enter", "down", "down", "enter", "s"):
            await pilot.press(key)
            await settle(pilot)
        quiz = pilot.app.screen
        assert isinstance(quiz, QuizScreen)
        await pilot.press("f1")
        await settle(pilot)
        keys = shown(pilot.app.screen)
        assert ("space", "Choose") in keys
        assert {("n / →", "Next"), ("p / ←", "Previous"), ("^s / f5", "Submit")} <= keys
        # read from the bindings: every key the quiz answers to now is listed
        listed = {d for _, d in keys}
        for active in quiz.active_bindings.values():
            if active.binding.description and not active.binding.system:
                assert active.binding.description in listed
        await pilot.press("f1")
        await settle(pilot)
        assert pilot.app.screen is quiz


async def test_help_lists_keys_hidden_from_the_footer(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 30)) as pilot:
        await started(pilot)
        await pilot.press("enter", "down", "down", "enter")  # Course One / Watching
        await settle(pilot)
        assert isinstance(pilot.app.screen, LessonScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert {("space", "Play/pause"), ("←", "-10s"), ("→", "+10s")} <= shown(pilot.app.screen)
