"""sync.merge.decide, rule by rule: the exact decisions (type and body) each fact calls for.

``test_decide.py`` drives the rules through its ``Learner``, whose facts reach the server
the moment they are made. Here a fact may also arrive later than it was made (``arrive``):
the server decides at arrival, but a quiz is scored at its submission time (its cool-down
counts from its arrival too: ``sync.merge.decide.cooldown_problem``). Every decision
body is compared whole, as the feed records it (``docs/protocol.md``). Measured by mutation
testing (``docs/testing.md``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sync.catalog import (
    Assignment,
    Catalog,
    Choice,
    Course,
    Milestone,
    Module,
    Path,
    Question,
    Quiz,
)
from sync.events import Event, LessonCompleted, QuizSubmitted, Rejection, check_event
from sync.hlc import format_hlc
from sync.merge.decide import Context, Decision, decide, grade, review
from sync.merge.fold import Decision as FeedDecision
from sync.merge.fold import Fact, MilestoneState, apply_body, apply_decision
from sync.views import learner_view
from tests.sync.merge.test_decide import CAT, MIN, RIGHT, T0, WRONG, Learner, span, with_quiz

HOUR = 60 * MIN


class Server(Learner):
    """A :class:`Learner` whose facts may reach the server after they were made: ``arrive``
    is the server's time of the decision, ``at`` the device's time of the fact."""

    def do(
        self,
        type_: str,
        *,
        at: int | None = None,
        device: str = "d1",
        arrive: int | None = None,
        **body: Any,
    ) -> list[Decision]:
        self.seq += 1
        self.clock = at if at is not None else self.clock + MIN
        event = Event(self.seq, format_hlc(self.clock, 0), self.clock, type_, body, "UTC")
        checked = check_event(event, self.ctx.catalog)
        assert not isinstance(checked, Rejection), checked
        stamp = (event.hlc, device, event.seq)
        self.facts.append(Fact(device, event.seq, event.hlc, event.at, type_, body))
        apply_body(self.state, stamp, event.at, checked)
        now = self.clock if arrive is None else arrive
        decisions = decide(self.state, checked, stamp, now, self.ctx)
        self.feed += [
            FeedDecision(len(self.facts) + len(self.feed) + i, d.type, d.body, now)
            for i, d in enumerate(decisions)
        ]
        return decisions

    def answer(
        self, quiz: str, attempt: str, right: int, *, at: int, course: str = "safety"
    ) -> None:
        """Answer the first ``right`` questions right, the others wrong, at ``at``, ``at+1``…"""
        found = self.ctx.catalog.quiz(course, quiz)
        assert found is not None
        for index, question in enumerate(found.questions):
            choices = RIGHT[question.id] if index < right else WRONG[question.id]
            self.do(
                "quiz.answered",
                at=at + index,
                course=course,
                quiz=quiz,
                attempt=attempt,
                question=question.id,
                choices=choices,
            )

    def submit(
        self, quiz: str, attempt: str, *, at: int, arrive: int | None = None
    ) -> list[Decision]:
        return self.do(
            "quiz.submitted", at=at, arrive=arrive, course="safety", quiz=quiz, attempt=attempt
        )


def scored_body(
    quiz: str, attempt: str, number: int, score: float, at: int, correct: int, **more: Any
) -> dict[str, Any]:
    """A ``quiz.scored`` body: counted and without a reason unless ``more`` says otherwise."""
    body: dict[str, Any] = {
        "course": "safety",
        "quiz": quiz,
        "attempt": attempt,
        "number": number,
        "score": score,
        "passed": more.pop("passed"),
        "counted": True,
        "reason": "",
        "at": at,
        "correct": correct,
        "questions": more.pop("questions", 2),
        "received": more.pop("received", at),
    }
    return {**body, **more}


# -- scoring ---------------------------------------------------------------------------------


def test_a_perfect_attempt_is_scored_with_every_question_counted_and_the_quiz_passed() -> None:
    ann = Server()
    ann.answer("wash-check", "a1", 2, at=T0)
    decisions = ann.submit("wash-check", "a1", at=T0 + 5000)
    assert decisions == [
        Decision("quiz.scored", scored_body("wash-check", "a1", 1, 1.0, T0 + 5000, 2, passed=True)),
        Decision(
            "quiz.passed",
            {"course": "safety", "quiz": "wash-check", "score": 1.0, "grading": "highest"},
        ),
    ]


def test_a_failed_attempt_says_what_was_right_and_passes_nothing() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=None))
    ann.answer("wash-check", "a1", 0, at=T0)
    assert ann.submit("wash-check", "a1", at=T0 + 10) == [
        Decision("quiz.scored", scored_body("wash-check", "a1", 1, 0.0, T0 + 10, 0, passed=False))
    ]
    ann.answer("wash-check", "a2", 1, at=T0 + 20)
    assert ann.submit("wash-check", "a2", at=T0 + 30) == [
        Decision(
            "quiz.scored", scored_body("wash-check", "a2", 2, 0.3333, T0 + 30, 1, passed=False)
        )
    ]


def test_an_attempt_is_scored_at_its_submission_time_its_cooldown_ends_after_arrival() -> None:
    ann = Server(plan="premium")
    ann.answer("gloves-last", "a1", 2, at=T0)
    decisions = ann.submit("gloves-last", "a1", at=T0 + 10, arrive=T0 + 5 * HOUR)
    assert decisions[0] == Decision(
        "quiz.scored",
        scored_body("gloves-last", "a1", 1, 1.0, T0 + 10, 2, passed=True, received=T0 + 5 * HOUR),
    )
    quiz = ann.quiz("gloves-last")
    assert quiz.cooldown_until == T0 + 5 * HOUR + 600_000
    (attempt,) = quiz.attempts
    assert (attempt.submitted_at, attempt.number, attempt.status) == (T0 + 10, 1, "scored")


def test_the_cooldown_must_have_passed_between_submissions_and_between_arrivals() -> None:
    """Two offline attempts an hour apart reach the server in the same second: the second
    does not count (no device clock can prove the wait to the server); one that arrives
    hours later but was submitted 2 s inside the cool-down does not count either."""
    ann = Server(plan="premium")
    arrival = T0 + 5 * HOUR
    first = ann.submit("gloves-last", "a1", at=T0, arrive=arrival)
    second = ann.submit("gloves-last", "a2", at=T0 + HOUR, arrive=arrival)
    early = ann.submit("gloves-last", "a3", at=T0 + 598_000, arrive=arrival + 10 * HOUR)
    assert first == [
        Decision(
            "quiz.scored",
            scored_body("gloves-last", "a1", 1, 0.0, T0, 0, passed=False, received=arrival),
        )
    ]
    arrived = "cool-down: reached the server 600 s before attempt 1's 600 s cool-down ended"
    assert second == [
        Decision(
            "quiz.scored",
            scored_body(
                "gloves-last",
                "a2",
                2,
                0.0,
                T0 + HOUR,
                0,
                passed=False,
                counted=False,
                reason=arrived,
                received=arrival,
            ),
        )
    ]
    submitted = "cool-down: submitted 2 s before attempt 1's 600 s cool-down ended"
    assert early == [
        Decision(
            "quiz.scored",
            scored_body(
                "gloves-last",
                "a3",
                3,
                0.0,
                T0 + 598_000,
                0,
                passed=False,
                counted=False,
                reason=submitted,
                received=arrival + 10 * HOUR,
            ),
        )
    ]
    later = ann.submit("gloves-last", "a4", at=T0 + 600_000, arrive=arrival + 600_000)
    assert (later[0].body["number"], later[0].body["counted"]) == (4, True)


def test_a_cooldown_wait_is_rounded_up_to_the_second() -> None:
    ann = Server(plan="premium")
    ann.submit("gloves-last", "a1", at=T0)
    late = ann.submit("gloves-last", "a2", at=T0 + 600_000 - 1)
    assert late[0].body["reason"] == (
        "cool-down: submitted 1 s before attempt 1's 600 s cool-down ended"
    )
    assert ann.submit("gloves-last", "a3", at=T0 + 600_000)[0].body["counted"] is True


def test_a_cooldown_counts_from_the_last_counted_attempt() -> None:
    ann = Server(plan="premium")
    ann.submit("gloves-last", "a1", at=T0)
    ann.submit("gloves-last", "a2", at=T0 + HOUR)
    ann.submit("gloves-last", "a3", at=T0 + HOUR + 1000)  # inside a2's cool-down
    # After a2's cool-down but inside the one a3 would have started: it counts.
    fourth = ann.submit("gloves-last", "a4", at=T0 + HOUR + 600_000 + 500)
    assert (fourth[0].body["number"], fourth[0].body["counted"]) == (4, True)


def test_an_attempt_with_an_answer_missing_scores_that_question_wrong() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=None))
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "a1"}
    ann.do("quiz.answered", at=T0, **base, question="wq-when", choices=["ans-7f3"])
    assert ann.submit("wash-check", "a1", at=T0 + 1)[0].body == scored_body(
        "wash-check", "a1", 1, 0.3333, T0 + 1, 1, passed=False
    )


def test_submitting_an_attempt_already_scored_decides_nothing() -> None:
    ann = Server()
    ann.answer("wash-check", "a1", 2, at=T0)
    ann.submit("wash-check", "a1", at=T0 + 10)
    assert ann.submit("wash-check", "a1", at=T0 + 20) == []
    assert ann.quiz("wash-check").attempts[0].submitted_at == T0 + 10


def test_a_review_passes_under_the_quizs_grading_policy() -> None:
    ann = Server(plan="premium")
    ann.answer("gloves-average", "a1", 1, at=T0)
    ann.submit("gloves-average", "a1", at=T0 + 10)  # 0.5 < 0.75
    lowered = Context(with_quiz("gloves-average", passing_score=0.5), "premium")
    assert review(ann.state, lowered, T0 + HOUR) == [
        Decision(
            "quiz.passed",
            {"course": "safety", "quiz": "gloves-average", "score": 0.5, "grading": "average"},
        )
    ]
    assert ann.state.quizzes["safety/gloves-average"].passed_at == T0 + HOUR


# -- enrollments --------------------------------------------------------------------------------


def changed(path: str, frm: str | None, to: str, reason: str) -> Decision:
    return Decision("enrollment.changed", {"path": path, "to": to, "reason": reason, "from": frm})


def unlocked(path: str, milestone: str) -> Decision:
    return Decision("milestone.unlocked", {"path": path, "milestone": milestone})


def test_enrolling_pausing_resuming_and_dropping_decide_exact_changes() -> None:
    ann = Server()
    assert ann.do("path.enrolled", path="helper") == [
        changed("helper", None, "enrolled", "enroll"),
        unlocked("helper", "hp-extra"),
    ]
    assert ann.do("lesson.opened", course="extra", lesson="extra-read") == [
        changed("helper", "enrolled", "in_progress", "started")
    ]
    assert ann.do("path.paused", path="helper") == [
        changed("helper", "in_progress", "paused", "pause")
    ]
    assert ann.do("path.resumed", path="helper") == [
        changed("helper", "paused", "in_progress", "resume")
    ]
    assert ann.do("path.dropped", path="helper") == [
        changed("helper", "in_progress", "dropped", "drop")
    ]


def test_resuming_a_paused_path_never_started_keeps_its_unlocked_milestone() -> None:
    ann = Server()
    ann.do("path.enrolled", at=T0, path="responder")
    ann.do("path.paused", at=T0 + MIN, path="responder")
    assert ann.do("path.resumed", at=T0 + 2 * MIN, path="responder") == [
        changed("responder", "paused", "enrolled", "resume")
    ]
    held = ann.state.enrollments["responder"]
    assert held.milestones == {"ms-wash": MilestoneState("available", T0)}
    assert (held.status, held.enrolled_at) == ("enrolled", T0)
    path = ann.view().paths[0]
    assert [(m.status, m.unlocked_at) for m in path.milestones] == [
        ("available", T0),
        ("locked", None),
        ("locked", None),
    ]
    # Its content started later, the path goes in progress.
    assert ann.do("lesson.opened", course="safety", lesson="wash-read") == [
        changed("responder", "enrolled", "in_progress", "started")
    ]


def test_resuming_a_paused_path_whose_milestone_was_started_goes_in_progress() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.started", path="responder", milestone="ms-wash")
    ann.do("path.paused", path="responder")
    assert ann.do("path.resumed", path="responder") == [
        changed("responder", "paused", "in_progress", "resume")
    ]


def test_resuming_a_path_whose_first_milestone_is_done_goes_in_progress() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    ann.do("path.paused", path="responder")
    assert ann.do("path.resumed", path="responder") == [
        changed("responder", "paused", "in_progress", "resume")
    ]


def test_resuming_a_dropped_path_is_refused_not_returned_to_enrolled() -> None:
    ann = Server()
    ann.do("path.enrolled", path="helper")
    ann.do("path.dropped", path="helper")
    assert ann.do("path.resumed", path="helper") == [
        Decision(
            "enrollment.refused",
            {
                "path": "helper",
                "action": "resume",
                "reason": "an enrollment cannot go from dropped to in_progress",
            },
        )
    ]


def test_a_refused_enrollment_says_the_action_and_why() -> None:
    ann = Server(plan="free")
    ann.do("path.enrolled", path="responder")
    ann.do("path.enrolled", path="helper")
    limit = (
        "enrollment limit reached: free learners may have 2 active enrollment(s); "
        "drop one or upgrade"
    )
    assert ann.do("path.enrolled", path="reader") == [
        Decision("enrollment.refused", {"path": "reader", "action": "enroll", "reason": limit})
    ]
    assert ann.do("path.enrolled", path="helper") == [
        Decision(
            "enrollment.refused",
            {
                "path": "helper",
                "action": "enroll",
                "reason": "already enrolled in 'helper' (enrolled)",
            },
        )
    ]
    assert ann.do("path.paused", path="reader") == [
        Decision(
            "enrollment.refused",
            {"path": "reader", "action": "pause", "reason": "not enrolled in this path"},
        )
    ]


def test_a_completed_enrollment_frees_a_place() -> None:
    ann = Server(plan="free")
    ann.do("path.enrolled", path="responder")
    ann.do("path.enrolled", path="helper")
    ann.do("lesson.completed", course="extra", lesson="extra-read")  # helper completed
    # reader's one milestone is course extra, already completed: enrolled and done at once.
    assert [d.type for d in ann.do("path.enrolled", path="reader")] == [
        "enrollment.changed",
        "milestone.unlocked",
        "milestone.completed",
        "enrollment.changed",
        "enrollment.changed",
    ]
    assert ann.view().paths[2].status == "completed"


# -- milestones --------------------------------------------------------------------------------


def test_marking_milestones_decides_exact_bodies_and_completes_the_path() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    assert ann.do("milestone.started", path="responder", milestone="ms-wash") == [
        Decision("milestone.started", {"path": "responder", "milestone": "ms-wash"}),
        changed("responder", "enrolled", "in_progress", "started"),
    ]
    complete = {"path": "responder", "reason": "marked complete"}
    assert ann.do("milestone.completed", path="responder", milestone="ms-wash") == [
        Decision("milestone.completed", {**complete, "milestone": "ms-wash"}),
        unlocked("responder", "ms-gloves"),
    ]
    ann.do("milestone.completed", path="responder", milestone="ms-gloves")
    assert ann.do("milestone.completed", path="responder", milestone="ms-triage") == [
        Decision("milestone.completed", {**complete, "milestone": "ms-triage"}),
        changed("responder", "in_progress", "completed", "all milestones completed"),
    ]


def test_a_milestone_completed_by_its_content_says_so() -> None:
    ann = Server()
    ann.do("path.enrolled", path="helper")
    assert ann.do("lesson.completed", course="extra", lesson="extra-read") == [
        Decision(
            "milestone.completed",
            {"path": "helper", "milestone": "hp-extra", "reason": "content completed"},
        ),
        changed("helper", "enrolled", "in_progress", "started"),
        changed("helper", "in_progress", "completed", "all milestones completed"),
    ]


def test_a_refused_milestone_says_the_action_and_why() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    for event, action in (
        ("milestone.started", "start"),
        ("milestone.completed", "complete"),
        ("milestone.reset", "reset"),
    ):
        assert ann.do(event, path="responder", milestone="ms-triage") == [
            Decision(
                "milestone.refused",
                {
                    "path": "responder",
                    "milestone": "ms-triage",
                    "action": action,
                    "reason": "milestone 'ms-triage' is locked: complete 'ms-gloves' first",
                },
            )
        ]
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    assert ann.do("milestone.started", path="responder", milestone="ms-wash") == [
        Decision(
            "milestone.refused",
            {
                "path": "responder",
                "milestone": "ms-wash",
                "action": "start",
                "reason": "milestone 'ms-wash' is already completed",
            },
        )
    ]


def test_a_completed_milestone_can_be_reset() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-wash")
    assert [d.type for d in decisions] == ["milestone.reset"]
    assert ann.view().paths[0].milestones[0].status == "available"


def test_a_started_milestone_with_no_content_done_can_be_reset() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.started", path="responder", milestone="ms-wash")
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-wash")
    assert [d.type for d in decisions] == ["milestone.reset"]


def test_a_module_milestone_reset_names_its_module_and_the_facts_stamp() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    decisions = ann.do(
        "milestone.reset", at=T0 + HOUR, device="d2", path="responder", milestone="ms-wash"
    )
    assert decisions == [
        Decision(
            "milestone.reset",
            {
                "path": "responder",
                "milestone": "ms-wash",
                "scope": "safety/wash",
                "stamp": [format_hlc(T0 + HOUR, 0), "d2", ann.seq],
            },
        )
    ]
    assert ann.state.resets == {"safety/wash": (format_hlc(T0 + HOUR, 0), "d2", ann.seq)}


def test_a_course_milestone_reset_restarts_the_whole_course() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    ann.do("milestone.completed", path="responder", milestone="ms-gloves")
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=30)
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-triage")
    assert decisions == [
        Decision(
            "milestone.reset",
            {
                "path": "responder",
                "milestone": "ms-triage",
                "scope": "triage",
                "stamp": [format_hlc(ann.clock, 0), "d1", ann.seq],
            },
        )
    ]
    triage = ann.view().courses[1]
    assert (triage.status, triage.percent) == ("in_progress", 0)
    assert [x.status for x in triage.modules[0].lessons] == ["in_progress", "in_progress"]
    assert ann.view().paths[0].milestones[2].status == "in_progress"


# -- competencies --------------------------------------------------------------------------------


def test_every_competency_mastered_is_acquired_not_only_the_first() -> None:
    ann = Server()
    # hygiene (the catalog's first competency): quiz wash-check and assignment incident.
    ann.answer("wash-check", "w1", 2, at=T0)
    ann.submit("wash-check", "w1", at=T0 + 10)
    ann.do("assignment.submitted", at=T0 + 20, course="safety", assignment="incident", text="x")
    graded = grade(
        ann.state, ann.ctx, "safety", "incident", score=7, feedback="", graded_by="i", at=T0 + 30
    )
    assert graded[-1] == Decision(
        "competency.acquired", {"competency": "hygiene", "name": "Hand hygiene", "level": 100}
    )
    # Then triage-skill (the second): course triage + lesson triage-read, mastery 50.
    decisions = ann.do("lesson.completed", at=T0 + 40, course="triage", lesson="triage-read")
    assert decisions == [
        Decision(
            "competency.acquired", {"competency": "triage-skill", "name": "Triage", "level": 50}
        )
    ]
    assert ann.state.competencies == {"hygiene": T0 + 30, "triage-skill": T0 + 40}


def test_a_lesson_heartbeat_that_completes_nothing_decides_no_competency() -> None:
    ann = Server()
    assert ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=59) == []
    # The heartbeat that meets time:60 completes the lesson: still below triage-skill's
    # evidence (course + triage-read), so nothing is acquired; triage-read then is.
    assert ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=1) == []
    assert [d.type for d in ann.do("lesson.completed", course="triage", lesson="triage-read")] == [
        "competency.acquired"
    ]


def test_a_course_reset_then_completing_again_acquires_a_competency_not_yet_held() -> None:
    ann = Server()
    ann.do("lesson.completed", course="triage", lesson="triage-time")
    ann.do("course.reset", course="triage")
    decisions = ann.do("lesson.completed", course="triage", lesson="triage-read")
    assert [d.body["competency"] for d in decisions] == ["triage-skill"]


# -- grades ----------------------------------------------------------------------------------------

GRADED = Catalog(
    [
        Course(
            "c",
            modules=[
                Module(
                    "m",
                    assignments=[Assignment("a", max_score=10, passing_score=5)],
                    completion="assessment",
                ),
                Module("other", assignments=[Assignment("b", max_score=10, passing_score=5)]),
            ],
        ),
        Course(
            "d",
            modules=[
                Module(
                    "n",
                    quizzes=[
                        Quiz(
                            "q",
                            [Question("x", [Choice("ans-x1"), Choice("no-x1")], answer="ans-x1")],
                        )
                    ],
                )
            ],
        ),
    ],
    paths=[Path("p", [Milestone("s1", "c", "m", 1), Milestone("s2", "d", None, 2)])],
)


def test_a_grade_has_an_exact_body_and_advances_the_path() -> None:
    ann = Server(GRADED)
    ann.do("path.enrolled", path="p")
    # A submission starts the milestone's content, so the path.
    assert ann.do("assignment.submitted", course="c", assignment="a", text="v1") == [
        changed("p", "enrolled", "in_progress", "started")
    ]
    decisions = grade(
        ann.state, ann.ctx, "c", "a", score=5, feedback="fine", graded_by="ivy", at=T0 + HOUR
    )
    assert decisions == [
        Decision(
            "assignment.graded",
            {
                "course": "c",
                "assignment": "a",
                "score": 5,
                "passed": True,
                "feedback": "fine",
                "graded_by": "ivy",
                "submissions": 1,
            },
        ),
        Decision(
            "milestone.completed", {"path": "p", "milestone": "s1", "reason": "content completed"}
        ),
        unlocked("p", "s2"),
    ]
    assert ann.state.enrollments["p"].milestones["s1"].completed_at == T0 + HOUR


def test_a_grade_below_the_passing_score_fails_and_advances_nothing() -> None:
    ann = Server(GRADED)
    ann.do("path.enrolled", path="p")
    ann.do("assignment.submitted", course="c", assignment="a", text="v1")
    ann.do("assignment.submitted", course="c", assignment="a", text="v2")
    decisions = grade(ann.state, ann.ctx, "c", "a", score=4.9, feedback="", graded_by="i", at=T0)
    assert decisions == [
        Decision(
            "assignment.graded",
            {
                "course": "c",
                "assignment": "a",
                "score": 4.9,
                "passed": False,
                "feedback": "",
                "graded_by": "i",
                "submissions": 2,
            },
        )
    ]


@pytest.mark.parametrize(("score", "passed"), [(0, False), (10, True)])
def test_zero_and_full_marks_are_grades(score: float, passed: bool) -> None:
    ann = Server(GRADED)
    ann.do("assignment.submitted", course="c", assignment="b", text="v1")
    decisions = grade(ann.state, ann.ctx, "c", "b", score=score, feedback="", graded_by="i", at=T0)
    assert [(d.type, d.body["score"], d.body["passed"]) for d in decisions] == [
        ("assignment.graded", score, passed)
    ]


@pytest.mark.parametrize("score", [-0.5, 10.5])
def test_a_score_out_of_range_is_refused_with_the_range(score: float) -> None:
    ann = Server(GRADED)
    ann.do("assignment.submitted", course="c", assignment="b", text="v1")
    with pytest.raises(ValueError, match=r"^score must be between 0 and 10$"):
        grade(ann.state, ann.ctx, "c", "b", score=score, feedback="", graded_by="i", at=T0)
    assert ann.state.assignments["c/b"].grades == []


def test_a_grade_outside_every_path_acquires_its_competencies_only() -> None:
    ann = Server()
    ann.do("path.enrolled", path="helper")
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    decisions = grade(
        ann.state, ann.ctx, "safety", "incident", score=6, feedback="", graded_by="i", at=T0
    )
    assert [d.type for d in decisions] == ["assignment.graded"]


def test_a_resubmission_after_a_pass_is_refused_with_an_exact_body() -> None:
    ann = Server(GRADED)
    ann.do("assignment.submitted", course="c", assignment="b", text="v1")
    assert ann.do("assignment.submitted", course="c", assignment="b", text="v1 again") == []
    grade(ann.state, ann.ctx, "c", "b", score=5, feedback="", graded_by="i", at=T0)
    assert ann.do("assignment.submitted", course="c", assignment="b", text="v2") == [
        Decision(
            "assignment.refused",
            {
                "course": "c",
                "assignment": "b",
                "reason": "already graded as passed: a new submission is kept but not graded",
            },
        )
    ]
    view = learner_view(ann.state, GRADED).courses[0].modules[1].assignments[0]
    assert (view.status, view.refused, view.submissions) == (
        "graded",
        "already graded as passed: a new submission is kept but not graded",
        3,
    )


# -- states the catalog or the feed can leave ---------------------------------------------------


def test_a_submission_for_a_quiz_no_longer_in_the_catalog_is_not_scored() -> None:
    ann = Server()
    ann.answer("wash-check", "a1", 2, at=T0)
    body = QuizSubmitted("safety", "wash-check", "a1")
    stamp = (format_hlc(T0 + 10, 0), "d1", 99)
    apply_body(ann.state, stamp, T0 + 10, body)
    without = Catalog([Course("safety", modules=[Module("wash")])])
    assert decide(ann.state, body, stamp, T0 + 10, Context(without)) == []
    assert ann.state.quizzes["safety/wash-check"].results == {}


def test_the_submission_a_recorded_pass_was_for_is_not_refused() -> None:
    """Only a submission after the graded one is refused."""
    ann = Server(GRADED)
    apply_decision(
        ann.state,
        "assignment.graded",
        {"course": "c", "assignment": "b", "score": 9, "passed": True, "submissions": 1},
        T0,
    )
    assert ann.do("assignment.submitted", course="c", assignment="b", text="v1") == []
    assert [d.type for d in ann.do("assignment.submitted", course="c", assignment="b")] == [
        "assignment.refused"
    ]


def test_a_module_milestone_with_nothing_done_in_its_module_has_nothing_to_reset() -> None:
    """Progress elsewhere in the course (module report) is not the milestone's (wash)."""
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="report-read")
    assert ann.do("milestone.reset", path="responder", milestone="ms-wash") == [
        Decision(
            "milestone.refused",
            {
                "path": "responder",
                "milestone": "ms-wash",
                "action": "reset",
                "reason": "milestone 'ms-wash' has nothing to reset",
            },
        )
    ]


