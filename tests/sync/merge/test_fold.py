"""sync.merge.fold: the merge rules, the progress view, and the laws of the fold."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.catalog import Catalog, Course, Lesson, Module
from sync.hlc import format_hlc
from sync.merge.fold import (
    Fact,
    UserState,
    apply_fact,
    covered,
    fold,
    lesson_key,
    union,
)
from sync.views import LessonView, progress_view

T = 1_763_790_000_000

CATALOG = Catalog(
    [
        Course(
            "c",
            "Course",
            [
                Module(
                    "m1",
                    "First",
                    [
                        Lesson("manual", "Manual"),
                        Lesson("viewed", completion="viewed"),
                        Lesson("video", kind="video", duration=100, completion="watched:90"),
                        Lesson("timed", kind="activity", completion="time:120"),
                    ],
                ),
                Module(
                    "m2",
                    "Second",
                    [
                        Lesson("quiz"),
                        Lesson("clip", kind="video", duration=30, completion="watched:100"),
                        Lesson("reading", completion="viewed"),
                    ],
                ),
            ],
        ),
        Course(
            "solo",
            modules=[Module("only", lessons=[Lesson("one")]), Module("coming-soon")],
        ),
        Course("empty"),
    ]
)


def fact(
    device: str,
    seq: int,
    tick: int,
    type_: str,
    lesson: str,
    *,
    course: str = "c",
    counter: int = 0,
    at: int | None = None,
    **body: Any,
) -> Fact:
    """A fact stamped ``tick`` milliseconds after T (HLC and, unless given, wall time)."""
    return Fact(
        device,
        seq,
        format_hlc(T + tick, counter),
        T + tick if at is None else at,
        f"lesson.{type_}",
        {"course": course, "lesson": lesson, **body},
    )


def segment(start: int, end: int) -> dict[str, Any]:
    return {"from": start, "to": end}


def views(state: UserState) -> dict[str, LessonView]:
    return {
        lesson_key(c.id, x.id): x
        for c in progress_view(state, CATALOG)
        for m in c.modules
        for x in m.lessons
    }


def view(facts: Sequence[Fact], lesson: str, course: str = "c") -> LessonView:
    return views(fold(facts))[lesson_key(course, lesson)]


def fold_every_way(facts: Sequence[Fact]) -> UserState:
    """Fold ``facts`` in every order, with fold() and fact by fact; all must agree."""
    expected = fold(facts)
    for order in itertools.permutations(facts):
        assert fold(order) == expected
        state = UserState()
        for each in order:
            assert apply_fact(state, each)
        assert state == expected
    return expected


def view_every_way(facts: Sequence[Fact], lesson: str, course: str = "c") -> LessonView:
    return views(fold_every_way(facts))[lesson_key(course, lesson)]


# -- time spent ---------------------------------------------------------------------------


def test_time_from_two_offline_devices_adds_up() -> None:
    device_a = [
        fact("a", 1, 10, "progressed", "manual", seconds=100),
        fact("a", 2, 20, "completed", "manual"),
    ]
    device_b = [fact("b", 1, 15, "progressed", "manual", seconds=50)]
    for facts in (device_a + device_b, device_b + device_a):
        got = view_every_way(facts, "manual")
        assert (got.status, got.seconds) == ("completed", 150)


def test_time_is_counted_once_per_event_however_often_it_arrives() -> None:
    once = fact("a", 1, 10, "progressed", "manual", seconds=100)
    assert view([once, once, once], "manual").seconds == 100
    # Same body, different event: it counts.
    again = fact("a", 2, 11, "progressed", "manual", seconds=100)
    assert view([once, again, once], "manual").seconds == 200


# -- completed vs. uncompleted ------------------------------------------------------------


def test_uncomplete_later_by_hlc_wins_on_every_order() -> None:
    facts = [
        fact("a", 1, 10, "completed", "manual"),
        fact("b", 1, 20, "uncompleted", "manual"),
    ]
    assert view_every_way(facts, "manual").status == "in_progress"


def test_uncomplete_earlier_by_hlc_loses() -> None:
    # B's reset arrives last but was stamped first: the completion stands.
    facts = [
        fact("a", 1, 20, "completed", "manual"),
        fact("b", 1, 10, "uncompleted", "manual"),
    ]
    assert view_every_way(facts, "manual").status == "completed"


def test_hlc_counter_orders_facts_within_one_millisecond() -> None:
    facts = [
        fact("a", 1, 10, "completed", "manual", counter=2),
        fact("b", 1, 10, "uncompleted", "manual", counter=1),
    ]
    assert view_every_way(facts, "manual").status == "completed"


@pytest.mark.parametrize(
    ("completer", "resetter", "status"),
    [
        (("a", 1), ("b", 1), "in_progress"),  # equal HLC: device "b" > "a", reset wins
        (("b", 1), ("a", 1), "completed"),
        (("a", 1), ("a", 2), "in_progress"),  # same device: higher seq wins
        (("a", 2), ("a", 1), "completed"),
    ],
)
def test_equal_hlcs_are_ordered_by_device_then_seq(
    completer: tuple[str, int], resetter: tuple[str, int], status: str
) -> None:
    facts = [
        fact(*completer, 10, "completed", "manual"),
        fact(*resetter, 10, "uncompleted", "manual"),
    ]
    assert view_every_way(facts, "manual").status == status


def test_complete_after_uncomplete_completes_again() -> None:
    facts = [
        fact("a", 1, 10, "completed", "manual"),
        fact("b", 1, 20, "uncompleted", "manual"),
        fact("a", 2, 30, "completed", "manual"),
    ]
    assert view_every_way(facts, "manual").status == "completed"


def test_manual_lesson_is_not_completed_by_activity_alone() -> None:
    facts = [
        fact("a", 1, 10, "opened", "manual"),
        fact("a", 2, 20, "progressed", "manual", seconds=86400, position=3),
    ]
    assert view_every_way(facts, "manual").status == "in_progress"


# -- viewed -------------------------------------------------------------------------------


def test_viewed_lesson_completes_when_opened() -> None:
    assert view([fact("a", 1, 10, "opened", "viewed")], "viewed").status == "completed"


def test_viewed_lesson_is_not_completed_by_progress_without_opening() -> None:
    got = view([fact("a", 1, 10, "progressed", "viewed", seconds=30)], "viewed")
    assert got.status == "in_progress"


def test_opening_before_an_uncomplete_no_longer_counts_but_opening_after_does() -> None:
    before = [fact("a", 1, 10, "opened", "viewed"), fact("b", 1, 20, "uncompleted", "viewed")]
    assert view_every_way(before, "viewed").status == "in_progress"
    after = [*before, fact("a", 2, 30, "opened", "viewed")]
    assert view_every_way(after, "viewed").status == "completed"


# -- watched:P ----------------------------------------------------------------------------


def test_watched_segments_from_several_devices_are_united() -> None:
    facts = [
        fact("a", 1, 10, "progressed", "video", **segment(0, 50)),
        fact("b", 1, 11, "progressed", "video", **segment(40, 70)),
        fact("c", 1, 12, "progressed", "video", **segment(70, 95)),
    ]
    got = view_every_way(facts, "video")
    assert (got.status, got.watched_percent) == ("completed", 95.0)


def test_overlapping_segments_are_not_double_counted() -> None:
    facts = [
        fact("a", 1, 10, "progressed", "video", **segment(0, 60)),
        fact("b", 1, 11, "progressed", "video", **segment(0, 60)),
        fact("c", 1, 12, "progressed", "video", **segment(10, 50)),
        fact("c", 2, 13, "progressed", "video", **segment(30, 60)),
    ]
    got = view_every_way(facts, "video")
    assert (got.status, got.watched_percent) == ("in_progress", 60.0)
    assert fold(facts).lessons["c/video"].segments == [(0, 60)]


@pytest.mark.parametrize(("end", "status"), [(89, "in_progress"), (90, "completed")])
def test_watched_threshold_is_inclusive(end: int, status: str) -> None:
    assert view([fact("a", 1, 10, "progressed", "video", **segment(0, end))], "video").status == (
        status
    )


def test_watched_percent_is_rounded_to_one_decimal_and_capped() -> None:
    third = [fact("a", 1, 10, "progressed", "clip", **segment(0, 10))]
    assert view(third, "clip").watched_percent == 33.3
    # The fold trusts the catalog check upstream; a segment past the end still shows 100 %.
    beyond = [fact("a", 1, 10, "progressed", "clip", **segment(0, 45))]
    assert view(beyond, "clip").watched_percent == 100.0


def test_watching_before_an_uncomplete_no_longer_counts_but_watching_after_does() -> None:
    facts = [
        fact("a", 1, 10, "progressed", "video", **segment(0, 100)),
        fact("b", 1, 20, "uncompleted", "video"),
    ]
    got = view_every_way(facts, "video")
    # Reset: not completed, but what was watched is still shown as watched.
    assert (got.status, got.watched_percent) == ("in_progress", 100.0)
    facts += [fact("a", 2, 30, "progressed", "video", **segment(0, 50))]
    assert view_every_way(facts, "video").status == "in_progress"
    facts += [fact("c", 1, 40, "progressed", "video", **segment(45, 90))]
    assert view_every_way(facts, "video").status == "completed"


# -- time:N -------------------------------------------------------------------------------


@pytest.mark.parametrize(("b_seconds", "status"), [(49, "in_progress"), (50, "completed")])
def test_time_lesson_completes_when_seconds_across_devices_reach_the_threshold(
    b_seconds: int, status: str
) -> None:
    facts = [
        fact("a", 1, 10, "progressed", "timed", seconds=70),
        fact("b", 1, 11, "progressed", "timed", seconds=b_seconds),
    ]
    assert view_every_way(facts, "timed").status == status


def test_time_before_an_uncomplete_no_longer_counts_but_time_after_does() -> None:
    facts = [
        fact("a", 1, 10, "progressed", "timed", seconds=120),
        fact("b", 1, 20, "uncompleted", "timed"),
        fact("a", 2, 30, "progressed", "timed", seconds=60),
    ]
    got = view_every_way(facts, "timed")
    # All time is still reported; only time after the reset counts toward completion.
    assert (got.status, got.seconds) == ("in_progress", 180)
    state = fold(facts)
    assert [e.seconds for e in state.lessons["c/timed"].evidence] == [60]
    facts += [fact("c", 1, 40, "progressed", "timed", seconds=60)]
    assert view_every_way(facts, "timed").status == "completed"


def test_only_the_latest_uncomplete_resets_the_evidence() -> None:
    facts = [
        fact("a", 1, 10, "uncompleted", "timed"),
        fact("a", 2, 20, "progressed", "timed", seconds=60),
        fact("b", 1, 30, "uncompleted", "timed"),
        fact("b", 2, 40, "progressed", "timed", seconds=60),
        fact("c", 1, 50, "progressed", "timed", seconds=59),
    ]
    assert view_every_way(facts, "timed").status == "in_progress"


def test_progress_that_carries_nothing_is_not_evidence() -> None:
    facts = [fact("a", 1, 10, "progressed", "timed", position=5)]
    assert fold(facts).lessons["c/timed"].evidence == []


def test_a_half_segment_from_an_unchecked_local_event_does_not_break_the_fold() -> None:
    # A device folds its own events before the server has checked them.
    from_only: dict[str, Any] = {"seconds": 5, "from": 10}
    facts = [
        fact("a", 1, 10, "progressed", "video", **from_only),
        fact("a", 2, 11, "progressed", "video", seconds=5, to=20),
    ]
    state = fold_every_way(facts)
    lesson = state.lessons["c/video"]
    assert (lesson.seconds, lesson.segments) == (10, [])
    assert [(e.start, e.end) for e in lesson.evidence] == [(0, 0), (0, 0)]


# -- position -----------------------------------------------------------------------------


def test_position_last_writer_by_hlc_wins() -> None:
    facts = [
        fact("a", 1, 20, "progressed", "video", position=30),
        fact("b", 1, 10, "progressed", "video", position=80),
    ]
    assert view_every_way(facts, "video").position == 30


@pytest.mark.parametrize(
    ("first", "second", "position"),
    [
        (("a", 1), ("b", 1), 2),  # equal HLC: device "b" > "a"
        (("b", 1), ("a", 1), 1),
        (("a", 1), ("a", 2), 2),  # same device: higher seq
        (("a", 2), ("a", 1), 1),
    ],
)
def test_position_ties_on_hlc_are_broken_by_device_then_seq(
    first: tuple[str, int], second: tuple[str, int], position: int
) -> None:
    facts = [
        fact(*first, 10, "progressed", "video", position=1),
        fact(*second, 10, "progressed", "video", position=2),
    ]
    assert view_every_way(facts, "video").position == position


def test_progress_without_a_position_keeps_the_position() -> None:
    facts = [
        fact("a", 1, 10, "progressed", "video", position=42),
        fact("a", 2, 20, "progressed", "video", seconds=5),
    ]
    assert view_every_way(facts, "video").position == 42


# -- the lesson view ----------------------------------------------------------------------


def test_an_untouched_lesson_is_not_started() -> None:
    got = view([], "video")
    assert got == LessonView("video", "", "not_started", 0, None, 0.0, "watched:90", None, None)


def test_lesson_view_reports_first_and_last_activity_by_wall_time() -> None:
    # Wall times deliberately disagree with HLC order: reports use `at`, never order by it.
    facts = [
        fact("a", 1, 10, "opened", "manual", at=T + 5_000),
        fact("b", 1, 20, "progressed", "manual", seconds=30, at=T - 7_000),
        fact("c", 1, 30, "progressed", "manual", seconds=30, at=T + 1_000),
    ]
    got = view_every_way(facts, "manual")
    assert (got.started_at, got.last_activity_at) == (T - 7_000, T + 5_000)
    assert (got.title, got.completion, got.seconds) == ("Manual", "manual", 60)
    assert fold(facts).last_at == T + 5_000


def test_facts_about_lessons_not_in_the_catalog_are_kept_but_not_shown() -> None:
    facts = [fact("a", 1, 10, "completed", "gone"), fact("a", 2, 11, "completed", "x", course="z")]
    state = fold(facts)
    assert set(state.lessons) == {"c/gone", "z/x"}
    assert all(x.status == "not_started" for x in views(state).values())


def test_unknown_types_and_bad_bodies_are_not_folded() -> None:
    state = UserState()
    unknown = Fact("a", 1, format_hlc(T, 0), T, "quiz.submitted", {"quiz": "q"})
    bad = Fact("a", 2, format_hlc(T, 1), T, "lesson.progressed", {"course": "c"})
    assert apply_fact(state, unknown) is False
    assert apply_fact(state, bad) is False
    assert state == UserState()
    assert fold([unknown, bad]) == UserState()
    assert apply_fact(state, fact("a", 3, 1, "opened", "viewed")) is True


# -- module and course rollups ------------------------------------------------------------


def rollups(facts: Sequence[Fact]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for course in progress_view(fold(facts), CATALOG):
        out[course.id] = (course.status, course.percent)
        for module in course.modules:
            out[f"{course.id}/{module.id}"] = (module.status, module.percent)
    return out


COMPLETE_M1 = [
    fact("a", 1, 10, "completed", "manual"),
    fact("a", 2, 11, "opened", "viewed"),
    fact("a", 3, 12, "progressed", "video", **segment(0, 90)),
    fact("a", 4, 13, "progressed", "timed", seconds=120),
]
COMPLETE_M2 = [
    fact("b", 1, 14, "completed", "quiz"),
    fact("b", 2, 15, "progressed", "clip", **segment(0, 30)),
    fact("b", 3, 16, "opened", "reading"),
]


def test_nothing_done_is_not_started_everywhere() -> None:
    assert set(rollups([]).values()) == {("not_started", 0)}


def test_module_and_course_roll_up_their_lessons() -> None:
    got = rollups([fact("a", 1, 10, "opened", "manual")])
    assert got["c"] == ("in_progress", 0)
    assert got["c/m1"] == ("in_progress", 0)
    assert got["c/m2"] == ("not_started", 0)

    got = rollups(COMPLETE_M1[:1])
    assert got["c/m1"] == ("in_progress", 25)  # 1 of 4
    assert got["c"] == ("in_progress", 14)  # 1 of 7, rounded down

    got = rollups(COMPLETE_M1)
    assert got["c/m1"] == ("completed", 100)
    assert got["c/m2"] == ("not_started", 0)
    assert got["c"] == ("in_progress", 57)  # 4 of 7

    got = rollups(COMPLETE_M1 + COMPLETE_M2[:1])
    assert got["c/m2"] == ("in_progress", 33)  # 1 of 3

    got = rollups(COMPLETE_M1 + COMPLETE_M2)
    assert got["c"] == got["c/m1"] == got["c/m2"] == ("completed", 100)
    assert got["solo"] == ("not_started", 0)


def test_an_uncomplete_takes_a_completed_course_back_to_in_progress() -> None:
    facts = [*COMPLETE_M1, *COMPLETE_M2, fact("c", 1, 99, "uncompleted", "quiz")]
    got = rollups(facts)
    assert got["c/m2"] == ("in_progress", 66)
    assert got["c"] == ("in_progress", 85)


def test_a_course_with_an_empty_module_completes_when_every_lesson_does() -> None:
    got = rollups([fact("a", 1, 10, "completed", "one", course="solo")])
    assert got["solo"] == ("completed", 100)
    assert got["solo/only"] == ("completed", 100)
    assert got["solo/coming-soon"] == ("not_started", 0)


def test_a_course_without_lessons_is_not_started() -> None:
    assert rollups(COMPLETE_M1 + COMPLETE_M2)["empty"] == ("not_started", 0)


def test_progress_view_lists_every_course_in_catalog_order_with_last_activity() -> None:
    facts = [fact("a", 1, 10, "opened", "manual", at=T + 1), fact("a", 2, 11, "opened", "quiz")]
    courses = progress_view(fold(facts), CATALOG)
    assert [c.id for c in courses] == ["c", "solo", "empty"]
    assert [m.id for m in courses[0].modules] == ["m1", "m2"]
    assert [x.id for x in courses[0].modules[1].lessons] == ["quiz", "clip", "reading"]
    assert (courses[0].title, courses[0].modules[0].title) == ("Course", "First")
    assert courses[0].last_activity_at == T + 11
    assert courses[1].last_activity_at is None


# -- intervals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], []),
        ([(0, 10)], [(5, 20)], [(0, 20)]),
        ([(0, 10)], [(10, 20)], [(0, 20)]),  # adjacent ones are joined
        ([(30, 40)], [(0, 10)], [(0, 10), (30, 40)]),
        ([(0, 100)], [(10, 20)], [(0, 100)]),
        ([(5, 5), (7, 3)], [], []),  # empty and reversed ones are dropped
        ([(0, 5), (20, 30)], [(4, 21)], [(0, 30)]),
    ],
)
def test_union_normalises_intervals(
    a: list[tuple[int, int]], b: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    assert union(a, b) == expected
    assert union(b, a) == expected


intervals = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8)


@given(a=intervals, b=intervals)
def test_covered_union_counts_each_second_once(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    merged = union(a, b)
    seconds = {s for start, end in [*a, *b] for s in range(start, end)}
    assert covered(merged) == len(seconds)
    assert union(merged, []) == merged == union(b, a)
    assert all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(merged))


# -- the laws -----------------------------------------------------------------------------

DEVICES = ("a", "b", "c")
LESSONS = [
    ("c", "manual"),
    ("c", "viewed"),
    ("c", "video"),
    ("c", "timed"),
    ("c", "clip"),
    ("solo", "one"),
    ("c", "not-in-catalog"),
]
TYPES = [
    "lesson.opened",
    "lesson.completed",
    "lesson.uncompleted",
    "lesson.progressed",
    "lesson.progressed",
    "quiz.submitted",  # unknown to the fold: kept out of the state
]

segments = (
    st.tuples(st.integers(0, 99), st.integers(1, 100))
    .filter(lambda s: s[0] < s[1])
    .map(lambda s: {"from": s[0], "to": s[1]})
)
progress_bodies = st.tuples(
    st.fixed_dictionaries(
        {}, optional={"seconds": st.integers(0, 150), "position": st.integers(0, 100)}
    ),
    st.one_of(st.just({}), segments),
).map(lambda parts: {**parts[0], **parts[1]})


@st.composite
def fact_sets(draw: st.DrawFn) -> list[Fact]:
    """Facts from three devices, each with gap-free seqs and random (often equal) HLCs."""
    facts = []
    for device in DEVICES:
        for seq in range(1, draw(st.integers(0, 7)) + 1):
            course, lesson = draw(st.sampled_from(LESSONS))
            type_ = draw(st.sampled_from(TYPES))
            body: dict[str, Any] = {"course": course, "lesson": lesson}
            if type_ == "lesson.progressed":
                body |= draw(progress_bodies)
            hlc = format_hlc(T + draw(st.integers(0, 20)), draw(st.integers(0, 2)))
            at = T + draw(st.integers(-86_400_000, 86_400_000))
            facts.append(Fact(device, seq, hlc, at, type_, body))
    return facts


laws = settings(deadline=None, max_examples=200)


@laws
@given(data=st.data(), facts=fact_sets())
def test_fold_is_order_independent(data: st.DataObject, facts: list[Fact]) -> None:
    shuffled = data.draw(st.permutations(facts))
    assert fold(shuffled) == fold(facts)
    assert progress_view(fold(shuffled), CATALOG) == progress_view(fold(facts), CATALOG)


@laws
@given(data=st.data(), facts=fact_sets())
def test_fold_is_idempotent(data: st.DataObject, facts: list[Fact]) -> None:
    again = data.draw(st.lists(st.sampled_from(facts), max_size=20)) if facts else []
    replayed = data.draw(st.permutations(facts + again))
    assert fold(replayed) == fold(facts)
    assert progress_view(fold(replayed), CATALOG) == progress_view(fold(facts), CATALOG)


@laws
@given(data=st.data(), facts=fact_sets())
def test_applying_facts_one_by_one_in_any_order_equals_fold(
    data: st.DataObject, facts: list[Fact]
) -> None:
    state = UserState()
    for each in data.draw(st.permutations(facts)):
        apply_fact(state, each)
    assert state == fold(facts)
    assert progress_view(state, CATALOG) == progress_view(fold(facts), CATALOG)


@laws
@given(data=st.data(), facts=fact_sets())
def test_replicas_that_saw_different_parts_converge_on_the_union(
    data: st.DataObject, facts: list[Fact]
) -> None:
    # Two devices each hold part of the facts (overlapping); after exchanging, both fold
    # their own part plus what they were sent, in whatever order it came.
    left = data.draw(st.lists(st.sampled_from(facts), max_size=len(facts))) if facts else []
    right = data.draw(st.lists(st.sampled_from(facts), max_size=len(facts))) if facts else []
    rest = [f for f in facts if f not in left and f not in right]
    state_left, state_right = UserState(), UserState()
    seen_left: set[tuple[str, int]] = set()
    seen_right: set[tuple[str, int]] = set()
    for state, seen, order in (
        (state_left, seen_left, left + right + rest),
        (state_right, seen_right, right + rest + left),
    ):
        for each in order:
            if (each.device_id, each.seq) not in seen:  # what a store's dedupe does
                seen.add((each.device_id, each.seq))
                apply_fact(state, each)
    assert state_left == state_right == fold(facts)


@laws
@given(facts=fact_sets())
def test_time_spent_is_the_sum_over_distinct_events(facts: list[Fact]) -> None:
    shown = views(fold(facts + facts))
    for course, lesson in LESSONS[:-1]:
        expected = sum(
            f.body.get("seconds", 0)
            for f in facts
            if f.type == "lesson.progressed" and f.body["lesson"] == lesson
        )
        assert shown[lesson_key(course, lesson)].seconds == expected


@laws
@given(facts=fact_sets())
def test_a_completion_is_never_silently_lost(facts: list[Fact]) -> None:
    # For a manual lesson: completed exactly when the last complete/uncomplete by
    # (hlc, device_id, seq) is a completion, whatever else happened.
    decisions = sorted(
        (f.hlc, f.device_id, f.seq, f.type)
        for f in facts
        if f.body["lesson"] == "manual" and f.type in ("lesson.completed", "lesson.uncompleted")
    )
    completed = bool(decisions) and decisions[-1][3] == "lesson.completed"
    assert (views(fold(facts))["c/manual"].status == "completed") == completed
