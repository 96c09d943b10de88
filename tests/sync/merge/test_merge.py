"""The pure merge of a push (``sync.merge.batch``): dedupe, gaps, rejections, fold, decide, award,
and what its Outcome says, without any storage."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.events import Event
from sync.gamify import GamifyState, rules_for
from sync.hlc import format_hlc
from sync.merge.batch import (
    DeviceEntry,
    Learner,
    Outcome,
    ServerEntry,
    decided_courses,
    merge,
    settle,
)
from sync.merge.decide import Context, Decision
from sync.merge.fold import UserState
from sync.protocol.messages import EventRejection
from sync.views import learner_view
from tests.sync.test_gamify import CAT, T0, TZ, Device, complete, make_code, quiz_events

NOW = T0 + 3_600_000
RULES = rules_for(CAT)
CTX = Context(CAT, "premium")


def learner() -> Learner:
    return Learner("u1", UserState(), GamifyState(), TZ, "premium")


def push(who: Learner, events: list[Any], watermark: int = 0, device: str = "d1") -> Outcome:
    return merge(who, device, watermark, events, CTX, rules=RULES, make_code=make_code, now=NOW)


def types(outcome: Outcome) -> list[str]:
    return [e.event.type if isinstance(e, DeviceEntry) else e.type for e in outcome.entries]


def test_accepted_fact_is_entered_then_its_decisions_then_its_awards() -> None:
    dev = Device("d1")
    who = learner()
    out = push(who, [complete(dev, "c1", "l1", T0)])
    assert (out.watermark, out.accepted, out.duplicates, out.rejected, out.gap_at) == (
        1,
        1,
        0,
        [],
        None,
    )
    assert types(out)[0] == "lesson.completed"
    first = out.entries[0]
    assert isinstance(first, DeviceEntry)
    assert first.body_json == '{"course":"c1","lesson":"l1"}'
    assert first.device_id == "d1"
    awarded = [e for e in out.entries if isinstance(e, ServerEntry)]
    assert [e.type for e in awarded].count("points.awarded") >= 1
    assert "achievement.earned" in [e.type for e in awarded]
    # Awards carry the fact's own stamp (its HLC and device time and zone), not the server's.
    assert {(e.hlc, e.at, e.tz) for e in awarded} == {(first.event.hlc, T0, TZ)}
    assert out.scopes == {"course:c1"}
    assert learner_view(who.state, CAT, "premium").courses[0].status == "in_progress"


def test_duplicates_below_the_watermark_are_counted_and_change_nothing() -> None:
    dev = Device("d1")
    events = [complete(dev, "c1", "l1", T0), complete(dev, "c1", "l2", T0 + 1000)]
    who = learner()
    push(who, events)
    again = push(who, events, watermark=2)
    assert (again.accepted, again.duplicates, again.watermark, again.entries) == (0, 2, 2, [])


def test_a_gap_stops_the_batch_at_the_missing_seq() -> None:
    dev = Device("d1")
    events = [complete(dev, "c1", lesson, T0) for lesson in ("l1", "l2", "l3")]
    who = learner()
    out = push(who, [events[0], events[2]])  # seq 2 is missing
    assert (out.watermark, out.accepted, out.gap_at) == (1, 1, 3)
    assert types(out).count("lesson.completed") == 1


def test_a_rejected_event_advances_the_watermark_and_is_recorded_in_the_feed() -> None:
    dev = Device("d1")
    bad = dev.event("lesson.completed", T0, course="c1", lesson="nope")
    good = complete(dev, "c1", "l1", T0)
    out = push(learner(), [bad, good])
    assert out.watermark == 2
    assert out.accepted == 1
    assert [r.seq for r in out.rejected] == [1]
    assert isinstance(out.rejected[0], EventRejection) and out.rejected[0].code
    first = out.entries[0]
    assert isinstance(first, ServerEntry) and first.type == "event.rejected"
    assert first.body == {
        "device_id": "d1",
        "seq": 1,
        "type": "lesson.completed",
        "code": out.rejected[0].code,
        "reason": out.rejected[0].reason,
    }
    assert out.scopes == {"course:c1"}


def test_a_body_json_cannot_hold_is_rejected_not_crashed_on() -> None:
    dev = Device("d1")
    event = dev.event("lesson.completed", T0, course="c1", lesson="l1")
    event = Event(event.seq, event.hlc, event.at, event.type, {**event.body, "x": object()})
    out = push(learner(), [event])
    assert out.accepted == 0
    assert [r.code for r in out.rejected] == ["invalid_body"]


def test_quiz_decisions_are_stamped_like_the_submit_and_path_scopes_are_kept() -> None:
    dev = Device("d1")
    enrol = dev.event("path.enrolled", T0, path="p1")
    out = push(learner(), [enrol, *quiz_events(dev, "a1", True, T0 + 5000)])
    assert "path:p1" in out.scopes and "course:c1" in out.scopes
    scored = [e for e in out.entries if isinstance(e, ServerEntry) and e.type == "quiz.scored"]
    assert len(scored) == 1
    assert scored[0].at == T0 + 5000


def test_a_lesson_completed_again_after_a_reset_is_not_awarded_twice() -> None:
    dev = Device("d1")
    who = learner()
    first = push(who, [complete(dev, "c1", "l1", T0)])
    reset = dev.event("lesson.uncompleted", T0 + 1000, course="c1", lesson="l1")
    again = complete(dev, "c1", "l1", T0 + 2000)
    second = push(who, [reset, again], watermark=first.watermark)
    keys = [
        e.body["key"]
        for e in first.entries + second.entries
        if isinstance(e, ServerEntry) and e.type == "points.awarded"
    ]
    assert len(keys) == len(set(keys))
    assert "points:lesson-completed:c1/l1" in keys


def test_settle_stamps_decisions_now_and_adds_the_awards_they_earn() -> None:
    who = learner()
    settled = settle(
        who,
        [Decision("grade.recorded", {"x": 1})],
        CTX,
        rules=RULES,
        make_code=make_code,
        now=NOW,
        hlc="h",
        courses=None,
    )
    assert settled.entries == [ServerEntry("grade.recorded", {"x": 1}, "h", NOW, "")]
    assert settled.events == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=12), st.integers(1, 4))
def test_any_split_of_a_batch_gives_the_same_feed_and_state(lessons: list[int], cut: int) -> None:
    """Pushing a device's events in one batch or in two, with the second resent whole,
    appends the same entries and leaves the same state."""
    dev = Device("d1")
    events = [
        complete(dev, "c1", ("l1", "l2", "l3")[i], T0 + n * 60_000)
        if n % 3
        else dev.event("lesson.uncompleted", T0 + n * 60_000, course="c1", lesson="l1")
        for n, i in enumerate(lessons)
    ]
    whole = learner()
    one = push(whole, events)
    split = learner()
    cut = min(cut, len(events))
    part1 = push(split, events[:cut])
    part2 = push(split, events, watermark=part1.watermark)
    assert part1.entries + part2.entries == one.entries
    assert part2.duplicates == cut
    assert split.state == whole.state
    assert split.gamify == whole.gamify


# -- settle: what a review or a grade that decided nothing (or something) still records ----


def _completed(who: Learner, *lessons: tuple[str, str]) -> None:
    """Fold explicit completions into ``who`` without merging them: progress that no award
    has looked at yet (as after a catalog change that gives points for it)."""
    from sync.events import LessonCompleted
    from sync.merge.fold import apply_body

    for n, (course, lesson) in enumerate(lessons, 1):
        apply_body(who.state, (f"h{n}", "d1", n), T0 + n * 1000, LessonCompleted(course, lesson))


def test_settle_without_decisions_records_only_the_awards_and_looks_at_no_progress() -> None:
    who = learner()
    _completed(who, ("c1", "l1"), ("c2", "k1"))
    settled = settle(who, [], CTX, rules=RULES, make_code=make_code, now=NOW, hlc="h", courses=None)
    assert all(isinstance(e, ServerEntry) for e in settled.entries)
    assert {(e.hlc, e.at, e.tz) for e in settled.entries if isinstance(e, ServerEntry)} == {
        ("h", NOW, "")
    }
    keys = [
        e.body["key"]
        for e in settled.entries
        if isinstance(e, ServerEntry) and e.type == "points.awarded"
    ]
    assert "points:lesson-completed:c1/l1" in keys and "points:course-completed:c2" in keys
    # No decision, so no look at progress (nothing changed it): only the awards' events,
    # each pointing at its own entry.
    assert who.seen == {}
    assert [e.type for e in settled.events] == [
        "gamification.certificate.issued",
        "gamification.achievement.earned",
        "gamification.level.reached",
    ]
    for event in settled.events:
        entry = settled.entries[event.entry]
        assert isinstance(entry, ServerEntry)
        assert event.type == f"gamification.{entry.type}" and event.body == entry.body
        assert event.at == NOW


def test_settle_with_decisions_looks_at_the_courses_they_are_about_only() -> None:
    who = learner()
    _completed(who, ("c1", "l1"), ("c2", "k1"))
    decision = Decision("competency.acquired", {"competency": "basics", "name": "B", "level": 100})
    settled = settle(
        who, [decision], CTX, rules=RULES, make_code=make_code, now=NOW, hlc="h", courses={"c2"}
    )
    first = settled.entries[0]
    assert first == ServerEntry("competency.acquired", decision.body, "h", NOW, "")
    progress = [e for e in settled.events if e.type.startswith("progress.")]
    assert [e.type for e in progress] == [
        "progress.competency.acquired",
        "progress.lesson.completed",
        "progress.module.completed",
        "progress.updated",
        "progress.course.completed",
    ]
    # All follow from the decision (entry 0), and say nothing of c1, which it is not about.
    assert {e.entry for e in progress} == {0}
    assert all(e.body.get("course", "c2") == "c2" for e in progress)
    assert who.seen == {"lesson:c2/k1": 100, "module:c2/n1": 100, "course:c2": 100}
    keys = [
        e.body["key"]
        for e in settled.entries
        if isinstance(e, ServerEntry) and e.type == "points.awarded"
    ]
    assert "points:lesson-completed:c1/l1" not in keys
    assert "points:course-completed:c2" in keys


def test_a_fact_stamped_below_the_settled_horizon_is_merged_at_it() -> None:
    """The horizon the store gives (or the one the state was summed to, if higher) clamps a
    late fact's stamp; the entry keeps the device's own HLC beside it."""
    dev = Device("d1")
    late = complete(dev, "c1", "l1", T0)
    who = learner()
    who.horizon = "9000000000000-0000"
    out = push(who, [late])
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry)
    assert (entry.event.hlc, entry.sent_hlc) == ("9000000000000-0000", late.hlc)
    assert who.state.lessons["c1/l1"].completed == ("9000000000000-0000", "d1", 1)
    # The state remembers the horizon it was summed to: a lower one given later is no
    # lower bound.
    again = complete(dev, "c1", "l2", T0 + 1000)
    who.horizon = late.hlc
    entry = push(who, [again], watermark=1).entries[0]
    assert isinstance(entry, DeviceEntry) and entry.event.hlc == "9000000000000-0000"
    on_time = complete(Device("d2"), "c1", "l2", T0 + 1000)
    other = learner()
    other.horizon = on_time.hlc
    out = push(other, [on_time])
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry)
    assert (entry.event.hlc, entry.sent_hlc) == (on_time.hlc, None)


def test_the_outcome_says_which_projection_rows_changed() -> None:
    """A lesson's first fact rewrites its course's rows and the learner-wide ones; a
    heartbeat after it, only its lesson's row; a decision, its course's."""
    dev = Device("d1")
    who = learner()
    first = dev.event("lesson.progressed", T0, course="c1", lesson="l1", seconds=5)
    out = push(who, [first])
    assert {"lesson_progress", "course_progress", "module_progress"} <= set(out.rows)
    again = dev.event("lesson.progressed", T0 + 1000, course="c1", lesson="l1", seconds=5)
    out = push(who, [again], watermark=1)
    assert set(out.rows) == {"lesson_progress"} and len(out.rows["lesson_progress"]) == 1
    assert out.rows["lesson_progress"][0][:3] == ("u1", "c1", "l1")
    assert out.zero_competencies == []
    reset = Decision("milestone.reset", {"path": "p1", "milestone": "s1", "scope": "c2/m1"})
    graded = Decision("assignment.graded", {"course": "c1", "assignment": "a1"})
    assert decided_courses([reset, graded, Decision("x", {})]) == {"c1", "c2"}
    # Settling nothing writes nothing.
    nothing = settle(
        learner(), [], CTX, rules=RULES, make_code=make_code, now=NOW, hlc="h", courses=None
    )
    assert (nothing.entries, nothing.rows) == ([], {})


# -- time the server can trust (docs/protocol.md, "Time") --------------------------------

Y2030 = 1_893_456_000_000  # 2030-01-01T00:00:00Z


def streak_days(outcome: Outcome) -> list[str]:
    return [
        e.body["ref"]
        for e in outcome.entries
        if isinstance(e, ServerEntry) and e.body.get("rule") == "streak-day"
    ]


def test_an_event_dated_beyond_the_skew_is_kept_at_its_receipt_with_a_note() -> None:
    """A device clock years ahead loses no work: the fact is accepted and taken at the
    server's receipt, the device's time kept beside it, and a note says so."""
    dev = Device("d1")
    who = learner()
    sent = complete(dev, "c1", "l1", Y2030)
    out = push(who, [sent])
    assert (out.accepted, out.rejected) == (1, [])
    entry, note = out.entries[0], out.entries[1]
    assert isinstance(entry, DeviceEntry)
    assert (entry.event.at, entry.sent_at, entry.event.hlc, entry.sent_hlc) == (
        NOW,
        Y2030,
        sent.hlc,
        None,
    )
    assert isinstance(note, ServerEntry)
    assert (note.type, note.at, note.hlc) == ("event.clamped", NOW, sent.hlc)
    assert note.body == {
        "device_id": "d1",
        "seq": 1,
        "type": "lesson.completed",
        "sent_at": Y2030,
        "reason": "at is 2030-01-01T00:00:00Z, 3.6 years after the server's clock; allowed"
        " skew 300 s: taken as received at 2026-06-01T09:00:00Z",
    }
    # Credited today, this week: the streak and the leaderboard never move past the server.
    assert streak_days(out) == ["2026-06-01"]
    assert who.gamify.days == {"2026-06-01": NOW}
    weeks = {
        e.body["week"] for e in out.entries if isinstance(e, ServerEntry) and e.body.get("week")
    }
    assert weeks == {"2026-W23"}
    assert who.state.lessons["c1/l1"].completed_at == NOW
    # The note is not a fact (the fold ignores it); the awards follow as usual.
    assert "points.awarded" in types(out)[2:]


def test_an_event_within_the_skew_is_kept_as_sent_but_credited_no_later_than_receipt() -> None:
    """A clock four minutes fast past midnight: the fact keeps its time, but the streak
    day is the server's (the day it was received)."""
    now = NOW + 12 * 3_600_000 + 58 * 60_000  # 23:58 in Paris
    at = now + 240_000  # 00:02 the next day on the device
    who = learner()
    event = complete(Device("d1"), "c1", "l1", at)
    out = merge(who, "d1", 0, [event], CTX, rules=RULES, make_code=make_code, now=now)
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry) and (entry.event.at, entry.sent_at) == (at, None)
    assert "event.clamped" not in types(out)
    assert streak_days(out) == ["2026-06-01"]
    assert who.state.lessons["c1/l1"].completed_at == at
    points = [e.body for e in out.entries if isinstance(e, ServerEntry) and "week" in e.body]
    assert {p["at"] for p in points} == {now}  # earned no later than the server's clock


