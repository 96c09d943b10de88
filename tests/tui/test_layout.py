"""Size rules: the notice below 80x24, and extra width used at 120 columns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.tui.conftest import press, screen_text, seed, settle, started
from tui.app import WaymarkApp
from tui.help import HelpScreen
from tui.layout import SizeNotice, size_text
from tui.messages import Open, SignInFailed
from tui.present import CourseRef
from tui.screens.course import CourseScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.signin import SignInScreen
from tui.widgets.progress_row import ProgressRow


async def test_below_80x24_a_notice_covers_the_screen_and_goes_away(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(60, 20)) as pilot:
        await started(pilot)
        text = screen_text(pilot)
        assert (
            f"Waymark needs at least {size_text(80, 24)}; this terminal is {size_text(60, 20)}"
            in text
        )
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        text = screen_text(pilot)
        assert "needs at least" not in text and "Course One" in text
        await pilot.resize_terminal(100, 23)  # wide enough, too short
        await settle(pilot)
        assert f"this terminal is {size_text(100, 23)}" in screen_text(pilot)


async def test_every_screen_gets_the_notice(make_app: Callable[..., WaymarkApp]) -> None:
    async with make_app().run_test(size=(70, 24)) as pilot:
        await started(pilot)
        pilot.app.post_message(Open(CourseRef("c1")))
        await settle(pilot)
        assert not isinstance(pilot.app.screen, DashboardScreen)
        assert pilot.app.screen.query_one(SizeNotice).display
        assert f"this terminal is {size_text(70, 24)}" in screen_text(pilot)


async def test_under_the_notice_keys_do_not_reach_the_screen_but_help_and_quit_do(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(60, 20)) as pilot:
        await started(pilot)
        dashboard = pilot.app.screen
        assert isinstance(dashboard, DashboardScreen)
        await press(pilot, "down", "enter", "a", "l")  # open, achievements, learners
        assert pilot.app.screen is dashboard
        await press(pilot, "question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        await press(pilot, "f1")
        assert pilot.app.screen is dashboard
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        # Nothing moved underneath: the cursor is where it was, and enter opens its row.
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, CourseScreen)
        assert pilot.app.screen.course == "c1"
        await pilot.resize_terminal(60, 20)
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, CourseScreen)
        await press(pilot, "ctrl+q")
        assert pilot.app.return_code == 0 and not pilot.app.is_running


async def test_titles_get_the_extra_width_at_120_columns(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        narrow = pilot.app.screen.query(ProgressRow).first().query_one(".title").outer_size.width
    async with make_app().run_test(size=(120, 40)) as pilot:
        await started(pilot)
        wide = pilot.app.screen.query(ProgressRow).first().query_one(".title").outer_size.width
    assert narrow == 26 and wide >= narrow + 30


async def test_the_chart_fills_the_width_and_has_a_scale(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("a")
        await settle(pilot)
        rows = screen_text(pilot).splitlines()
        chart = [r for r in rows if "┤" in r or ("│ " in r and "Su" not in r)]
        labels = next(r for r in rows if "Sa22" in r)
        assert len(labels.rstrip()) > 100  # 14 days spread over ~120 columns
        assert any(r.strip().startswith("0 ┤") for r in chart)


async def test_sign_in_fits_80x24_with_its_error_in_view(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    await seed(tmp_path / "kiosk", "alice", "bob")
    app = make_app(home=tmp_path / "kiosk", idle_timeout=300)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, SignInScreen)
        screen.post_message(SignInFailed("wrong name or password"))
        await settle(pilot)
        text = screen_text(pilot)
        assert "alice" in text and "bob" in text and "Sign in" in text
        assert "wrong name or password" in text
        scroll = screen.query_one("#signin")
        assert scroll.max_scroll_y == 0  # nothing below the fold
