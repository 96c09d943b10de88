"""The quiz screen driven by Pilot: answers kept however fast the keys come, leaving an
attempt asks first, cool-downs and attempts read true, marks show the selection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.pilot import Pilot

from client.connection import Change
from client.journal import Journal
from sync.catalog import parse_catalog
from sync.protocol.messages import FeedEntry
from tests.client.conftest import entry
from tests.tui.conftest import CATALOG_YAML, Clock, screen_text, seed, settle, started
from tui.app import WaymarkApp
from tui.messages import Changed, Open
from tui.present import QuizRef
from tui.screens.quiz import QuizScreen
from tui.widgets.choices import Choices

# Course Two's module gains a four-question quiz, like the demo's "Check your syntax".
FOUR = CATALOG_YAML.replace(
    "        assignments:\n",
    """          - id: q4
            title: Four questions
            max_attempts: 3
            questions:
              - id: assign
                text: Which line stores 3 in x?
                choices: [{id: a, text: "x == 3"}, {id: b, text: "x = 3"}, {id: c, text: "3 -> x"}]
                answer: b
              - id: loops
                text: Which of these are loops?
                choices: [{id: for, text: for}, {id: if, text: if}, {id: while, text: while}]
                answer: [for, while]
              - id: range
                text: How many times does range(3) run?
                choices: [{id: two, text: "2"}, {id: three, text: "3"}, {id: four, text: "4"}]
                answer: three
              - id: def
                text: Which keyword starts a function?
                choices: [{id: function, text: function}, {id: def, text: def}, {id: fn, text: fn}]
                answer: def
        assignments:
""",
)
BURST = [
    "down",
    "space",
    "n",
    "space",
    "down",
    "down",
    "space",
    "n",
    "down",
    "space",
    "n",
    "down",
    "space",
]
CHARS = {"space": " ", "enter": "\r"}


async def answers(home: Path, user: str = "u-alice") -> dict[str, list[str]]:
    async with await Journal.open(home) as journal:
        account = next(a for a in await journal.accounts() if a.user_id == user)
        found = await journal.pending(account.device_id, 0, 1000)
    return {
        str(e.body["question"]): list(e.body["choices"]) for e in found if e.type == "quiz.answered"
    }


async def open_quiz(pilot: Pilot[Any], quiz: str = "q1") -> QuizScreen:
    await started(pilot)
    pilot.app.post_message(Open(QuizRef("c2", quiz)))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, QuizScreen)
    return screen


def burst(pilot: Pilot[Any], keys: list[str]) -> None:
    """Queue every key at once, as a terminal delivers a fast typist's (or a paste)."""
    for key in keys:
        char = key if len(key) == 1 else CHARS.get(key)
        pilot.app.post_message(events.Key(key, char))


async def test_a_burst_of_keys_keeps_every_answer(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    home = tmp_path / "four"
    await seed(home, "alice", catalog=parse_catalog(FOUR, "yaml"))
    async with make_app(home=home).run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot, "q4")
        await pilot.press("s")
        await settle(pilot)
        burst(pilot, [*BURST, "ctrl+s"])
        await settle(pilot)
        assert "Your attempt: submitted, scored when online" in screen_text(pilot)
    assert await answers(home) == {
        "assign": ["b"],
        "loops": ["for", "while"],
        "range": ["three"],
        "def": ["def"],
    }


async def until(
    pilot: Pilot[Any], *wanted: str, gone: tuple[str, ...] = (), timeout: float = 30
) -> str:
    """The screen once it shows every one of ``wanted`` and none of ``gone`` (timers and
    messages redraw it on their own; this re-reads it until they did, or ``timeout``)."""
    text = ""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await settle(pilot)
                text = screen_text(pilot)
                if all(w in text for w in wanted) and not any(g in text for g in gone):
                    return text
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"never {wanted} without {gone}; the screen:\n{text}") from None


