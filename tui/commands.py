"""Waymark's own commands in the command palette (ctrl+p), beside Textual's.

:func:`commands` lists what the app can do now (from its snapshot: continue, each course
and path, achievements; switch learner, sync now, theme, keys); :class:`WaymarkCommands`
offers them to the palette, fuzzy-matched by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.messages import ManagePin, Open, SwitchLearner
from tui.present import AchievementsRef, CourseRef, LessonRef, PathRef, continue_at
from tui.theme import DARK, LIGHT

if TYPE_CHECKING:
    from tui.app import WaymarkApp


class Command(NamedTuple):
    name: str
    help: str
    run: Callable[[], object]


def commands(app: WaymarkApp) -> list[Command]:
    """What the palette offers now, in the order it lists them."""
    found: list[Command] = []
    snapshot = app.snapshot if app.user else None
    if snapshot is not None:
        resume = continue_at(snapshot.view)
        if resume is not None:
            lesson = LessonRef(resume.course.id, resume.lesson.id)
            found.append(
                Command(
                    f"Continue: {resume.lesson.title}",
                    f"Open the next lesson of {resume.course.title}",
                    lambda: app.post_message(Open(lesson)),
                )
            )
        for course in snapshot.view.courses:
            ref = CourseRef(course.id)
            found.append(
                Command(
                    f"Open course: {course.title}",
                    f"{course.percent}% · {course.status.replace('_', ' ')}",
                    lambda ref=ref: app.post_message(Open(ref)),  # type: ignore[misc]
                )
            )
        for path in snapshot.view.paths:
            path_ref = PathRef(path.id)
            found.append(
                Command(
                    f"Open path: {path.title}",
                    f"{path.percent}% · {path.status.replace('_', ' ')}",
                    lambda ref=path_ref: app.post_message(Open(ref)),  # type: ignore[misc]
                )
            )
        found.append(
            Command(
                "Achievements",
                "Points, badges, certificates and the leaderboard",
                lambda: app.post_message(Open(AchievementsRef())),
            )
        )
    if app.user:
        found.append(
            Command(
                "PIN: set, change or remove",
                "This learner's PIN on this device (the current one is asked first)",
                lambda: app.post_message(ManagePin()),
            )
        )
    found += [
        Command(
            "Switch learner",
            "Pick another learner on this device, or sign in",
            lambda: app.post_message(SwitchLearner()),
        ),
        Command("Sync now", "Connect to the server now", app.action_sync_now),
    ]
    for name, label in ((LIGHT, "light"), (DARK, "dark")):
        if app.theme != name:
            found.append(
                Command(
                    f"Theme: {label}",
                    f"Switch to the {label} theme (kept across restarts)",
                    lambda name=name: setattr(app, "theme", name),  # type: ignore[misc]
                )
            )
    found.append(Command("Help: keys", "Every key of this screen", app.action_help))
    return found


class WaymarkCommands(Provider):
    """The app's commands for the palette; discovery lists them all."""

    def _commands(self) -> list[Command]:
        from tui.app import WaymarkApp  # the app imports this module

        return commands(self.app) if isinstance(self.app, WaymarkApp) else []

    async def discover(self) -> Hits:
        for hit in self._hits(None):
            yield hit

    async def search(self, query: str) -> Hits:
        for hit in self._hits(query):
            yield hit

    def _hits(self, query: str | None) -> Iterator[Hit | DiscoveryHit]:
        """Every command (``query`` None, discovery), else those matching ``query``."""
        matcher = None if query is None else self.matcher(query)
        for command in self._commands():
            if matcher is None:
                yield DiscoveryHit(command.name, command.run, help=command.help)
            elif (score := matcher.match(command.name)) > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
