"""sync.merge.batch, rule by rule: what each accepted or refused event leaves in the Outcome.

``test_merge.py`` checks the sequence (dedupe, gaps, the order of entries); these tests pin
the values: a rejection's body and stamp, the outbox events pointing at their entries,
and when a lesson counts as newly completed for awards. Measured by mutation testing
(``docs/testing.md``).
"""

from __future__ import annotations

import msgspec

from sync.events import Event, Rejection
from sync.gamify import GamifyState, rules_for
from sync.merge.batch import (
    DeviceEntry,
    Learner,
    ServerEntry,
    checked,
    lesson_done_now,
    merge,
    newly_done,
)
from sync.merge.decide import Context
from sync.merge.fold import UserState
from sync.merge.outbox import DomainEvent
from tests.sync.merge.test_decide import CAT as LEARNING
from tests.sync.merge.test_merge import CTX, NOW, learner, push
from tests.sync.test_gamify import CAT, T0, TZ, Device, complete, make_code, quiz_events


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
    assert verdict.reason == "lesson.completed: a value JSON cannot hold at `$.body.x`"


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
        DomainEvent(index, "progress.assessment.completed", entry.body, T0 + 5000),
        DomainEvent(index, "progress.assessment.failed", entry.body, T0 + 5000),
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


# -- awards: the learner's zone, the lesson's course, settle's own rules and events ----------


def test_a_fact_without_a_zone_is_dated_in_the_learners_zone() -> None:
    """20:00 UTC on Sunday 7 June is Monday 8 June in Tokyo: the streak day and the week
    its points count for are the learner's."""
    at = 1_780_862_400_000  # 2026-06-07T20:00:00Z
    who = Learner("u1", UserState(), GamifyState(), "Asia/Tokyo", "premium")
    event = Event(1, f"{at:013d}-0001", at, "lesson.opened", {"course": "c1", "lesson": "l1"}, "")
    now = at + 1000  # received a second later
    out = merge(who, "d1", 0, [event], CTX, rules=rules_for(CAT), make_code=make_code, now=now)
    refs = [
        e.body["ref"]
        for e in out.entries
        if isinstance(e, ServerEntry) and e.body.get("rule") == "streak-day"
    ]
    assert refs == ["2026-06-08"]
    weeks = [e.body["week"] for e in out.entries if isinstance(e, ServerEntry)]
    assert weeks == ["2026-W24"]


def test_the_same_lesson_id_in_two_courses_is_two_lessons_for_awards() -> None:
    twins = msgspec.json.decode(
        b'{"courses": [{"id": "a", "modules": [{"id": "m", "lessons": [{"id": "l1"},'
        b' {"id": "l2"}]}]}, {"id": "b", "modules": [{"id": "m", "lessons": [{"id": "l1"},'
        b' {"id": "l2"}]}]}]}'
    )
    from sync.catalog import catalog_from_builtins

    cat = catalog_from_builtins(twins)
    ctx = Context(cat, "premium")
    dev, who = Device("d1"), learner()
    # The first completion of the day is awarded for the new day; the next ones because
    # their lesson became completed: a/l2, then b/l2, which is not a/l2.
    events = [
        complete(dev, "a", "l1", T0),
        complete(dev, "a", "l2", T0 + 1000),
        complete(dev, "b", "l2", T0 + 2000),
    ]
    out = merge(who, "d1", 0, events, ctx, rules=rules_for(cat), make_code=make_code, now=NOW)
    keys = [e.body["key"] for e in out.entries if isinstance(e, ServerEntry) and "key" in e.body]
    for lesson in ("a/l1", "a/l2", "b/l2"):
        assert f"points:lesson-completed:{lesson}" in keys
    assert who.gamify.done == {"a/l2", "b/l2"}


def test_settle_awards_by_the_rules_it_is_given_and_keeps_every_decisions_events() -> None:
    from sync.gamify import PointsRules
    from sync.merge.batch import settle
    from sync.merge.decide import Decision

    dev, who = Device("d1"), learner()
    push(who, [complete(dev, "c1", "l1", T0)])
    who.gamify.ledger.clear()  # as if the completion was not yet awarded
    rules = PointsRules(lesson_completed=77)
    decisions = [
        Decision("competency.acquired", {"competency": "basics", "name": "B", "level": 100}),
        Decision("level.reached", {"level": 9, "points": 1, "at": NOW}),
    ]
    settled = settle(
        who, decisions, CTX, rules=rules, make_code=make_code, now=NOW, hlc="h", courses={"c1"}
    )
    assert [e.type for e in settled.events][:2] == [
        "progress.competency.acquired",
        "gamification.level.reached",
    ]
    points = {
        e.body["key"]: e.body["points"]
        for e in settled.entries
        if isinstance(e, ServerEntry) and e.type == "points.awarded"
    }
    assert points["points:lesson-completed:c1/l1"] == 77
