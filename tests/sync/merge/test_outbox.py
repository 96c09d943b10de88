"""Domain events the merge derives for the outbox (``sync.merge.outbox``, through
``sync.merge.batch``): which events, their bodies, and the feed entry each follows from."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.catalog import parse_catalog
from sync.gamify import GamifyState, rules_for
from sync.merge.batch import DeviceEntry, Learner, Outcome, ServerEntry, merge, settle
from sync.merge.decide import Context, Decision
from sync.merge.fold import UserState
from sync.merge.outbox import TYPES, baseline, from_entry
from tests.sync.test_gamify import CAT, T0, TZ, Device, complete, make_code, quiz_events

NOW = T0 + 3_600_000
RULES = rules_for(CAT)
CTX = Context(CAT, "premium")


def learner() -> Learner:
    return Learner("u1", UserState(), GamifyState(), TZ, "premium")


def push(who: Learner, events: list[Any], watermark: int = 0) -> Outcome:
    return merge(who, "d1", watermark, events, CTX, rules=RULES, make_code=make_code, now=NOW)


def named(out: Outcome, prefix: str = "progress.") -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.body) for e in out.events if e.type.startswith(prefix)]


def entry_type(out: Outcome, index: int) -> str:
    entry = out.entries[index]
    return entry.event.type if isinstance(entry, DeviceEntry) else entry.type


def test_completing_lessons_announces_lesson_module_course_and_progress() -> None:
    dev, who = Device("d1"), learner()
    first = push(who, [complete(dev, "c1", "l3", T0)])
    assert named(first) == [
        (
            "progress.lesson.completed",
            {"course": "c1", "module": "m2", "lesson": "l3", "completed_at": T0},
        ),
        ("progress.module.completed", {"course": "c1", "module": "m2", "completed_at": T0}),
        (
            "progress.updated",
            {
                "course": "c1",
                "module": "m2",
                "lesson": "l3",
                "percent": 25,
                "previous": 0,
                "status": "in_progress",
            },
        ),
    ]
    # Each follows from the fact's own feed entry (index 0), dated by the fact.
    assert {(e.entry, e.at) for e in first.events if e.type.startswith("progress.")} == {(0, T0)}
    later = T0 + 60_000
    rest = [complete(dev, "c1", "l1", later), complete(dev, "c1", "l2", later)]
    rest += quiz_events(dev, "a1", True, later)
    out = push(who, rest, first.watermark)
    progress = [b["percent"] for t, b in named(out) if t == "progress.updated"]
    assert progress == [50, 75, 100]
    course_done = [b for t, b in named(out) if t == "progress.course.completed"]
    assert course_done == [{"course": "c1", "completed_at": later}]
    assert [b["module"] for t, b in named(out) if t == "progress.module.completed"] == ["m1"]


def test_a_heartbeat_that_completes_nothing_announces_nothing() -> None:
    dev, who = Device("d1"), learner()
    out = push(
        who,
        [
            dev.event("lesson.opened", T0, course="c1", lesson="l1"),
            dev.event("lesson.progressed", T0 + 1000, course="c1", lesson="l1", seconds=30),
        ],
    )
    assert named(out) == []


def test_a_rule_met_by_a_heartbeat_is_a_completion() -> None:
    cat = parse_catalog(
        "courses:\n  - id: v\n    modules:\n      - id: m\n        lessons:\n"
        "          - {id: clip, completion: 'time:60'}\n",
        "yaml",
    )
    ctx = Context(cat, "premium")
    dev, who = Device("d1"), learner()
    beats = [
        dev.event("lesson.progressed", T0 + n * 1000, course="v", lesson="clip", seconds=30)
        for n in range(3)
    ]
    out = merge(who, "d1", 0, beats, ctx, rules=rules_for(cat), make_code=make_code, now=NOW)
    done = [e for e in out.events if e.type == "progress.lesson.completed"]
    assert [e.body["completed_at"] for e in done] == [T0 + 1000]
    source = out.entries[done[0].entry]
    assert isinstance(source, DeviceEntry)
    assert (source.event.type, source.event.seq) == ("lesson.progressed", 2)


def test_uncompleting_lowers_the_percent_and_completing_again_is_announced_again() -> None:
    dev, who = Device("d1"), learner()
    out = push(
        who,
        [
            complete(dev, "c1", "l3", T0),
            dev.event("lesson.uncompleted", T0 + 1, course="c1", lesson="l3"),
            complete(dev, "c1", "l3", T0 + 2),
        ],
    )
    assert [(t, b.get("percent")) for t, b in named(out)] == [
        ("progress.lesson.completed", None),
        ("progress.module.completed", None),
        ("progress.updated", 25),
        ("progress.updated", 0),
        ("progress.lesson.completed", None),
        ("progress.module.completed", None),
        ("progress.updated", 25),
    ]
    sources = [out.entries[e.entry] for e in out.events if e.type == "progress.updated"]
    assert [(s.event.type, s.event.seq) for s in sources if isinstance(s, DeviceEntry)] == [
        ("lesson.completed", 1),
        ("lesson.uncompleted", 2),
        ("lesson.completed", 3),
    ]


def test_quiz_scores_passes_and_fails_follow_their_decisions() -> None:
    dev, who = Device("d1"), learner()
    out = push(who, quiz_events(dev, "a1", False, T0) + quiz_events(dev, "a2", True, T0 + 1))
    quiz = [
        (e.type, e.entry)
        for e in out.events
        if ".assessment." in e.type and e.type != "progress.assessment.started"
    ]
    assert [t for t, _ in quiz] == [
        "progress.assessment.completed",
        "progress.assessment.failed",
        "progress.assessment.completed",
        "progress.assessment.passed",
    ]
    for type_, index in quiz:
        decision = {
            "progress.assessment.completed": "quiz.scored",
            "progress.assessment.failed": "quiz.scored",
            "progress.assessment.passed": "quiz.passed",
        }[type_]
        assert entry_type(out, index) == decision
    failed = next(e.body for e in out.events if e.type == "progress.assessment.failed")
    assert (failed["attempt"], failed["passed"], failed["score"], failed["at"]) == (
        "a1",
        False,
        0.0,
        T0,
    )


def test_an_attempt_over_the_limit_is_scored_but_not_failed() -> None:
    assert [e.type for e in from_entry(3, "quiz.scored", {"counted": False}, T0)] == [
        "progress.assessment.completed"
    ]


def test_enrollment_milestones_path_competency_and_awards() -> None:
    dev, who = Device("d1"), learner()
    out = push(
        who,
        [
            dev.event("path.enrolled", T0, path="p1"),
            complete(dev, "c2", "k1", T0 + 1),
        ],
    )
    types = [e.type for e in out.events]
    for expected in (
        "progress.enrollment.created",
        "progress.enrollment.status_changed",
        "progress.enrollment.completed",
        "progress.milestone.unlocked",
        "progress.milestone.completed",
        "progress.path.completed",
        "progress.competency.acquired",
        "progress.course.completed",
        "gamification.achievement.earned",
        "gamification.certificate.issued",
    ):
        assert expected in types, expected
    assert set(types) <= TYPES
    # Every event from a decision or an award points at that very entry.
    for event in out.events:
        if not event.type.startswith(("progress.lesson", "progress.module", "progress.course")):
            if event.type == "progress.updated":
                continue
            source = entry_type(out, event.entry)
            assert source.split(".")[0] in (
                "path",
                "enrollment",
                "milestone",
                "competency",
                "achievement",
                "certificate",
                "level",
            ), event
    created = [e.body for e in out.events if e.type == "progress.enrollment.created"]
    assert created == [{"path": "p1", "to": "enrolled", "reason": "enroll", "from": None}]
    changed = [e.body for e in out.events if e.type == "progress.enrollment.status_changed"]
    assert [(c["from"], c["to"]) for c in changed] == [
        ("enrolled", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert [e.body for e in out.events if e.type == "progress.enrollment.completed"] == [
        {"path": "p1"}
    ]
    assert {"path": "p1"} in [e.body for e in out.events if e.type == "progress.path.completed"]


def test_a_submitted_assignment_is_an_event_of_its_own() -> None:
    assert [
        (e.type, e.entry, e.body, e.at)
        for e in from_entry(4, "assignment.submitted", {"course": "c1", "assignment": "a"}, T0)
    ] == [("progress.assignment.submitted", 4, {"course": "c1", "assignment": "a"}, T0)]
    assert from_entry(0, "lesson.opened", {"course": "c1", "lesson": "l1"}, T0) == []
    assert from_entry(0, "points.awarded", {}, T0) == []


def test_duplicates_and_a_resent_batch_derive_nothing_again() -> None:
    dev, who = Device("d1"), learner()
    batch = [complete(dev, "c1", "l1", T0), complete(dev, "c1", "l3", T0 + 1)]
    first = push(who, batch)
    assert first.events
    again = push(who, batch, first.watermark)
    assert (again.duplicates, again.entries, again.events) == (2, [], [])


def test_existing_progress_is_the_baseline_and_only_changes_are_announced() -> None:
    dev, done = Device("d1"), learner()
    push(done, [complete(dev, "c1", "l1", T0), complete(dev, "c1", "l3", T0)])
    seen = baseline(done.state, CAT, "premium")
    assert seen == done.seen
    revived = Learner("u1", done.state, done.gamify, TZ, "premium", seen)
    out = push(revived, [complete(dev, "c1", "l2", T0 + 5)], 2)
    assert [(t, b.get("lesson", b.get("module"))) for t, b in named(out)] == [
        ("progress.lesson.completed", "l2"),  # m1 waits for its quiz
        ("progress.updated", "l2"),
    ]


def test_settle_announces_grades_and_the_progress_they_make() -> None:
    who = learner()
    graded = {"course": "c1", "assignment": "a", "score": 1.0, "passed": True}
    settled = settle(
        who,
        [Decision("assignment.graded", graded)],
        CTX,
        rules=RULES,
        make_code=make_code,
        now=NOW,
        hlc="h",
        courses={"c1"},
    )
    assert [(e.type, e.entry, e.at) for e in settled.events] == [
        ("progress.assignment.graded", 0, NOW)
    ]
    assert isinstance(settled.entries[0], ServerEntry)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["l1", "l2", "l3", "-l1", "-l3", "q+", "q-"]), max_size=14))
def test_percent_announcements_chain_and_completions_match_the_views(steps: list[str]) -> None:
    """Whatever happens, each ``progress.updated`` starts where the previous one ended,
    and the last one (if any) is the course's percent now."""
    dev, who = Device("d1"), learner()
    events: list[Any] = []
    for n, step in enumerate(steps):
        at = T0 + n * 1000
        if step.startswith("q"):
            events += quiz_events(dev, f"a{n}", step == "q+", at)
        elif step.startswith("-"):
            events.append(dev.event("lesson.uncompleted", at, course="c1", lesson=step[1:]))
        else:
            events.append(complete(dev, "c1", step, at))
    out = push(who, events)
    updates = [e.body for e in out.events if e.type == "progress.updated"]
    previous = 0
    for body in updates:
        assert body["previous"] == previous != body["percent"]
        previous = body["percent"]
    from sync.views import course_view

    course = CAT.course("c1")
    assert course is not None
    assert previous == course_view(who.state, course, "premium").percent
    assert who.seen == baseline(who.state, CAT, "premium") | {
        k: v for k, v in who.seen.items() if k.startswith("course:c2")
    }


