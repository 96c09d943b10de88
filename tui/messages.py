"""Messages that flow up from screens and workers to the app."""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from client.api import QuizAttempt
from client.connection import Change
from client.journal import Celebration
from client.pins import PinCheck
from tui.state import Snapshot


class Record(Message):
    """A screen asks the app to record one event for ``user``."""

    def __init__(self, user: str, type: str, body: dict[str, Any]) -> None:
        super().__init__()
        self.user = user
        self.type = type
        self.body = body


class TakeQuiz(Message):
    """A screen submits a whole quiz attempt; the app answers with :class:`QuizTaken`."""

    def __init__(
        self,
        reply_to: MessagePump,
        user: str,
        course: str,
        quiz: str,
        answers: dict[str, list[str]],
    ) -> None:
        super().__init__()
        self.reply_to = reply_to
        self.user = user
        self.course = course
        self.quiz = quiz
        self.answers = answers


class QuizTaken(Message):
    def __init__(self, attempt: QuizAttempt | None, error: str = "") -> None:
        super().__init__()
        self.attempt = attempt
        self.error = error


class Loaded(Message):
    """A worker read the learner's progress, and what to celebrate that was not shown yet
    (already marked as shown in the journal); ``earlier``: how many older ones are not
    shown one by one."""

    def __init__(
        self, snapshot: Snapshot, cheers: list[Celebration] | None = None, earlier: int = 0
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.cheers = cheers or []
        self.earlier = earlier


class Changed(Message):
    """The background sync heard of a change from another device or the server."""

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change


class SignIn(Message):
    """Sign in on the server (the app runs the login in a worker)."""

    def __init__(self, server_url: str, username: str, password: str) -> None:
        super().__init__()
        self.server_url = server_url
        self.username = username
        self.password = password


class SignInFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class PickLearner(Message):
    """Switch to a learner already signed in on this device."""

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username


class SwitchLearner(Message):
    """Show the learners signed in on this device and the sign-in form."""


class Open(Message):
    """Open a course, path, lesson or quiz (``target`` is a :mod:`tui.present` ref)."""

    def __init__(self, target: object) -> None:
        super().__init__()
        self.target = target


class FetchLeaderboard(Message):
    """Fetch this week's leaderboard from the server (the app runs it in a worker and
    hands the result down as the screen's ``board``)."""


class LoadDraft(Message):
    """Read the text this device last saved or submitted for an assignment; the app
    answers ``reply_to`` with :class:`DraftRead`."""

    def __init__(self, reply_to: MessagePump, user: str, course: str, assignment: str) -> None:
        super().__init__()
        self.reply_to = reply_to
        self.user = user
        self.course = course
        self.assignment = assignment


class DraftRead(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ManagePin(Message):
    """The learner on screen asks to set, change or remove their PIN on this device."""


class TryPin(Message):
    """A kiosk learner typed their PIN; the app checks it (``client.pins.check_pin``) and
    answers ``reply_to`` with :class:`PinTried`."""

    def __init__(self, reply_to: MessagePump, username: str, pin: str) -> None:
        super().__init__()
        self.reply_to = reply_to
        self.username = username
        self.pin = pin


class PinTried(Message):
    def __init__(self, check: PinCheck) -> None:
        super().__init__()
        self.check = check