def test_a_grade_looks_only_at_competencies_with_evidence_in_its_course() -> None:
    """triage-skill, mastered by facts nothing decided on yet, waits for a review."""
    ann = Server()
    stamp = (format_hlc(T0, 0), "d1", 99)
    apply_body(ann.state, stamp, T0, LessonCompleted("triage", "triage-read"))  # not decided
    ann.do("assignment.submitted", course="safety", assignment="incident", text="x")
    ctx = ann.ctx
    graded = grade(ann.state, ctx, "safety", "incident", score=9, feedback="", graded_by="i", at=T0)
    assert [d.type for d in graded] == ["assignment.graded"]
    assert review(ann.state, ctx, T0 + 1) == [
        Decision(
            "competency.acquired", {"competency": "triage-skill", "name": "Triage", "level": 50}
        )
    ]


def test_a_milestone_completed_by_its_content_is_not_completed_again() -> None:
    ann = Server()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do("lesson.progressed", course="safety", lesson="wash-video", seconds=95, **span(0, 95))
    ann.answer("wash-check", "w1", 2, at=ann.clock + MIN)
    ann.submit("wash-check", "w1", at=ann.clock + MIN)
    assert ann.types().count("milestone.completed") == 1
    assert ann.do("lesson.opened", course="safety", lesson="wash-read") == []
    assert ann.do("lesson.opened", course="safety", lesson="gloves-read") == []
    assert ann.types().count("milestone.completed") == 1