def test_an_attempt_starts_once_at_its_first_fact_whichever_it_is() -> None:
    dev, who = Device("d1"), learner()
    first = push(who, quiz_events(dev, "a1", False, T0))
    started = [e for e in first.events if e.type == "progress.assessment.started"]
    assert [(e.body, e.at) for e in started] == [
        ({"course": "c1", "quiz": "q1", "attempt": "a1"}, T0)
    ]
    assert entry_type(first, started[0].entry) == "quiz.started"
    # More facts of the same attempt, even a second quiz.started, start nothing again.
    later = dev.event("quiz.started", T0 + 9, course="c1", quiz="q1", attempt="a1")
    again = push(who, [later], first.watermark)
    assert again.accepted == 1
    assert [e for e in again.events if e.type == "progress.assessment.started"] == []


def test_a_replayed_push_derives_no_event_again() -> None:
    dev, who = Device("d1"), learner()
    events = [dev.event("path.enrolled", T0, path="p1"), *quiz_events(dev, "a1", True, T0 + 1)]
    first = push(who, events)
    assert {"progress.enrollment.created", "progress.assessment.started"} <= {
        e.type for e in first.events
    }
    replay = push(who, events, watermark=first.watermark)
    assert (replay.accepted, replay.duplicates, replay.events) == (0, len(events), [])
