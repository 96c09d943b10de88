"""The progress tables' rows (``sync.merge.projections``): what each row says, from the views."""

from __future__ import annotations

from sync.hlc import format_hlc
from sync.merge.fold import Fact, UserState, apply_decision, fold
from sync.merge.projections import (
    KEYS,
    TABLES,
    all_rows,
    course_rows,
    empty,
    key_of,
    learner_rows,
    lesson_row,
)
from sync.views import learner_view
from tests.sync.merge.test_reference_merge import CATALOGS
from tests.sync.test_gamify import T0

CAT = CATALOGS[0]


def fact(seq: int, type_: str, **body: object) -> Fact:
    return Fact("d0", seq, format_hlc(T0 + seq * 1000, 0), T0 + seq * 1000, type_, dict(body))


def learner() -> UserState:
    state = fold(
        [
            fact(1, "lesson.completed", course="c1", lesson="l1"),
            fact(
                2,
                "lesson.progressed",
                course="c1",
                lesson="v1",
                seconds=30,
                **{"from": 0, "to": 90},
            ),
            fact(3, "quiz.submitted", course="c1", quiz="q1", attempt="a1"),
        ]
    )
    apply_decision(
        state, "enrollment.changed", {"path": "p1", "from": "none", "to": "enrolled"}, T0
    )
    apply_decision(state, "competency.acquired", {"competency": "basics"}, T0 + 9000)
    return state


def test_every_row_matches_its_table_and_the_views() -> None:
    state = learner()
    rows = all_rows(state, CAT, "free", "u1")
    assert set(rows) == set(TABLES)
    for table, items in rows.items():
        assert all(len(r) == len(TABLES[table]) for r in items), table
        assert len({key_of(table, r) for r in items}) == len(items)  # keys are unique
        assert all(r[0] == "u1" for r in items)
    view = learner_view(state, CAT, "free")
    c1 = view.courses[0]
    (course,) = [r for r in rows["course_progress"] if r[1] == "c1"]
    assert course == (
        "u1",
        "c1",
        c1.status,
        float(c1.percent),
        2,
        0,
        4,
        2,
        1,
        0,
        0,
        0,
        c1.started_at,
        None,
    )
    assert [r[1] for r in rows["course_progress"]] == ["c1"]  # c2 is not started
    lessons = {r[2]: r for r in rows["lesson_progress"]}
    assert set(lessons) == {"l1", "v1"}
    assert lessons["l1"][3:5] == ("m1", "completed")
    assert lessons["v1"][3:9] == ("m2", "completed", 90.0, 30, None, "watched:80")
    assert lessons["v1"][9:] == (T0 + 2000, T0 + 2000, T0 + 2000)
    modules = {r[2]: r for r in rows["module_progress"]}
    assert modules["m1"][3:11] == ("in_progress", 33.0, 2, 1, 1, 0, 0, 0)  # 1 of 3 items
    (attempt,) = rows["quiz_attempts"]
    assert attempt[:6] == ("u1", "c1", "q1", "a1", "m1", "submitted")
    (path,) = rows["learning_path_progress"]
    assert path[:3] == ("u1", "p1", "enrolled") and path[4:6] == (3, 0)
    competencies = {r[1]: r for r in rows["user_competencies"]}
    assert competencies["basics"][3:] == ("mastered", T0 + 9000)
    assert competencies["media"][2] > 0  # v1 gives media evidence
    assert KEYS["lesson_progress"] == ("user_id", "course_id", "lesson_id")


def test_a_lesson_row_is_its_row_among_all() -> None:
    state = learner()
    rows = all_rows(state, CAT, "free", "u1")
    row = lesson_row(state, CAT, "u1", "c1/v1")
    assert row in rows["lesson_progress"]
    assert lesson_row(state, CAT, "u1", "c1/l2") is None  # never touched
    assert lesson_row(state, CAT, "u1", "c9/x") is None  # not in the catalog
    out = empty()
    views = course_rows(state, CAT, "free", "u1", {"c1", "c9"}, out)
    assert set(views) == {"c1"}
    assert set(out["lesson_progress"]) == set(rows["lesson_progress"])


def test_a_competency_at_level_zero_has_no_row() -> None:
    state = fold([fact(1, "lesson.opened", course="c1", lesson="l1")])
    out = empty()
    zero = learner_rows(state, CAT, "free", "u1", out)
    assert sorted(zero) == ["basics", "media"] and out["user_competencies"] == []
    assert out["learning_path_progress"] == []  # not enrolled


def test_a_heartbeats_row_counts_the_course_and_module_resets() -> None:
    """The row a heartbeat writes is the one the course's rows give, resets included: a
    course reset, then a module's content starting over, each cut the lesson's completion."""
    for scope in ("c1", "c1/m2"):
        state = fold(
            [
                fact(
                    1,
                    "lesson.progressed",
                    course="c1",
                    lesson="v1",
                    seconds=30,
                    **{"from": 0, "to": 90},
                ),
                fact(
                    3,
                    "lesson.progressed",
                    course="c1",
                    lesson="v1",
                    seconds=5,
                    **{"from": 0, "to": 10},
                ),
            ]
        )
        state.resets[scope] = (format_hlc(T0 + 2000, 0), "d1", 1)
        row = lesson_row(state, CAT, "u1", "c1/v1")
        assert row is not None and row[4] == "in_progress", scope
        out = empty()
        course_rows(state, CAT, "free", "u1", {"c1"}, out)
        assert out["lesson_progress"] == [row]


def test_counts_of_completed_modules_lessons_and_milestones() -> None:
    """Module m2 all done, m1 not; c2 not started; a milestone completed; the first path
    not enrolled in (p1 comes before p2 in the catalog)."""
    state = fold(
        [
            fact(
                1,
                "lesson.progressed",
                course="c1",
                lesson="v1",
                seconds=90,
                **{"from": 0, "to": 90},
            ),
            fact(2, "lesson.progressed", course="c1", lesson="t1", seconds=130),
        ]
    )
    apply_decision(
        state, "enrollment.changed", {"path": "p2", "from": "none", "to": "enrolled"}, T0
    )
    apply_decision(state, "milestone.completed", {"path": "p2", "milestone": "r1"}, T0 + 5000)
    rows = all_rows(state, CAT, "free", "u1")
    (course,) = rows["course_progress"]
    assert course[4:8] == (2, 1, 4, 2)  # modules: 2, 1 completed; lessons: 4, 2 completed
    modules = {r[2]: r for r in rows["module_progress"]}
    assert modules["m2"][3:7] == ("completed", 100.0, 2, 2)
    (path,) = rows["learning_path_progress"]
    assert path[1] == "p2" and path[4:6] == (1, 1)
    # Only what was started has a row: m1 of c1 has no lesson touched.
    only_m1 = fold([fact(1, "lesson.opened", course="c1", lesson="l2")])
    started = all_rows(only_m1, CAT, "free", "u1")
    assert [r[2] for r in started["module_progress"]] == ["m1"]


def test_a_completed_first_module_is_counted() -> None:
    state = fold(
        [
            fact(1, "lesson.completed", course="c1", lesson="l1"),
            fact(2, "lesson.opened", course="c1", lesson="l2"),
            fact(3, "lesson.opened", course="c1", lesson="t1"),
        ]
    )
    apply_decision(state, "quiz.passed", {"course": "c1", "quiz": "q1", "score": 1.0}, T0 + 4000)
    (course,) = all_rows(state, CAT, "free", "u1")["course_progress"]
    assert course[4:6] == (2, 1)  # m1 completed, m2 (after it) not
