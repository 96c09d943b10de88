"""sync.merge, rule by rule: what each accepted or refused event leaves in the Outcome.

``test_merge.py`` checks the sequence (dedupe, gaps, the order of entries); these tests pin
the values: a rejection's body and stamp, the outbox events pointing at their entries,
and when a lesson counts as newly completed for awards. Measured by mutation testing
(``docs/testing.md``).
"""

from __future__ import annotations

import msgspec

from sync.decide import Context
from sync.events import Event, Rejection
from sync.fold import UserState
from sync.gamify import GamifyState, rules_for
from sync.merge import (
    DeviceEntry,
    Learner,
    ServerEntry,
    checked,
    lesson_done_now,
    merge,
    newly_done,
)
from sync.outbox import DomainEvent
from tests.sync.test_decide import CAT as LEARNING
from tests.sync.test_gamify import CAT, T0, TZ, Device, complete, make_code, quiz_events
from tests.sync.test_merge import CTX, NOW, learner, push


def test_a_checked_event_gives_its_body_as_json_and_a_rejection_gives_none() -> None:
    dev = Device("d1")
    good = complete(dev, "c1", "l1", T0)
    assert checked(good, CAT)[1] == '{"course":"c1","lesson":"l1"}'
    bad = dev.event("lesson.completed", T0, course="c1", lesson="nope")
    verdict, body_json = checked(bad, CAT)
    assert isinstance(verdict, Rejection) and body_json == ""


def test_a_body_json_cannot_hold_is_rejected_with_why() -> None:
    hlc = complete(Device("d1"), "c1", "l1", T0).hlc
    event = Event(1, hlc, T0, "lesson.completed", {"course": "c1", "lesson": "l1", "x": 1j})
    verdict, body_json = checked(event, CAT)
    assert isinstance(verdict, Rejection) and body_json == ""
    assert verdict.code == "invalid_body"
    assert verdict.reason.startswith("lesson.completed: body cannot be stored: ")


def test_a_rejection_with_a_bad_time_is_stamped_with_the_servers_time() -> None:
    event = Event(1, "not-an-hlc", 5, "lesson.completed", {"course": "c1", "lesson": "l1"}, TZ)
    out = push(learner(), [event])
    (entry,) = out.entries
    assert isinstance(entry, ServerEntry)
    assert (entry.type, entry.hlc, entry.at, entry.tz) == (
        "event.rejected",
        "0000000000000-0000",
        NOW,
        TZ,
    )
    assert entry.body == {
        "device_id": "d1",
        "seq": 1,
        "type": "lesson.completed",
        "code": "invalid_envelope",
        "reason": "hlc 'not-an-hlc' is not a hybrid logical clock",
    }


def test_an_accepted_fact_that_is_a_domain_event_points_at_its_entry() -> None:
    dev = Device("d1", "UTC")
    events = [
        dev.event("lesson.opened", T0, course="safety", lesson="report-read"),
        dev.event("assignment.submitted", T0 + 5000, course="safety", assignment="incident"),
    ]
    who = Learner("u1", UserState(), GamifyState(), "UTC", "free")
    ctx = Context(LEARNING, "free")
    out = merge(who, "d1", 0, events, ctx, rules=rules_for(LEARNING), make_code=make_code, now=NOW)
    index = next(
        i
        for i, e in enumerate(out.entries)
        if isinstance(e, DeviceEntry) and e.event.type == "assignment.submitted"
    )
    body = {"course": "safety", "assignment": "incident"}  # the body as the device sent it
    submitted = [e for e in out.events if e.type == "progress.assignment.submitted"]
    assert submitted == [DomainEvent(index, "progress.assignment.submitted", body, T0 + 5000)]


def test_lesson_done_now_says_none_for_a_fact_without_a_lesson_or_course() -> None:
    state = UserState()
    assert lesson_done_now(CAT, state, "c1", None) is None
    assert lesson_done_now(CAT, state, None, "l1") is None
    assert lesson_done_now(CAT, state, "nope", "l1") is None
    assert lesson_done_now(CAT, state, "c1", "l1") is False
    who = learner()
    push(who, [complete(Device("d1"), "c1", "l1", T0)])
    assert lesson_done_now(CAT, who.state, "c1", "l1") is True


def test_a_lesson_is_newly_done_once_until_it_is_undone() -> None:
    who = Learner("u1", UserState(), GamifyState())
    assert newly_done(who, "c1", "l1", False) is False
    assert who.gamify.done == set()
    assert newly_done(who, "c1", "l1", True) is True
    assert who.gamify.done == {"c1/l1"}
    assert newly_done(who, "c1", "l1", True) is False
    assert newly_done(who, "c1", "l2", True) is True
    assert who.gamify.done == {"c1/l1", "c1/l2"}
    assert newly_done(who, "c1", "l1", False) is False
    assert who.gamify.done == {"c1/l2"}
    assert newly_done(who, "c1", "l1", True) is True


def test_awards_use_the_rules_given_and_their_events_point_at_their_entries() -> None:
    who = learner()
    dev = Device("d1")
    rules = msgspec.structs.replace(rules_for(CAT), lesson_completed=7)
    out = merge(
        who,
        "d1",
        0,
        [complete(dev, "c1", "l1", T0)],
        CTX,
        rules=rules,
        make_code=make_code,
        now=NOW,
    )
    points = [
        (i, e.body["key"], e.body["points"])
        for i, e in enumerate(out.entries)
        if isinstance(e, ServerEntry) and e.type == "points.awarded"
    ]
    assert (points[0][1], points[0][2]) == ("points:lesson-completed:c1/l1", 7)
    earned = [
        (i, e.body)
        for i, e in enumerate(out.entries)
        if isinstance(e, ServerEntry) and e.type == "achievement.earned"
    ]
    assert earned
    assert [e for e in out.events if e.type == "gamification.achievement.earned"] == [
        DomainEvent(i, "gamification.achievement.earned", body, T0) for i, body in earned
    ]


def test_a_decisions_event_points_at_its_entry_at_the_facts_time() -> None:
    dev = Device("d1")
    out = push(learner(), quiz_events(dev, "a1", False, T0 + 5000))
    (index,) = [
        i
        for i, e in enumerate(out.entries)
        if isinstance(e, ServerEntry) and e.type == "quiz.scored"
    ]
    entry = out.entries[index]
    assert isinstance(entry, ServerEntry)
    assert [e for e in out.events if e.entry == index] == [
        DomainEvent(index, "progress.quiz.scored", entry.body, T0 + 5000),
        DomainEvent(index, "progress.quiz.failed", entry.body, T0 + 5000),
    ]


def test_a_completion_without_decisions_still_reports_the_progress() -> None:
    dev = Device("d1")
    out = push(learner(), [complete(dev, "c1", "l1", T0)])
    progress = [(e.entry, e.type) for e in out.events if e.type.startswith("progress.")]
    assert progress == [(0, "progress.lesson.completed"), (0, "progress.updated")]


def test_a_course_reset_reports_the_progress_it_undid() -> None:
    dev = Device("d1")
    who = learner()
    first = push(who, [complete(dev, "c1", "l1", T0)])
    reset = dev.event("course.reset", T0 + 1000, course="c1")
    out = push(who, [reset], watermark=first.watermark)
    assert [e for e in out.events if e.type == "progress.updated"] == [
        DomainEvent(
            0,
            "progress.updated",
            {"course": "c1", "percent": 0, "previous": 25, "status": "in_progress"},
            T0 + 1000,
        )
    ]
