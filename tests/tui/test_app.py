"""The app driven by Pilot at 80x24 on a real journal (no server): what the learner sees
and the events the journal records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from client.api import Device
from client.errors import ServerUnreachable
from client.journal import Journal
from tests.client.conftest import entry
from tests.tui.conftest import (
    BOARD,
    Clock,
    arrive,
    awards,
    feed,
    fetched,
    press,
    screen_text,
    seed,
    settle,
    started,
)
from tui.app import WaymarkApp
from tui.screens.achievements import AchievementsScreen
from tui.screens.assignment import AssignmentScreen
from tui.screens.course import CourseScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.lesson import LessonScreen
from tui.screens.path import PathScreen
from tui.screens.quiz import QuizScreen
from tui.screens.signin import SignInScreen

READ = {"course": "c1", "lesson": "read"}


async def events(home: Path, user: str = "u-alice") -> list[tuple[str, dict[str, Any]]]:
    """Every event recorded on the device for ``user``, oldest first."""
    async with await Journal.open(home) as journal:
        account = next(a for a in await journal.accounts() if a.user_id == user)
        found = await journal.pending(account.device_id, 0, 1000)
    return [(e.type, e.body) for e in found]


async def record(home: Path, clock: Clock, *items: tuple[str, dict[str, Any]]) -> None:
    """Record ``items`` on the device before the app starts, a minute apart."""
    async with Device(home, clock=clock, timezone="UTC") as device:
        for type_, body in items:
            clock.advance(60)
            await device.record(type_, body)


async def test_dashboard_lists_courses_and_paths_with_status(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        text = screen_text(pilot)
        assert isinstance(pilot.app.screen, DashboardScreen)
        assert "Course One" in text and "Course Two" in text and "Path: Track" in text
        assert "not started" in text and "not enrolled" in text
        assert "sync off · 0 waiting · synced never" in text
        assert "▶ Continue" not in text


async def test_dashboard_continues_the_most_recent_lesson_in_progress(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(
        home,
        clock,
        ("lesson.opened", {"course": "c2", "lesson": "intro"}),
        (
            "lesson.progressed",
            {"course": "c1", "lesson": "video", "seconds": 30, "from": 0, "to": 30},
        ),
        ("lesson.opened", READ),
    )
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        text = screen_text(pilot)
        assert "▶ Continue: Reading (Course One / Basics)" in text
        assert "◐ in progress" in text and "33%" in text  # c2: intro viewed, quiz not passed
        assert "Nov 22" in text  # last activity, in the learner's zone
        assert "0:30" in text  # time spent
        assert "3 waiting" in text
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(pilot.app.screen, LessonScreen)
        assert pilot.app.screen.ref.lesson == "read"


async def test_continue_offers_the_next_lesson_once_the_last_one_is_finished(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(
        home,
        clock,
        ("lesson.opened", {"course": "c2", "lesson": "intro"}),  # done: it completes when viewed
        ("lesson.opened", READ),
        ("lesson.completed", READ),
    )
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "▶ Continue: Watching (Course One / Basics)" in screen_text(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(pilot.app.screen, LessonScreen)
        assert pilot.app.screen.ref.lesson == "video"


async def test_nothing_to_continue_before_any_activity_or_once_all_is_done(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "Continue" not in screen_text(pilot)  # nor is the key offered
    await record(
        home,
        clock,
        ("lesson.completed", READ),
        ("lesson.completed", {"course": "c1", "lesson": "video"}),
    )
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "Continue" not in screen_text(pilot)


async def test_course_view_shows_the_tree_and_opens_a_lesson(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(home, clock, ("path.enrolled", {"path": "p1"}), ("lesson.completed", READ))
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "enter")  # Course One, below "continue" (with Watching)
        await settle(pilot)
        assert isinstance(pilot.app.screen, CourseScreen)
        text = screen_text(pilot)
        assert "Basics  ◐ in progress  50%" in text
        assert "✓ Reading  100%" in text
        assert "○ Watching  0%" in text
        assert "Milestones" in text and "Track / First steps" in text
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, LessonScreen)
        assert pilot.app.screen.ref.lesson == "read"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CourseScreen)


async def test_lesson_records_open_active_time_and_completion(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")  # Course One
        await settle(pilot)
        await pilot.press("down", "enter")  # Basics > Reading
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LessonScreen)
        text = screen_text(pilot)
        assert "Reading well" in text and "slowly" in text
        assert "c Mark complete" in text and "Mark incomplete" not in text
        clock.advance(40)
        await pilot.press("down")  # the learner is active
        clock.advance(20)
        screen.flush()
        clock.advance(600)  # idle: no input for ten minutes
        screen.flush()
        await pilot.press("c")
        await settle(pilot)
        assert "✓ completed" in screen_text(pilot)
        assert "u Mark incomplete" in screen_text(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert "◐ in progress" in screen_text(pilot)
    recorded = await events(home)
    assert recorded[0] == ("lesson.opened", READ)
    progressed = [b["seconds"] for t, b in recorded if t == "lesson.progressed"]
    assert progressed[0] == 60  # 40 s + 20 s active
    assert sum(progressed) == 40 + 120  # counted up to two minutes after the last key
    assert [t for t, _ in recorded][-2:] == ["lesson.completed", "lesson.uncompleted"]


async def test_leaving_a_lesson_saves_the_time_spent(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        clock.advance(15)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DashboardScreen)
        assert "▶ Continue: Reading" in screen_text(pilot)
    assert (await events(home))[-1] == ("lesson.progressed", {**READ, "seconds": 15, "position": 0})


async def test_video_stand_in_records_watched_segments_and_position(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(
        home, clock, ("lesson.progressed", {"course": "c1", "lesson": "video", "position": 20})
    )
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")  # continue: the video
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LessonScreen) and screen.is_video
        assert "‖ Paused  0:20 / 3:20" in screen_text(pilot)
        await pilot.press("space")
        clock.advance(30)
        screen.flush()
        await settle(pilot)
        assert "▶ Playing  0:50 / 3:20" in screen_text(pilot)
        assert "watched 15%" in screen_text(pilot)
        await pilot.press("space", "right")
        await settle(pilot)
        assert "‖ Paused  1:00 / 3:20" in screen_text(pilot)
        await pilot.press("escape")  # leaving saves the position
        await settle(pilot)
    body = {"course": "c1", "lesson": "video"}
    assert (await events(home))[1:] == [
        ("lesson.opened", body),
        ("lesson.progressed", {**body, "from": 20, "to": 50, "seconds": 30, "position": 50}),
        ("lesson.progressed", {**body, "seconds": 0, "position": 60}),
    ]


async def test_quiz_one_question_at_a_time_submitted_offline(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "enter")  # Course Two
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # Checks > Intro > Quick check
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, QuizScreen)
        text = screen_text(pilot)
        assert "Attempts left: 2" in text and "s Start attempt" in text
        await pilot.press("s")
        await settle(pilot)
        assert "question 1 of 2" in screen_text(pilot)
        assert "Which letter comes first?" in screen_text(pilot)
        await pilot.press("space", "n")  # A
        assert "Pick the vowels." in screen_text(pilot)
        await pilot.press("space", "down", "down", "space")  # E and O
        await pilot.press("ctrl+s")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Your attempt: submitted, scored when online" in text
        # The attempt waiting to be scored counts already (the server decides once it scores).
        assert "Attempts left: 1 (1 attempt submitted, scored when online)" in text
    ref = {"course": "c2", "quiz": "q1", "attempt": "attempt-1"}
    assert await events(home) == [
        ("quiz.started", ref),
        ("quiz.answered", {**ref, "question": "one", "choices": ["a"]}),
        ("quiz.answered", {**ref, "question": "two", "choices": ["x", "z"]}),
        ("quiz.submitted", ref),
    ]


async def test_abandoning_a_quiz_records_nothing(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        await pilot.press("s", "space", "escape")
        await settle(pilot)
        assert "Leave this attempt?" in screen_text(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "Attempt discarded: 1 answer not sent" in screen_text(pilot)
        assert "Attempts left: 2" in screen_text(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CourseScreen)
    assert await events(home) == []


async def test_switching_between_learners_on_the_device(
    make_app: Callable[..., WaymarkApp], tmp_path: Path, clock: Clock
) -> None:
    home = tmp_path / "kiosk"
    await seed(home, "alice", "bob")
    app = make_app(home=home, user="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "alice ·" in screen_text(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(pilot.app.screen, SignInScreen)
        text = screen_text(pilot)
        assert "alice  ·  http://server.test" in text and "bob  ·" in text
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DashboardScreen)
        assert "bob ·" in screen_text(pilot)
        assert app.user == "bob"


async def test_sign_in_failure_is_shown_on_the_form(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    app = make_app(home=tmp_path / "empty")
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert isinstance(pilot.app.screen, SignInScreen)
        await press(pilot, *"http://127.0.0.1:9", "enter", *"ann", "enter", *"pw", "enter")
        assert app.login_worker is not None
        await app.login_worker.wait()
        await settle(pilot)
        assert "cannot reach" in screen_text(pilot)
        assert isinstance(pilot.app.screen, SignInScreen)


async def test_kiosk_signs_out_after_idle_time(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    app = make_app(user="alice", idle_timeout=300)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "enter")  # a lesson is open when the learner walks away
        await settle(pilot)
        clock.advance(299)
        await app.sign_out_if_idle()
        assert app.user == "alice"
        clock.advance(1)
        await app.sign_out_if_idle()
        await settle(pilot)
        assert app.user is None
        assert isinstance(pilot.app.screen, SignInScreen)
        assert "alice  ·" in screen_text(pilot)
    recorded = await events(home)
    assert recorded[-1] == ("lesson.progressed", {**READ, "seconds": 120, "position": 0})


async def test_path_view_asks_the_server_to_enroll_one_request_at_a_time(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "down", "enter")  # Path: Track
        await settle(pilot)
        assert isinstance(pilot.app.screen, PathScreen)
        text = screen_text(pilot)
        assert "Track  ○ not enrolled · 0/2 milestones · 0%" in text
        assert "First steps" in text and "Course One" in text
        assert "e Enroll" in text and "d Drop" not in text
        await pilot.press("e")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Enrollment requested: the server decides when this device syncs" in text
        assert "e Enroll" not in text  # until the server has answered
        await pilot.press("enter")  # a milestone opens its course
        await settle(pilot)
        assert isinstance(pilot.app.screen, CourseScreen)
        assert pilot.app.screen.course == "c1"
    assert await events(home) == [("path.enrolled", {"path": "p1"})]


async def test_dropping_a_path_asks_first(make_app: Callable[..., WaymarkApp], home: Path) -> None:
    enrolled = {"path": "p1", "to": "enrolled", "from": None, "reason": "enroll"}
    await feed(home, [entry(1, "enrollment.changed", origin="server", body=enrolled)])
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Track  ◐ enrolled · 0/2 milestones" in text
        assert "d Drop" in text and "e Enroll" not in text
        await pilot.press("d")
        await settle(pilot)
        assert "Drop the path “Track”? Your progress stays." in screen_text(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert await events(home) == []
        await pilot.press("d", "y")
        await settle(pilot)
        assert "Drop requested" in screen_text(pilot)
    assert await events(home) == [("path.dropped", {"path": "p1"})]


async def test_assignment_draft_saved_submitted_and_kept_when_leaving(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    essay = {"course": "c2", "assignment": "essay"}

    async def open_essay(pilot: Pilot[Any]) -> AssignmentScreen:
        await started(pilot)
        await pilot.press("down", "enter")  # Course Two
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")  # Checks > … > Essay
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AssignmentScreen)
        return screen

    async with make_app().run_test(size=(80, 24)) as pilot:
        screen = await open_essay(pilot)
        text = screen_text(pilot)
        assert "Essay" in text and "0 submitted" in text
        assert "^s Save draft" in text and "f5 Submit" in text
        await pilot.press(*"Hello")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Draft saved at" in screen_text(pilot)
        await pilot.press(*" world", "f5")
        await settle(pilot)
        assert "Submit “Essay” for grading?" in screen_text(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "Submitted for grading" in screen_text(pilot)
        await pilot.press(*"!", "escape", "y")  # leaving with an edit saves it as a draft
        await settle(pilot)
        assert isinstance(pilot.app.screen, CourseScreen)
    assert await events(home) == [
        ("assignment.saved", {**essay, "text": "Hello"}),
        ("assignment.submitted", {**essay, "text": "Hello world"}),
        ("assignment.saved", {**essay, "text": "Hello world!"}),
    ]
    async with make_app().run_test(size=(80, 24)) as pilot:  # the editor starts from it
        screen = await open_essay(pilot)
        assert screen.text == "Hello world!"


async def test_achievements_show_level_streak_badges_certificates_and_leaderboard(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    await record(home, clock, ("lesson.completed", READ))
    await feed(home, awards())
    app = make_app(boards=[BOARD, ServerUnreachable("cannot reach http://server.test")])
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        text = screen_text(pilot)
        assert "115 points · Level 2" in text and "streak 1 day" in text
        assert "First steps" in text  # a recent badge on the dashboard
        await pilot.press("a")
        await fetched(pilot)
        assert isinstance(pilot.app.screen, AchievementsScreen)
        text = screen_text(pilot)
        assert "115 points · Level 2" in text and "135 points to level 3" in text
        assert "Streak 1 day · longest 1" in text
        assert "✓ First steps" in text and "○ Quiz whiz" in text
        assert "ABCD-EFGH-JKLM-NPQR" in text and "Course One" in text
        assert "1. bob" in text and "alice" in text and "◀ you" in text
        assert "Time per day" in text
        await pilot.press("r")  # the server is gone: the last board stays, marked so
        await fetched(pilot)
        text = screen_text(pilot)
        assert "1. bob" in text and "offline" in text


def toasts(pilot: Pilot[Any]) -> list[str]:
    """Titles of the notifications on screen (Textual has no public list of them)."""
    return [str(n.title) for n in pilot.app._notifications]


async def test_a_celebration_is_shown_once_per_device(
    make_app: Callable[..., WaymarkApp], home: Path, clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await arrive(pilot, awards())
        # The first ever: the newest three, and a line for the one before them.
        assert toasts(pilot) == [
            "More achievements",
            "🎉 Course completed: Course One",
            "🎉 Certificate: Course One",
            "🎉 Level 2 reached",
        ]
        pilot.app.clear_notifications()
        await arrive(pilot, [])  # another reload
        assert toasts(pilot) == []
        later = entry(
            7,
            "achievement.earned",
            origin="server",
            body={"achievement_id": "quiz-whiz", "name": "Quiz whiz", "points": 15},
        )
        await arrive(pilot, [later])
        assert toasts(pilot) == ["🎉 Badge earned: Quiz whiz"]
    async with make_app().run_test(size=(80, 24)) as pilot:  # nor when the app opens again
        await started(pilot)
        assert toasts(pilot) == []