def test_a_late_event_with_a_clock_ahead_is_merged_at_the_horizon_and_at_receipt() -> None:
    dev = Device("d1")
    who = learner()
    who.horizon = format_hlc(Y2030 + 1, 0)
    sent = complete(dev, "c1", "l1", Y2030)
    entry = push(who, [sent]).entries[0]
    assert isinstance(entry, DeviceEntry)
    assert (entry.event.hlc, entry.sent_hlc) == (who.horizon, sent.hlc)
    assert (entry.event.at, entry.sent_at) == (NOW, Y2030)


def test_a_rejection_of_an_event_dated_ahead_is_stamped_at_the_servers_time() -> None:
    dev = Device("d1")
    out = push(learner(), [complete(dev, "c1", "nope", Y2030)])
    (note,) = out.entries
    assert isinstance(note, ServerEntry) and (note.type, note.at) == ("event.rejected", NOW)


def test_the_allowed_skew_is_the_merges_to_set() -> None:
    dev = Device("d1")
    ahead = complete(dev, "c1", "l1", NOW + 60_000)
    out = merge(
        learner(), "d1", 0, [ahead], CTX, rules=RULES, make_code=make_code, now=NOW, skew_ms=0
    )
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry) and (entry.event.at, entry.sent_at) == (NOW, ahead.at)
    assert types(out)[1] == "event.clamped"
