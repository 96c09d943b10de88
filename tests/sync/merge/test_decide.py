"""sync.merge.decide: the decisions the server records while folding a learner's facts.

Every test drives the pure core the way the store does (check the event against the
catalog, fold it, decide) and reads the decisions and the learner view. The catalog is
``tests/fixtures/learning_acceptance.yaml``, varied with ``msgspec.structs.replace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from sync.catalog import Catalog, Quiz, parse_catalog
from sync.events import Event, QuizSubmitted, Rejection, check_event
from sync.hlc import format_hlc
from sync.merge.decide import (
    TRANSITIONS,
    Context,
    Decision,
    Policy,
    decide,
    grade,
    review,
    transition_problem,
)
from sync.merge.fold import Decision as FeedDecision
from sync.merge.fold import Fact, UserState, apply_body, fold
from sync.views import LearnerView, QuizView, learner_view

T0 = 1_763_790_000_000
MIN = 60_000
FIXTURE = Path(__file__).parents[2] / "fixtures" / "learning_acceptance.yaml"
CAT = parse_catalog(FIXTURE.read_text(), "yaml")

# Right and wrong choices of the fixture's quizzes, by question.
RIGHT = {
    "wq-when": ["ans-7f3"],
    "wq-what": ["ans-b41", "ans-c9d"],
    "gl-1": ["ans-d17"],
    "gl-2": ["ans-e58"],
    "gh-1": ["ans-f60"],
    "gh-2": ["ans-a93"],
    "gf-1": ["ans-b27"],
    "gf-2": ["ans-c34"],
    "ga-1": ["ans-d45"],
    "ga-2": ["ans-e56"],
    "tq-1": ["ans-f71"],
}
WRONG = {
    "wq-when": ["no-a1"],
    "wq-what": ["no-a2"],
    "gl-1": ["no-b1"],
    "gl-2": ["no-b2"],
    "gh-1": ["no-c1"],
    "gh-2": ["no-c2"],
    "gf-1": ["no-d1"],
    "gf-2": ["no-d2"],
    "ga-1": ["no-e1"],
    "ga-2": ["no-e2"],
    "tq-1": ["no-f1"],
}


def span(start: int, end: int) -> dict[str, Any]:
    """The watched segment of a ``lesson.progressed`` body (``from`` is a keyword)."""
    return {"from": start, "to": end}


def with_quiz(quiz_id: str, **changes: Any) -> Catalog:
    """The fixture catalog with quiz ``quiz_id`` (of course ``safety``) changed."""

    def quiz(q: Quiz) -> Quiz:
        return msgspec.structs.replace(q, **changes) if q.id == quiz_id else q

    courses = []
    for course in CAT.courses:
        modules = [
            msgspec.structs.replace(m, quizzes=[quiz(q) for q in m.quizzes]) for m in course.modules
        ]
        courses.append(msgspec.structs.replace(course, modules=modules))
    return msgspec.structs.replace(CAT, courses=courses)


class Learner:
    """One learner as the store sees them: facts checked, folded and decided in arrival
    order; every decision kept, in feed order, like the feed."""

    def __init__(
        self, catalog: Catalog = CAT, plan: str = "free", policy: Policy | None = None
    ) -> None:
        self.ctx = Context(catalog, plan, policy or Policy())
        self.state = UserState()
        self.facts: list[Fact] = []
        self.feed: list[FeedDecision] = []
        self.seq = 0
        self.clock = T0

    def do(
        self, type_: str, *, at: int | None = None, device: str = "d1", **body: Any
    ) -> list[Decision]:
        """Record one event ``at`` (default: one minute after the previous one)."""
        self.seq += 1
        self.clock = at if at is not None else self.clock + MIN
        event = Event(self.seq, format_hlc(self.clock, 0), self.clock, type_, body, "UTC")
        checked = check_event(event, self.ctx.catalog)
        assert not isinstance(checked, Rejection), checked
        stamp = (event.hlc, device, event.seq)
        self.facts.append(Fact(device, event.seq, event.hlc, event.at, type_, body))
        apply_body(self.state, stamp, event.at, checked)
        decisions = decide(self.state, checked, stamp, event.at, self.ctx)
        self.feed += [
            FeedDecision(len(self.facts) + len(self.feed) + i, d.type, d.body, event.at)
            for i, d in enumerate(decisions)
        ]
        return decisions

    def attempt(
        self,
        quiz: str,
        attempt: str,
        right: int,
        *,
        course: str = "safety",
        at: int | None = None,
    ) -> list[Decision]:
        """Answer the first ``right`` questions of ``quiz`` right, the others wrong, submit."""
        found = self.ctx.catalog.quiz(course, quiz)
        assert found is not None
        for index, question in enumerate(found.questions):
            choices = RIGHT[question.id] if index < right else WRONG[question.id]
            self.do(
                "quiz.answered",
                at=at,
                course=course,
                quiz=quiz,
                attempt=attempt,
                question=question.id,
                choices=choices,
            )
            at = None if at is None else at + 1
        return self.do("quiz.submitted", at=at, course=course, quiz=quiz, attempt=attempt)

    def view(self) -> LearnerView:
        return learner_view(self.state, self.ctx.catalog, self.ctx.plan)

    def quiz(self, quiz_id: str, course: str = "safety") -> QuizView:
        for c in self.view().courses:
            for m in c.modules:
                for q in m.quizzes:
                    if (c.id, q.id) == (course, quiz_id):
                        return q
        raise KeyError(quiz_id)

    def types(self) -> list[str]:
        return [d.type for d in self.feed]


def scored(decisions: list[Decision]) -> dict[str, Any]:
    (found,) = [d.body for d in decisions if d.type == "quiz.scored"]
    return found


def refusal(decisions: list[Decision], kind: str) -> str:
    (found,) = [d.body["reason"] for d in decisions if d.type == kind]
    return str(found)


# -- scoring ------------------------------------------------------------------------------


def test_a_question_is_right_only_with_exactly_its_choices() -> None:
    ann = Learner(with_quiz("wash-check", max_attempts=None))
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check"}
    for attempt, picked in (
        ("subset", ["ans-b41"]),
        ("superset", ["ans-b41", "ans-c9d", "no-a2"]),
        ("exact", ["ans-c9d", "ans-b41"]),  # order does not matter
    ):
        ann.do("quiz.answered", **base, attempt=attempt, question="wq-what", choices=picked)
        result = scored(ann.do("quiz.submitted", **base, attempt=attempt))
        assert result["correct"] == (1 if attempt == "exact" else 0), attempt


def test_the_score_is_points_earned_over_the_quizs_total_points() -> None:
    ann = Learner()
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "a1"}
    # wq-when (1 point) right, wq-what (2 points) wrong: 1 / 3.
    ann.do("quiz.answered", **base, question="wq-when", choices=["ans-7f3"])
    ann.do("quiz.answered", **base, question="wq-what", choices=["no-a2"])
    result = scored(ann.do("quiz.submitted", **base))
    assert (result["score"], result["passed"], result["correct"], result["questions"]) == (
        0.3333,
        False,
        1,
        2,
    )


def test_the_heavier_question_alone_can_pass() -> None:
    ann = Learner()
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "a1"}
    ann.do("quiz.answered", **base, question="wq-what", choices=["ans-b41", "ans-c9d"])
    decisions = ann.do("quiz.submitted", **base)  # wq-when unanswered: 2 / 3 < 0.7
    assert (scored(decisions)["score"], scored(decisions)["passed"]) == (0.6667, False)
    assert [d.type for d in decisions] == ["quiz.scored"]


def test_the_later_answer_by_hlc_counts_whatever_the_arrival_order() -> None:
    ann = Learner(with_quiz("wash-check", max_attempts=None))
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "a1"}
    # The right answer is stamped later but arrives first.
    ann.do("quiz.answered", at=T0 + 5000, **base, question="wq-when", choices=["ans-7f3"])
    ann.do("quiz.answered", at=T0 + 1000, **base, question="wq-when", choices=["no-a1"])
    assert scored(ann.do("quiz.submitted", at=T0 + 9000, **base))["correct"] == 1


def test_attempts_are_numbered_in_the_order_the_server_scores_them() -> None:
    ann = Learner(with_quiz("wash-check", max_attempts=None))
    # "late" was submitted first on its device but reaches the server second.
    first = scored(ann.attempt("wash-check", "early-arrival", 0, at=T0 + 10 * MIN))
    second = scored(ann.attempt("wash-check", "late-arrival", 3, at=T0 + 1 * MIN))
    assert (first["number"], second["number"]) == (1, 2)
    view = ann.quiz("wash-check")
    assert {a.id: a.number for a in view.attempts} == {"early-arrival": 1, "late-arrival": 2}


def test_a_submitted_attempt_is_scored_once_even_if_submitted_again() -> None:
    ann = Learner()
    ann.attempt("wash-check", "a1", 3)
    again = ann.do("quiz.submitted", course="safety", quiz="wash-check", attempt="a1")
    assert again == []
    assert ann.types().count("quiz.scored") == 1 and ann.types().count("quiz.passed") == 1


def test_an_attempt_never_submitted_is_not_scored() -> None:
    ann = Learner()
    ann.do("quiz.started", course="safety", quiz="wash-check", attempt="a1")
    ann.do(
        "quiz.answered",
        course="safety",
        quiz="wash-check",
        attempt="a1",
        question="wq-when",
        choices=["ans-7f3"],
    )
    assert ann.feed == []
    assert [(a.id, a.status, a.number) for a in ann.quiz("wash-check").attempts] == [
        ("a1", "in_progress", None)
    ]


# -- attempt limits -----------------------------------------------------------------------


def test_only_max_attempts_attempts_count_the_rest_are_scored_with_the_reason() -> None:
    ann = Learner()  # wash-check: max_attempts 1
    first = scored(ann.attempt("wash-check", "a1", 0))
    second = scored(ann.attempt("wash-check", "a2", 3))
    assert (first["counted"], first["reason"]) == (True, "")
    assert (second["counted"], second["passed"], second["number"]) == (False, True, 2)
    assert second["reason"] == "attempt limit reached: 1 counted attempt(s) allowed"
    # A perfect attempt over the limit does not pass the quiz.
    view = ann.quiz("wash-check")
    assert (view.passed, view.status, view.best_score, view.attempts_left) == (
        False,
        "failed",
        0.0,
        0,
    )
    assert "quiz.passed" not in ann.types()


def test_free_learners_get_max_attempts_free() -> None:
    ann = Learner(plan="free")  # gloves-last: max_attempts 4, max_attempts_free 2
    results = [
        scored(ann.attempt("gloves-last", f"a{i}", 0, at=T0 + i * 3_600_000)) for i in range(3)
    ]
    assert [r["counted"] for r in results] == [True, True, False]
    assert results[2]["reason"] == (
        "attempt limit reached: 2 counted attempt(s) allowed for free learners"
    )
    assert ann.quiz("gloves-last").attempts_left == 0


def test_premium_learners_get_max_attempts_not_max_attempts_free() -> None:
    bob = Learner(plan="premium")
    results = [
        scored(bob.attempt("gloves-last", f"a{i}", 0, at=T0 + i * 3_600_000)) for i in range(5)
    ]
    assert [r["counted"] for r in results] == [True, True, True, True, False]
    # The refusal names the limit that applies, not the free plan's.
    assert results[4]["reason"] == "attempt limit reached: 4 counted attempt(s) allowed"


def test_a_premium_refusal_never_mentions_the_free_plan_when_both_limits_are_equal() -> None:
    bob = Learner(with_quiz("wash-check", max_attempts=1, max_attempts_free=1), plan="premium")
    bob.attempt("wash-check", "a1", 0)
    reason = scored(bob.attempt("wash-check", "a2", 0))["reason"]
    assert reason == "attempt limit reached: 1 counted attempt(s) allowed"


# -- cool-down ----------------------------------------------------------------------------


def test_an_attempt_inside_the_cooldown_is_scored_but_not_counted() -> None:
    ann = Learner(plan="premium")  # gloves-last: cool-down 600 s
    first = scored(ann.attempt("gloves-last", "a1", 0, at=T0))
    early = scored(ann.attempt("gloves-last", "a2", 2, at=T0 + 596_000))
    assert first["at"] == T0 + 2  # the attempt's own submission time (after two answers)
    assert (early["counted"], early["passed"], early["number"]) == (False, True, 2)
    assert early["reason"] == "cool-down: submitted 4 s before attempt 1's 600 s cool-down ended"
    view = ann.quiz("gloves-last")
    assert (view.passed, view.cooldown_until) == (False, T0 + 2 + 600_000)


def test_an_attempt_after_the_cooldown_counts() -> None:
    ann = Learner(plan="premium")
    ann.attempt("gloves-last", "a1", 0, at=T0)
    late = scored(ann.attempt("gloves-last", "a2", 2, at=T0 + 600_000))
    assert (late["counted"], late["reason"]) == (True, "")
    assert ann.quiz("gloves-last").passed


def submit_at(learner: Learner, attempt: str, at: int, received: int) -> dict[str, Any]:
    """Submit ``attempt`` of gloves-last (cool-down 600 s) dated ``at`` by the device and
    received by the server at ``received``; its score."""
    body = QuizSubmitted("safety", "gloves-last", attempt)
    learner.seq += 1
    stamp = (format_hlc(max(at, received), 0), "d1", learner.seq)
    apply_body(learner.state, stamp, at, body)
    return scored(decide(learner.state, body, stamp, at, learner.ctx, received=received))


def test_a_clock_running_ahead_cannot_end_the_cooldown_early() -> None:
    """An attempt dated after the cool-down but received inside it is not counted, and is
    credited at its receipt."""
    ann = Learner(plan="premium")
    first = submit_at(ann, "a1", T0, received=T0)
    assert (first["at"], first["received"], first["counted"]) == (T0, T0, True)
    ahead = submit_at(ann, "a2", T0 + 600_000, received=T0 + 60_000)
    assert (ahead["counted"], ahead["at"], ahead["received"]) == (False, T0 + 60_000, T0 + 60_000)
    assert ahead["reason"] == "cool-down: submitted 540 s before attempt 1's 600 s cool-down ended"
    assert ann.quiz("gloves-last").cooldown_until == T0 + 600_000
    on_time = submit_at(ann, "a3", T0 + 600_000, received=T0 + 600_000)
    assert (on_time["counted"], on_time["reason"]) == (True, "")


def test_an_earlier_attempt_dated_back_cannot_end_the_cooldown_early() -> None:
    """The cool-down counts from the later of the attempt's time and its receipt: dating
    the first attempt an hour back does not let the next one count a minute later."""
    ann = Learner(plan="premium")
    back = submit_at(ann, "a1", T0 - 3_600_000, received=T0)
    assert (back["at"], back["received"]) == (T0 - 3_600_000, T0)
    assert ann.quiz("gloves-last").cooldown_until == T0 + 600_000
    soon = submit_at(ann, "a2", T0 + 60_000, received=T0 + 60_000)
    assert (soon["counted"], soon["reason"]) == (
        False,
        "cool-down: reached the server 540 s before attempt 1's 600 s cool-down ended",
    )


def test_two_offline_attempts_arriving_together_count_once() -> None:
    """Two attempts an hour apart by the device's clock reach the server in the same push:
    no device clock can prove the wait, so the second is scored, not counted."""
    ann = Learner(plan="premium")
    arrival = T0 + 5 * 3_600_000
    results = [submit_at(ann, f"a{i}", T0 + i * 3_600_000, received=arrival) for i in (0, 1)]
    assert [r["counted"] for r in results] == [True, False]
    assert results[1]["reason"] == (
        "cool-down: reached the server 600 s before attempt 1's 600 s cool-down ended"
    )
    # Whereas one made inside the cool-down by the device's own clock never counts, however
    # late it arrives.
    late = submit_at(ann, "a2", T0 + 60_000, received=arrival + 3_600_000)
    assert late["reason"] == "cool-down: submitted 540 s before attempt 1's 600 s cool-down ended"


# -- grading policies ---------------------------------------------------------------------

POLICY_QUIZ = {"highest": "gloves-highest", "first": "gloves-first", "average": "gloves-average"}


@pytest.mark.parametrize(
    ("grading", "rights", "policy_score", "passed"),
    [
        # gloves-highest: passing 1.0, two questions.
        ("highest", [1, 2, 1], 1.0, True),
        ("highest", [1, 1, 0], 0.5, False),
        # gloves-first: passing 1.0; only the first counted attempt matters.
        ("first", [2, 0], 1.0, True),
        ("first", [1, 2, 2], 0.5, False),
        # gloves-average: passing 0.75.
        ("average", [1, 2], 0.75, True),
        ("average", [2, 0, 1], 0.5, True),  # passed at once; a later dip never revokes it
        ("average", [1, 1, 2], 0.6667, False),
    ],
)
def test_grading_policy_decides_the_quiz_score_and_the_pass(
    grading: str, rights: list[int], policy_score: float, passed: bool
) -> None:
    ann = Learner(plan="premium")
    for i, right in enumerate(rights):
        ann.attempt(POLICY_QUIZ[grading], f"a{i}", right)
    view = ann.quiz(POLICY_QUIZ[grading])
    assert (view.grading, view.best_score, view.passed) == (grading, policy_score, passed)
    assert view.status == ("passed" if passed else "failed")
    assert ann.types().count("quiz.passed") == (1 if passed else 0)


@pytest.mark.parametrize(
    ("rights", "policy_score", "passed"),
    [([0, 2], 1.0, True), ([0, 0], 0.0, False), ([0, 1], 0.5, True), ([1, 0], 0.0, True)],
)
def test_grading_last_uses_the_latest_counted_attempt(
    rights: list[int], policy_score: float, passed: bool
) -> None:
    ann = Learner(plan="premium")  # gloves-last: passing 0.5, cool-down 600 s
    for i, right in enumerate(rights):
        ann.attempt("gloves-last", f"a{i}", right, at=T0 + i * 3_600_000)
    view = ann.quiz("gloves-last")
    assert (view.best_score, view.passed) == (policy_score, passed)


def test_a_pass_is_never_revoked_by_a_late_attempt_under_the_last_policy() -> None:
    ann = Learner(plan="premium")
    ann.attempt("gloves-last", "good", 2, at=T0)
    # A worse attempt, recorded earlier offline on another device, arrives afterwards.
    ann.attempt("gloves-last", "bad", 0, at=T0 + 3_600_000)
    view = ann.quiz("gloves-last")
    assert (view.best_score, view.passed, view.status) == (0.0, True, "passed")
    assert ann.types().count("quiz.passed") == 1


def test_attempts_over_the_limit_do_not_change_the_policy_score() -> None:
    ann = Learner(plan="free")  # gloves-last: 2 counted attempts for free learners
    ann.attempt("gloves-last", "a0", 0, at=T0)
    ann.attempt("gloves-last", "a1", 0, at=T0 + 3_600_000)
    ann.attempt("gloves-last", "a2", 2, at=T0 + 7_200_000)
    assert (ann.quiz("gloves-last").best_score, ann.quiz("gloves-last").passed) == (0.0, False)


# -- enrollments --------------------------------------------------------------------------


def test_enrolling_unlocks_the_first_milestone_only() -> None:
    ann = Learner()
    decisions = ann.do("path.enrolled", path="responder")
    assert [(d.type, d.body.get("to") or d.body.get("milestone")) for d in decisions] == [
        ("enrollment.changed", "enrolled"),
        ("milestone.unlocked", "ms-wash"),
    ]
    path = ann.view().paths[0]
    assert [m.status for m in path.milestones] == ["available", "locked", "locked"]


def test_free_learners_may_have_two_active_enrollments() -> None:
    ann = Learner(plan="free")
    ann.do("path.enrolled", path="responder")
    ann.do("path.enrolled", path="helper")
    decisions = ann.do("path.enrolled", path="reader")
    assert refusal(decisions, "enrollment.refused") == (
        "enrollment limit reached: free learners may have 2 active enrollment(s); "
        "drop one or upgrade"
    )
    reader = {p.id: p for p in ann.view().paths}["reader"]
    assert (reader.status, reader.refused) == (
        "not_enrolled",
        refusal(decisions, "enrollment.refused"),
    )
    assert ann.view().summary.active_enrollments == 2


def test_a_paused_enrollment_is_still_active_and_a_dropped_one_frees_a_place() -> None:
    ann = Learner(plan="free")
    ann.do("path.enrolled", path="responder")
    ann.do("path.enrolled", path="helper")
    ann.do("path.paused", path="helper")
    assert "enrollment.refused" in [d.type for d in ann.do("path.enrolled", path="reader")]
    ann.do("path.dropped", path="helper")
    assert [d.type for d in ann.do("path.enrolled", path="reader")] == [
        "enrollment.changed",
        "milestone.unlocked",
    ]


def test_premium_learners_have_no_enrollment_limit() -> None:
    bob = Learner(plan="premium")
    for path in ("responder", "helper", "reader"):
        assert "enrollment.refused" not in [d.type for d in bob.do("path.enrolled", path=path)]
    assert bob.view().summary.active_enrollments == 3


def test_a_configured_premium_limit_applies_to_premium_learners() -> None:
    bob = Learner(plan="premium", policy=Policy(premium_enrollment_limit=1))
    bob.do("path.enrolled", path="responder")
    assert refusal(bob.do("path.enrolled", path="helper"), "enrollment.refused") == (
        "enrollment limit reached: premium learners may have 1 active enrollment(s); "
        "drop one or upgrade"
    )


def statuses(learner: Learner, path: str = "responder") -> list[str | None]:
    view = {p.id: p for p in learner.view().paths}[path]
    return [view.history[0].from_, *(t.to for t in view.history)]


def test_enrollment_goes_enrolled_in_progress_paused_in_progress_completed() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="helper")
    ann.do("lesson.opened", course="extra", lesson="extra-read")  # content started
    ann.do("path.paused", path="helper")
    ann.do("path.resumed", path="helper")
    ann.do("lesson.completed", course="extra", lesson="extra-read")
    assert statuses(ann, "helper") == [
        None,
        "enrolled",
        "in_progress",
        "paused",
        "in_progress",
        "completed",
    ]
    helper = {p.id: p for p in ann.view().paths}["helper"]
    assert (helper.status, helper.percent) == ("completed", 100)
    assert [t.reason for t in helper.history] == [
        "enroll",
        "started",
        "pause",
        "resume",
        "all milestones completed",
    ]


def test_resuming_a_path_never_started_returns_it_to_enrolled() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("path.paused", path="responder")
    ann.do("path.resumed", path="responder")
    assert statuses(ann) == [None, "enrolled", "paused", "enrolled"]


def test_a_dropped_path_can_be_enrolled_again_and_starts_over() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    ann.do("path.dropped", path="responder")
    decisions = ann.do("path.enrolled", path="responder")
    assert [d.type for d in decisions] == ["enrollment.changed", "milestone.unlocked"]
    path = ann.view().paths[0]
    assert (path.status, [m.status for m in path.milestones]) == (
        "enrolled",
        ["available", "locked", "locked"],
    )


@pytest.mark.parametrize(
    ("setup", "event", "message"),
    [
        ([], "path.paused", "not enrolled in this path"),
        ([], "path.resumed", "not enrolled in this path"),
        ([], "path.dropped", "not enrolled in this path"),
        (["path.enrolled"], "path.enrolled", "already enrolled in 'helper' (enrolled)"),
        (["path.enrolled"], "path.resumed", "the enrollment is already enrolled"),
        (["path.enrolled", "path.paused"], "path.paused", "the enrollment is already paused"),
        (
            ["path.enrolled", "path.paused"],
            "path.enrolled",
            "already enrolled in 'helper' (paused)",
        ),
        (
            ["path.enrolled", "path.dropped"],
            "path.paused",
            "an enrollment cannot go from dropped to paused",
        ),
        (
            ["path.enrolled", "path.dropped"],
            "path.resumed",
            "an enrollment cannot go from dropped to in_progress",
        ),
        (["path.enrolled", "path.dropped"], "path.dropped", "the enrollment is already dropped"),
    ],
)
def test_refused_enrollment_transitions_say_why(setup: list[str], event: str, message: str) -> None:
    ann = Learner()
    for step in setup:
        ann.do(step, path="helper")
    before = ann.view().paths[1].history
    decisions = ann.do(event, path="helper")
    assert [d.type for d in decisions] == ["enrollment.refused"]
    assert decisions[0].body["reason"] == message
    helper = ann.view().paths[1]
    assert (helper.refused, helper.history) == (message, before)


def test_a_completed_path_refuses_every_change() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="helper")
    ann.do("lesson.completed", course="extra", lesson="extra-read")
    for event, target in (
        ("path.paused", "paused"),
        ("path.dropped", "dropped"),
        ("path.resumed", "in_progress"),
    ):
        assert refusal(ann.do(event, path="helper"), "enrollment.refused") == (
            f"an enrollment cannot go from completed to {target}"
        )
    assert refusal(ann.do("path.enrolled", path="helper"), "enrollment.refused") == (
        "an enrollment cannot go from completed to enrolled"
    )


def test_every_transition_not_in_the_table_is_refused() -> None:
    states = ["none", "enrolled", "in_progress", "completed", "paused", "dropped"]
    for current in states:
        for target in states[1:]:
            problem = transition_problem(current, target)
            assert (problem is None) == (target in TRANSITIONS[current]), (current, target)


def test_enrolling_while_paused_never_unlocks_a_milestone_twice() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("path.paused", path="responder")
    ann.do("path.enrolled", path="responder")
    ann.do("path.resumed", path="responder")
    unlocked = [d.body["milestone"] for d in ann.feed if d.type == "milestone.unlocked"]
    assert unlocked == ["ms-wash"]


# -- milestones ---------------------------------------------------------------------------


def complete_wash(learner: Learner) -> None:
    """Everything milestone ms-wash (module safety/wash, rule ``all``) asks for."""
    learner.do("lesson.opened", course="safety", lesson="wash-read")
    learner.do(
        "lesson.progressed",
        course="safety",
        lesson="wash-video",
        seconds=95,
        **span(0, 95),
    )
    learner.attempt("wash-check", "w1", 2)


def test_completing_a_milestones_content_completes_it_and_unlocks_the_next() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do(
        "lesson.progressed",
        course="safety",
        lesson="wash-video",
        seconds=95,
        **span(0, 95),
    )
    assert "milestone.completed" not in ann.types()  # the quiz is not passed yet
    decisions = ann.attempt("wash-check", "w1", 2)
    assert [(d.type, d.body.get("milestone")) for d in decisions] == [
        ("quiz.scored", None),
        ("quiz.passed", None),
        ("milestone.completed", "ms-wash"),
        ("milestone.unlocked", "ms-gloves"),
    ]
    path = ann.view().paths[0]
    assert [m.status for m in path.milestones] == ["completed", "available", "locked"]
    assert (path.status, path.percent) == ("in_progress", 33)


def test_a_locked_milestone_cannot_be_started_or_completed() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    for event in ("milestone.started", "milestone.completed"):
        decisions = ann.do(event, path="responder", milestone="ms-gloves")
        assert refusal(decisions, "milestone.refused") == (
            "milestone 'ms-gloves' is locked: complete 'ms-wash' first"
        )
    assert [m.status for m in ann.view().paths[0].milestones] == ["available", "locked", "locked"]


def test_milestone_events_need_an_active_enrollment() -> None:
    ann = Learner()
    decisions = ann.do("milestone.started", path="responder", milestone="ms-wash")
    assert refusal(decisions, "milestone.refused") == "not actively enrolled in path 'responder'"
    ann.do("path.enrolled", path="responder")
    ann.do("path.paused", path="responder")
    decisions = ann.do("milestone.completed", path="responder", milestone="ms-wash")
    assert refusal(decisions, "milestone.refused") == "not actively enrolled in path 'responder'"


def test_marking_a_milestone_complete_unlocks_the_next_and_starts_the_path() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.started", path="responder", milestone="ms-wash")
    decisions = ann.do("milestone.completed", path="responder", milestone="ms-wash")
    assert [(d.type, d.body.get("milestone")) for d in decisions] == [
        ("milestone.completed", "ms-wash"),
        ("milestone.unlocked", "ms-gloves"),
    ]
    assert refusal(
        ann.do("milestone.completed", path="responder", milestone="ms-wash"), "milestone.refused"
    ) == ("milestone 'ms-wash' is already completed")
    assert statuses(ann) == [None, "enrolled", "in_progress"]


def test_a_path_completes_when_its_last_milestone_does() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    for milestone in ("ms-wash", "ms-gloves", "ms-triage"):
        ann.do("milestone.completed", path="responder", milestone=milestone)
    path = ann.view().paths[0]
    assert (path.status, path.percent, path.completed_at) == ("completed", 100, ann.clock)
    assert ann.view().summary.completed_paths == 1


def test_milestone_reset_restarts_its_content_and_keeps_time_spent() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    complete_wash(ann)
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-wash")
    assert [d.type for d in decisions] == ["milestone.reset"]
    assert decisions[0].body["scope"] == "safety/wash"
    view = ann.view()
    wash = view.courses[0].modules[0]
    assert [x.status for x in wash.lessons] == ["in_progress", "in_progress"]
    assert wash.status == "in_progress" and wash.quizzes[0].passed  # a pass stays
    assert wash.lessons[1].seconds == 95 and view.summary.time_spent == 95
    assert [m.status for m in view.paths[0].milestones] == ["in_progress", "available", "locked"]
    # Doing the content again completes it again; ms-gloves is not unlocked a second time.
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do(
        "lesson.progressed",
        course="safety",
        lesson="wash-video",
        seconds=5,
        **span(0, 90),
    )
    assert ann.view().paths[0].milestones[0].status == "completed"
    unlocked = [d.body["milestone"] for d in ann.feed if d.type == "milestone.unlocked"]
    assert unlocked == ["ms-wash", "ms-gloves"]


def test_milestone_reset_with_nothing_done_is_refused() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-wash")
    assert refusal(decisions, "milestone.refused") == "milestone 'ms-wash' has nothing to reset"


def test_a_milestone_in_progress_by_its_content_can_be_reset() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    assert ann.view().paths[0].milestones[0].status == "in_progress"
    decisions = ann.do("milestone.reset", path="responder", milestone="ms-wash")
    assert [d.type for d in decisions] == ["milestone.reset"]
    assert ann.view().courses[0].modules[0].lessons[0].status == "in_progress"


def test_no_milestone_is_unlocked_twice_in_one_enrollment() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    complete_wash(ann)
    ann.do("milestone.reset", path="responder", milestone="ms-wash")
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    ann.do("lesson.completed", course="safety", lesson="gloves-read")  # ms-gloves (rule any)
    ann.do("course.reset", course="safety")
    ann.do("lesson.completed", course="safety", lesson="gloves-read")
    unlocked = [d.body["milestone"] for d in ann.feed if d.type == "milestone.unlocked"]
    assert unlocked == ["ms-wash", "ms-gloves", "ms-triage"]


# -- competencies -------------------------------------------------------------------------


def test_a_competency_is_acquired_once_with_its_level() -> None:
    ann = Learner()
    # triage-skill (mastery 50): evidence = course triage + lesson triage-read.
    decisions = ann.do("lesson.completed", course="triage", lesson="triage-read")
    acquired = [d.body for d in decisions if d.type == "competency.acquired"]
    assert acquired == [{"competency": "triage-skill", "name": "Triage", "level": 50}]
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=60)
    assert ann.types().count("competency.acquired") == 1
    skill = {c.id: c for c in ann.view().competencies}["triage-skill"]
    assert (skill.level, skill.status, skill.acquired_at) == (100, "mastered", T0 + MIN)
    assert skill.evidence == ["course:triage/triage", "lesson:triage/triage-read"]


def test_a_competency_below_its_mastery_is_in_progress_and_not_acquired() -> None:
    ann = Learner()
    # hygiene (mastery 100): evidence = quiz wash-check + assignment incident.
    ann.attempt("wash-check", "w1", 2)
    hygiene = {c.id: c for c in ann.view().competencies}["hygiene"]
    assert (hygiene.level, hygiene.status) == (50, "in_progress")
    assert "competency.acquired" not in ann.types()
    ann.do("assignment.submitted", course="safety", assignment="incident", text="done")
    decisions = grade(
        ann.state, ann.ctx, "safety", "incident", score=7, feedback="ok", graded_by="ivy", at=T0
    )
    assert [d.type for d in decisions][-1] == "competency.acquired"
    assert decisions[-1].body["level"] == 100


def test_a_mastered_competency_stays_when_its_evidence_is_reset() -> None:
    ann = Learner()
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    ann.do("course.reset", course="triage")
    skill = {c.id: c for c in ann.view().competencies}["triage-skill"]
    assert (skill.level, skill.status) == (0, "mastered")
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    assert ann.types().count("competency.acquired") == 1


# -- assignments --------------------------------------------------------------------------


def test_grading_needs_a_submission_and_a_score_in_range() -> None:
    ann = Learner()
    with pytest.raises(ValueError, match="nothing was submitted for this assignment"):
        grade(ann.state, ann.ctx, "safety", "incident", score=5, feedback="", graded_by="i", at=T0)
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    with pytest.raises(ValueError, match="score must be between 0 and 10"):
        grade(ann.state, ann.ctx, "safety", "incident", score=11, feedback="", graded_by="i", at=T0)
    with pytest.raises(ValueError, match="no assignment 'nope' in course 'safety'"):
        grade(ann.state, ann.ctx, "safety", "nope", score=1, feedback="", graded_by="i", at=T0)


def test_a_submission_after_a_pass_is_kept_but_refused_for_grading() -> None:
    ann = Learner()
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    grade(ann.state, ann.ctx, "safety", "incident", score=8, feedback="", graded_by="i", at=T0)
    decisions = ann.do("assignment.submitted", course="safety", assignment="incident", text="v2")
    assert refusal(decisions, "assignment.refused") == (
        "already graded as passed: a new submission is kept but not graded"
    )


def test_a_failed_assignment_can_be_resubmitted_and_passed() -> None:
    ann = Learner()
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    grade(ann.state, ann.ctx, "safety", "incident", score=3, feedback="", graded_by="i", at=T0)
    assert ann.do("assignment.submitted", course="safety", assignment="incident", text="v2") == []
    grade(ann.state, ann.ctx, "safety", "incident", score=9, feedback="", graded_by="i", at=T0)
    (incident,) = ann.view().courses[0].modules[2].assignments
    assert (incident.status, incident.score, incident.passed, incident.submissions) == (
        "graded",
        9,
        True,
        2,
    )


# -- review after a catalog change --------------------------------------------------------


def test_review_passes_a_counted_attempt_under_a_lowered_passing_score() -> None:
    ann = Learner()
    ann.attempt("wash-check", "w1", 1)  # 1 / 3: failed at 0.7
    assert not ann.quiz("wash-check").passed
    lowered = Context(with_quiz("wash-check", passing_score=0.3), "free")
    decisions = review(ann.state, lowered, T0 + 99 * MIN)
    assert [(d.type, d.body["score"]) for d in decisions] == [("quiz.passed", 0.3333)]
    assert review(ann.state, lowered, T0 + 100 * MIN) == []  # made once


def test_review_never_revokes_a_pass_under_a_raised_passing_score() -> None:
    ann = Learner()
    ann.attempt("wash-check", "w1", 2)
    raised = Context(with_quiz("wash-check", passing_score=1.0), "free")
    assert review(ann.state, raised, T0 + 99 * MIN) == []
    assert learner_view(ann.state, raised.catalog).courses[0].modules[0].quizzes[0].passed


def test_review_ignores_an_attempt_that_was_not_counted() -> None:
    ann = Learner()
    ann.attempt("wash-check", "w1", 0)
    ann.attempt("wash-check", "w2", 1)  # over max_attempts: not counted
    lowered = Context(with_quiz("wash-check", passing_score=0.3), "free")
    assert review(ann.state, lowered, T0 + 99 * MIN) == []


# -- decisions fold back to the same state ------------------------------------------------


def test_the_fold_of_facts_and_recorded_decisions_is_the_deciding_state() -> None:
    ann = Learner(plan="free")
    ann.do("path.enrolled", path="responder")
    complete_wash(ann)
    ann.attempt("gloves-last", "g1", 2, at=ann.clock + MIN)
    ann.do("milestone.reset", path="responder", milestone="ms-wash")
    ann.do("course.reset", course="triage")
    ann.do("path.enrolled", path="helper")
    ann.do("path.enrolled", path="reader")
    assert fold(ann.facts, ann.feed) == ann.state