async def decided(pilot: Pilot[Any], *entries: FeedEntry) -> None:
    """The server's decisions arrive as a sync delivers them: into the journal, then one
    :class:`Changed` each to the app (the follower's ``on_change``)."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    await app.device.journal.apply_feed("u-alice", list(entries), now_ms=app.clock())
    for each in entries:
        app.post_message(Changed(Change("alice", each)))


def scored(attempt: str, number: int, score: float, at: int, user_seq: int = 1) -> FeedEntry:
    body = {
        "course": "c2",
        "quiz": "q1",
        "attempt": attempt,
        "number": number,
        "score": score,
        "passed": score >= 0.7,
        "counted": True,
        "reason": "",
        "at": at,
        "correct": 1,
        "questions": 2,
        "received": at,
    }
    return entry(user_seq, "quiz.scored", origin="server", body=body, device_id=None, seq=None)


async def submit_one(pilot: Pilot[Any]) -> None:
    """Start an attempt, answer the first question (A) and submit it."""
    await pilot.press("s")
    await settle(pilot)
    await pilot.press("space", "ctrl+s")
    await until(pilot, "Your attempt:")


async def test_leaving_an_attempt_asks_and_staying_keeps_every_answer(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await pilot.press("s", "space", "n", "space", "escape")  # A, then E
        await settle(pilot)
        text = screen_text(pilot)
        assert "Leave this attempt?" in text
        assert "Your answers to 2 of 2 questions" in text
        await pilot.press("n")  # stay
        await settle(pilot)
        text = screen_text(pilot)
        assert "question 2 of 2" in text and "[x] E" in text and "[ ] K" in text
        await pilot.press("p")
        await settle(pilot)
        assert "(•) A" in screen_text(pilot) and "( ) B" in screen_text(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, "Your attempt: submitted, scored when online")
    assert await answers(home) == {"one": ["a"], "two": ["x"]}


async def test_leaving_an_attempt_discards_it_and_says_so(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await pilot.press("s", "space", "n", "space", "escape", "y")
        await until(pilot, "Attempt discarded: 2 answers not sent, nothing recorded.")
        assert "Attempts left: 2" in screen_text(pilot)
        await pilot.press("escape")  # nothing open now: back without asking
        await settle(pilot)
        assert not isinstance(pilot.app.screen, QuizScreen)
    assert await answers(home) == {}


async def test_quitting_during_an_attempt_asks_first(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await pilot.press("s", "space", "ctrl+q")
        await settle(pilot)
        assert "Quit? Your answers to 1 of 2 questions" in screen_text(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(pilot.app.screen, QuizScreen) and pilot.app.is_running
        assert "(•) A" in screen_text(pilot)


async def test_an_attempt_waiting_to_be_scored_counts_and_s_says_why_it_cannot_start(
    make_app: Callable[..., WaymarkApp], clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await submit_one(pilot)
        text = screen_text(pilot)
        assert "Attempts left: 1 (1 attempt submitted, scored when online)" in text
        assert "Cool-down: next attempt in 1:00" in text  # from the catalog's 60 s
        await pilot.press("s")
        await until(pilot, "Cannot start an attempt. Cool-down: wait until it ends.")
        clock.advance(60)
        await until(pilot, "Attempts left: 1", gone=("Cool-down",))
        await submit_one(pilot)
        await until(pilot, "Attempts left: 0 (2 attempts submitted, scored when online)")
        clock.advance(60)
        await pilot.press("s")
        await until(
            pilot, "Cannot start an attempt. No attempts left: 2 attempts waiting to be scored."
        )
        assert "question 1" not in screen_text(pilot)


async def test_a_score_arriving_shows_and_its_cool_down_counts_down_to_s(
    make_app: Callable[..., WaymarkApp], clock: Clock
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await submit_one(pilot)
        submitted = clock()
        clock.advance(10)
        await decided(pilot, scored("attempt-1", 1, 0.5, submitted))
        text = await until(pilot, "Your attempt: #1 score 50%, not passed")
        assert "Attempts left: 1" in text and "attempt submitted" not in text
        assert "Cool-down: next attempt in 0:50" in text
        clock.advance(20)
        await until(pilot, "Cool-down: next attempt in 0:30")  # the screen's own timer
        clock.advance(30)
        await until(pilot, "Attempts left: 1", gone=("Cool-down",))
        await pilot.press("s")
        await until(pilot, "question 1 of 2")


async def test_marks_show_single_and_multiple_choice_without_colour(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await open_quiz(pilot)
        await pilot.press("s")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Pick one." in text and "( ) A" in text and "( ) B" in text
        assert "space Choose" in text.splitlines()[-1]
        await pilot.press("space", "down", "space")  # a single choice: B replaces A
        await settle(pilot)
        assert "( ) A" in screen_text(pilot) and "(•) B" in screen_text(pilot)
        await pilot.press("n", "space", "down", "down", "space")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Pick every one that applies." in text
        assert "[x] E" in text and "[ ] K" in text and "[x] O" in text
        await pilot.press("up", "up", "enter")  # enter chooses too: E off again
        await settle(pilot)
        assert "[ ] E" in screen_text(pilot) and "[x] O" in screen_text(pilot)
        await pilot.click(Choices, offset=(4, 2))  # a click on K's line (below the border)
        await settle(pilot)
        assert "[x] K" in screen_text(pilot)


async def test_keys_typed_while_the_quiz_opens_go_to_the_quiz(
    make_app: Callable[..., WaymarkApp], tmp_path: Path
) -> None:
    home = tmp_path / "four"
    await seed(home, "alice", catalog=parse_catalog(FOUR, "yaml"))
    async with make_app(home=home).run_test(size=(80, 24)) as pilot:
        await started(pilot)
        # From the dashboard: Course Two, its quiz, an attempt, four answers, submit; in
        # one burst, so that every key after an Enter arrives before its screen is open.
        opening = ["down", "enter", "down", "down", "down", "enter", "s"]
        burst(pilot, [*opening, *BURST, "ctrl+s"])
        await settle(pilot)
        assert isinstance(pilot.app.screen, QuizScreen)
        assert "Your attempt: submitted, scored when online" in screen_text(pilot)
    assert await answers(home) == {
        "assign": ["b"],
        "loops": ["for", "while"],
        "range": ["three"],
        "def": ["def"],
    }
