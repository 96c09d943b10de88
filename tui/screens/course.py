"""One course: modules, lessons, quizzes and assignments as a tree, and path milestones."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, Tree

from tui.messages import Open
from tui.present import (
    MARKS,
    LessonRef,
    QuizRef,
    find_course,
    lesson_percent,
    milestones_of,
    words,
)
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.status_line import StatusLine

Target = LessonRef | QuizRef | None


def plain(status: str) -> str:
    return f"{MARKS.get(status, '·')} {words(status)}"


class CourseScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("enter", "open", "Open", priority=True),
    ]

    def __init__(
        self,
        course: str,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.course = course

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="course-summary")
        tree: Tree[Target] = Tree("course", id="tree")
        tree.show_root = False
        yield tree
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        self.query_one(Tree).focus()

    async def show(self, snapshot: Snapshot) -> None:
        course = find_course(snapshot.view, self.course)
        tree: Tree[Target] = self.query_one(Tree)
        line = tree.cursor_line
        tree.clear()
        if course is None:
            self.query_one("#course-summary", Static).update("This course is not in the catalog.")
            return
        self.sub_title = course.title
        self.query_one("#course-summary", Static).update(
            Text(f"{course.title} · {plain(course.status)} · {course.percent}%")
        )
        for module in course.modules:
            node = tree.root.add(
                Text(f"{module.title}  {plain(module.status)}  {module.percent}%"),
                expand=True,
            )
            for lesson in module.lessons:
                node.add_leaf(
                    Text(f"{MARKS[lesson.status]} {lesson.title}  {lesson_percent(lesson)}%"),
                    data=LessonRef(course.id, lesson.id),
                )
            for quiz in module.quizzes:
                best = f"  best {quiz.best_score:.0%}" if quiz.best_score is not None else ""
                mark = MARKS.get(quiz.status, "·")
                node.add_leaf(
                    Text(f"{mark} Quiz: {quiz.title}  {words(quiz.status)}{best}"),
                    data=QuizRef(course.id, quiz.id),
                )
            for assignment in module.assignments:
                node.add_leaf(
                    Text(
                        f"{MARKS.get(assignment.status, '·')} Assignment: {assignment.title}  "
                        f"{words(assignment.status)}"
                    )
                )
        milestones = milestones_of(snapshot.view, self.course)
        if milestones:
            node = tree.root.add(Text("Milestones"), expand=True)
            for path, milestone in milestones:
                node.add_leaf(Text(f"{plain(milestone.status)}  {path} / {milestone.title}"))
        tree.cursor_line = max(0, line)

    def action_open(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data is not None:
            self.post_message(Open(node.data))
        elif node is not None and node.allow_expand:
            node.toggle()

    def on_tree_node_selected(self, event: Tree.NodeSelected[Target]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(Open(event.node.data))