def test_a_review_stops_at_a_milestone_the_catalog_added_before_the_learners() -> None:
    """A catalog change put a new first milestone on the path: nothing follows from it
    until the learner reaches it (no crash, no unlock past it)."""
    ann = Server()
    ann.do("path.enrolled", path="helper")
    ann.do("lesson.opened", course="extra", lesson="extra-read")
    first = Milestone("hp-first", "triage", None, 0)
    paths = [
        msgspec.structs.replace(p, milestones=[first, *p.milestones]) if p.id == "helper" else p
        for p in CAT.paths
    ]
    changed_catalog = Context(msgspec.structs.replace(CAT, paths=paths))
    assert review(ann.state, changed_catalog, T0 + HOUR) == []


def test_a_heartbeat_that_completes_no_lesson_looks_at_no_competency() -> None:
    """Hot path: triage-skill, mastered by facts nothing decided on yet, is acquired by the
    next fact that completes a lesson of its course, not by a heartbeat."""
    ann = Server()
    stamp = (format_hlc(T0, 0), "d1", 99)
    apply_body(ann.state, stamp, T0, LessonCompleted("triage", "triage-read"))  # not decided
    assert ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=5) == []
    assert ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=55) == [
        Decision(
            "competency.acquired", {"competency": "triage-skill", "name": "Triage", "level": 100}
        )
    ]
