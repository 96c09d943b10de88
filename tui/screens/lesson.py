"""One lesson: its text (Markdown) or a video stand-in; time spent and position are
recorded while it is open, and it can be marked complete or incomplete.

The video stand-in's clock ticks every second (:data:`CLOCK_SECONDS`) from the app's
clock, between the records made every ``tick_seconds``; reaching the end records the
watched segment and pauses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Markdown, ProgressBar, Static

from sync.events import MAX_SECONDS_PER_EVENT
from tui.activity import ActiveTime
from tui.messages import Record
from tui.present import (
    LessonRef,
    completion_words,
    duration,
    find_lesson,
    lesson_text,
    marked,
    percent,
)
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.status_line import StatusLine

SEEK_SECONDS = 10
CLOCK_SECONDS = 1.0  # how often a playing video's clock is redrawn (nothing is recorded)
NO_TEXT = "*This lesson has no text.*"


class LessonScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("c", "complete", "Mark complete"),
        Binding("u", "uncomplete", "Mark incomplete"),
        Binding("space", "play", "Play/pause"),
        Binding("left", "seek(-1)", "-10s", show=False),
        Binding("right", "seek(1)", "+10s", show=False),
    ]

    def __init__(
        self,
        ref: LessonRef,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
        *,
        tick_seconds: float | None = 30.0,
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.ref = ref
        self.tick_seconds = tick_seconds
        self.active = ActiveTime(clock())
        self.kind, self.text, self.duration = lesson_text(
            snapshot.catalog if snapshot else None, ref.course, ref.lesson
        )
        lesson = find_lesson(snapshot.view, ref.course, ref.lesson) if snapshot else None
        self.position = lesson.position or 0 if lesson else 0
        self.saved_position = self.position
        self.playing = False
        self.status = lesson.status if lesson else "not_started"
        self._opened_for = ""

    @property
    def is_video(self) -> bool:
        return self.kind == "video" and self.duration > 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="lesson-meta")
        with VerticalScroll(id="lesson-body"):
            if self.is_video:
                yield Static("", id="video")
                yield ProgressBar(total=100, show_eta=False, id="watched")
            if self.text or self.kind == "page":  # a video or activity may have no text
                yield Markdown(self.text or NO_TEXT, id="lesson-text")
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        body = self.query_one("#lesson-body", VerticalScroll)
        body.focus()
        if not self.is_video and self.position:
            self.call_after_refresh(body.scroll_to, y=self.position, animate=False)
        if self.tick_seconds:
            self.set_interval(self.tick_seconds, self.flush)
        self.set_interval(CLOCK_SECONDS, self.tick_clock)  # draws nothing unless a video

    async def show(self, snapshot: Snapshot) -> None:
        if self._opened_for != snapshot.account.username:
            # Opening is a fact of its own ("viewed" lessons complete on it).
            self._opened_for = snapshot.account.username
            self.post_message(Record(self.user, "lesson.opened", self._ref()))
        content = lesson_text(snapshot.catalog, self.ref.course, self.ref.lesson)
        if content != (self.kind, self.text, self.duration):
            await self._redraw_for(content)  # a new catalog changed the open lesson
        lesson = find_lesson(snapshot.view, self.ref.course, self.ref.lesson)
        if lesson is None:
            self.query_one("#lesson-meta", Static).update("This lesson is not in the catalog.")
            return
        self.status = lesson.status
        self.sub_title = lesson.title
        parts = [marked(lesson.status), f"time spent {duration(lesson.seconds)}"]
        if self.is_video:
            watched = percent(lesson.watched_percent)  # the bar's label shows the same
            parts.append(f"watched {watched}%")
            self.query_one("#watched", ProgressBar).progress = watched
        parts.append(completion_words(lesson.completion))
        self.query_one("#lesson-meta", Static).update(" · ".join(parts))
        self._draw_video()
        self.refresh_bindings()

    async def _redraw_for(self, content: tuple[str, str, int]) -> None:
        self.flush()  # what played so far, at the old duration
        self.kind, self.text, self.duration = content
        self.playing = self.playing and self.is_video
        self.position = min(self.position, self.duration) if self.is_video else self.position
        await self.recompose()
        self.query_one(StatusLine).state = self.sync_state
        self.query_one("#lesson-body", VerticalScroll).focus()

    @property
    def shown_position(self) -> int:
        """Where the video is now: the recorded position plus what played since."""
        if not self.playing:
            return self.position
        played = self.active.peek(self.clock(), playing=True)
        return min(self.duration, self.position + played)

    def tick_clock(self) -> None:
        """Redraw the clock; at the end, record the segment and pause (as a player stops)."""
        if self.playing and self.shown_position >= self.duration:
            self.flush()
        else:
            self._draw_video()

    def _draw_video(self) -> None:
        if not self.is_video:
            return
        state = "▶ Playing" if self.playing else "‖ Paused"
        self.query_one("#video", Static).update(
            f"[b]{state}[/b]  {duration(self.shown_position)} / {duration(self.duration)}\n"
            "[$text-muted]Video stand-in: space plays or pauses, ←/→ seek 10 s.[/]"
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "complete":
            return self.status != "completed"
        if action == "uncomplete":
            return self.status == "completed"
        if action in ("play", "seek"):
            return self.is_video
        return True

    def _ref(self) -> dict[str, Any]:
        return {"course": self.ref.course, "lesson": self.ref.lesson}

    def note_input(self, now_ms: int) -> None:
        self.active.touch(now_ms)

    def take_progress(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``lesson.progressed`` event for the time and position since the last one."""
        seconds = min(self.active.take(self.clock(), playing=self.playing), MAX_SECONDS_PER_EVENT)
        body: dict[str, Any] = self._ref()
        if self.is_video:
            if self.playing and seconds:
                start = min(self.position, self.duration)
                end = min(self.duration, start + seconds)
                if end > start:
                    body |= {"from": start, "to": end}
                self.position = end
                if end >= self.duration:
                    self.playing = False
        elif self.is_mounted:
            scrolled = int(self.query_one("#lesson-body", VerticalScroll).scroll_y)
            # A position past the duration is rejected by the server.
            self.position = min(scrolled, self.duration) if self.duration else scrolled
        if not seconds and self.position == self.saved_position:
            return []
        self.saved_position = self.position
        body |= {"seconds": seconds, "position": self.position}
        return [("lesson.progressed", body)]

    def unsaved(self) -> list[tuple[str, dict[str, Any]]]:
        return self.take_progress()

    def flush(self) -> None:
        for type_, body in self.take_progress():
            self.post_message(Record(self.user, type_, body))
        self._draw_video()

    def action_complete(self) -> None:
        self.flush()
        self.post_message(Record(self.user, "lesson.completed", self._ref()))

    def action_uncomplete(self) -> None:
        self.flush()
        self.post_message(Record(self.user, "lesson.uncompleted", self._ref()))

    def action_play(self) -> None:
        self.flush()  # time before this press counts at the old speed
        self.playing = not self.playing and self.position < self.duration
        self._draw_video()

    def action_seek(self, direction: int) -> None:
        self.flush()
        self.position = max(0, min(self.duration, self.position + direction * SEEK_SECONDS))
        self._draw_video()
