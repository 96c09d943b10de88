"""One course: modules, lessons, quizzes and assignments as a tree, and path milestones.

Reloads rebuild the tree; which modules are collapsed and which row has the cursor are
kept by key across them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from tui.messages import Open
from tui.present import (
    MARKS,
    AssignmentRef,
    LessonRef,
    QuizRef,
    find_course,
    lesson_percent,
    milestones_of,
    percent,
    words,
)
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.rows import OpeningTree
from tui.widgets.status_line import StatusLine


@dataclass(frozen=True)
class Branch:
    """A module (or the milestones) row: it folds, it does not open."""

    key: str


Target = LessonRef | QuizRef | AssignmentRef | Branch | None
OPENS = (LessonRef, QuizRef, AssignmentRef)


def plain(status: str) -> str:
    return f"{MARKS.get(status, '·')} {words(status)}"


class CourseScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
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
        self.collapsed: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="course-summary")
        tree = OpeningTree("course", id="tree")
        tree.show_root = False
        yield tree
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        self.query_one(Tree).focus()

    def _branch(self, tree: Tree[Target], label: Text, key: str) -> TreeNode[Target]:
        return tree.root.add(label, data=Branch(key), expand=key not in self.collapsed)

    async def show(self, snapshot: Snapshot) -> None:
        course = find_course(snapshot.view, self.course)
        tree: Tree[Target] = self.query_one(Tree)
        line, was = tree.cursor_line, tree.cursor_node.data if tree.cursor_node else None
        if tree.root.children:  # else the first draw: nothing was folded yet
            self.collapsed = {
                n.data.key
                for n in tree.root.children
                if isinstance(n.data, Branch) and not n.is_expanded
            }
        tree.clear()
        if course is None:
            self.query_one("#course-summary", Static).update("This course is not in the catalog.")
            return
        self.sub_title = course.title
        self.query_one("#course-summary", Static).update(
            Text(f"{course.title} · {plain(course.status)} · {course.percent}%")
        )
        for module in course.modules:
            node = self._branch(
                tree, Text(f"{module.title}  {plain(module.status)}  {module.percent}%"), module.id
            )
            for lesson in module.lessons:
                node.add_leaf(
                    Text(f"{MARKS[lesson.status]} {lesson.title}  {lesson_percent(lesson)}%"),
                    data=LessonRef(course.id, lesson.id),
                )
            for quiz in module.quizzes:
                score = quiz.best_score
                best = f"  best {percent(score * 100)}%" if score is not None else ""
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
                    ),
                    data=AssignmentRef(course.id, assignment.id),
                )
        milestones = milestones_of(snapshot.view, self.course)
        if milestones:
            node = self._branch(tree, Text("Milestones"), " milestones")  # no module id has " "
            for path, milestone in milestones:
                node.add_leaf(Text(f"{plain(milestone.status)}  {path} / {milestone.title}"))
        self._restore_cursor(tree, was, line)

    def _restore_cursor(self, tree: Tree[Target], was: Target, line: int) -> None:
        """Back to the row that had the cursor (by key), else to the same line."""
        if was is not None:
            for number in range(tree.last_line + 1):
                node = tree.get_node_at_line(number)
                if node is not None and node.data == was:
                    tree.cursor_line = number
                    return
        tree.cursor_line = max(0, line)

    def action_fold(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.parent is not None and not node.allow_expand:
            node = node.parent  # on a leaf: fold its module
        if node is not None and node.allow_expand:
            node.toggle()
            tree = self.query_one(Tree)
            self._restore_cursor(tree, node.data, tree.cursor_line)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Target]) -> None:
        event.stop()
        if isinstance(event.node.data, OPENS):
            self.post_message(Open(event.node.data))
