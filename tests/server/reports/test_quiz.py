"""The quiz report (server/reports/quiz.py) on each engine, against the fixture of
quiz_fixture.py, every number worked out by hand below."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.errors import Forbidden, NotFound
from server.reports.quiz import ScoreBin, Window, course_quizzes_report, quiz_report
from server.reports.scope import report_scope
from server.storage.store import Store, User
from tests.server.conftest import Clock
from tests.server.reports.quiz_fixture import NOW, QUIZ_START, Recorder, quiz_events, record


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[tuple[Store, dict[str, User]]]:
    clock = Clock()
    clock.now = NOW
    store = Store.for_url(db_url, clock=clock)
    await store.open()
    try:
        yield store, await record(store)
    finally:
        await store.close()


async def test_the_quiz_report_of_every_learner_as_worked_out_by_hand(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    report = await quiz_report(store, await report_scope(store, users["root"]), "cq", "q")
    # Scores 1, .75, .75, .5, .5, .5, .25, 0: 8 attempts by 8 learners; passed (>= 0.5):
    # l1-l6 = 6, rate 6/8; mean 4.25/8 = 0.53125; median (.5 + .5)/2.
    assert (report.attempts, report.learners, report.passed) == (8, 8, 6)
    assert report.pass_rate == 0.75
    assert report.mean_score == pytest.approx(0.53125, abs=1e-4)
    assert report.median_score == 0.5
    # Bins of 10 %: 0 -> [0, .1); .25 -> [.2, .3); .5 x3 -> [.5, .6); .75 x2 -> [.7, .8);
    # 1.0 -> the last bin [.9, 1].
    assert [b.attempts for b in report.distribution] == [1, 0, 1, 0, 0, 3, 0, 2, 0, 1]
    assert report.distribution[9] == ScoreBin(0.9, 1.0, 1)
    # Kelley: n = 8, k = round(0.27 * 8) = round(2.16) = 2. Ranked by score, ties by
    # submission (l1 first ... l8 last): l8 (0), l7 (.25), l4, l5, l6 (.5), l2, l3 (.75),
    # l1 (1). Lower group: l8, l7. Upper group: l3, l1 (l2 ties with l3 at .75 but was
    # submitted earlier, so it ranks below it and stays out).
    rows = {r.question_id: r for r in report.rows}
    assert [r.question_id for r in report.rows] == ["q1", "q2", "q3", "q4"]
    assert {r.group_size for r in report.rows} == {2}
    # q1: right l1 l2 l4 l5 l6 l7 = 6/8 = .75; upper l3 b, l1 C = 1; lower l8 b, l7 C = 1;
    # discrimination (1 - 1)/2 = 0 (< 0.2: difficult); wrong: b by l3 and l8.
    q1 = rows["q1"]
    assert (q1.correct, q1.facility, q1.upper_correct, q1.lower_correct) == (6, 0.75, 1, 1)
    assert q1.discrimination == 0.0 and q1.difficult
    assert (q1.wrong_answer, q1.wrong_answer_text, q1.wrong_answer_count) == ("b", "Banana", 2)
    # Time: 10 s for everyone but l8 (20): 90/8 = 11.25.
    assert q1.mean_time == 11.25
    # q2: right l1 l2 l3 l6 = 4/8 = .5 (not below .5); upper 2, lower 0: (2 - 0)/2 = 1;
    # wrong: a by l4 l7 l8 (3), c by l5 (1, the changed answer is the one held).
    q2 = rows["q2"]
    assert (q2.correct, q2.facility, q2.discrimination, q2.difficult) == (4, 0.5, 1.0, False)
    assert (q2.wrong_answer, q2.wrong_answer_count) == ("a", 3)
    # Time: 20 s x6, l5 15 s (its change at +25 after q1 at +10), l8 10 s: 145/8 = 18.125.
    assert q2.mean_time == pytest.approx(18.125, abs=1e-4)
    # q3: l8 left it unanswered: answered 7, right l1-l4 = 4/8 = .5; upper 2, lower 0
    # (l8 none, l7 b): 1; wrong a by l5 l6 (2), b by l7 (1).
    q3 = rows["q3"]
    assert (q3.answered, q3.correct, q3.facility, q3.discrimination) == (7, 4, 0.5, 1.0)
    assert (q3.wrong_answer, q3.wrong_answer_count, q3.difficult) == ("a", 2, False)
    # Time: 30 s x6 and l5 35 s (after its q2 at +25), over the 7 who answered: 215/7.
    assert q3.mean_time == pytest.approx(215 / 7, abs=1e-4)
    # q4 (a and b): right l1 l3 l5 = 3/8 = .375 (< .5: difficult); upper 2, lower 0 (l8 a,
    # l7 a;c): 1; wrong: a alone by l2 l4 l6 l8 (4), a;c by l7 (1).
    q4 = rows["q4"]
    assert (q4.correct, q4.facility, q4.discrimination, q4.difficult) == (3, 0.375, 1.0, True)
    assert (q4.wrong_answer, q4.wrong_answer_text, q4.wrong_answer_count) == ("a", "Apple", 4)
    assert q4.mean_time == 40.0  # 40 s for all (l8: q4 at +70, 40 after q2 at +30)
    assert [r.question_id for r in report.difficult] == ["q1", "q4"]


async def test_an_instructor_sees_their_group_and_is_refused_another(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    scope = await report_scope(store, users["ivy"])
    report = await quiz_report(store, scope, "cq", "q")
    # Group a: l1 (1), l2 (.75), l3 (.75), l4 (.5): mean 3/4, median .75, all passed;
    # n = 4 -> k = round(1.08) = 1: lower l4, upper l1. q1: right l1 l2 l4 = 3/4; upper
    # l1 C, lower l4 C: 0.
    assert (report.attempts, report.passed, report.mean_score, report.median_score) == (
        4,
        4,
        0.75,
        0.75,
    )
    q1 = report.rows[0]
    assert (q1.facility, q1.group_size, q1.discrimination) == (0.75, 1, 0.0)
    with pytest.raises(Forbidden):
        await report_scope(store, users["ivy"], group="b")
    # Ian sees only group b: l5 l6 (.5), l7 (.25), l8 (0).
    theirs = await quiz_report(store, await report_scope(store, users["ian"]), "cq", "q")
    assert (theirs.attempts, theirs.passed, theirs.median_score) == (4, 2, 0.375)


async def test_unknown_course_and_quiz_are_not_found(world: tuple[Store, dict[str, User]]) -> None:
    store, users = world
    scope = await report_scope(store, users["root"])
    with pytest.raises(NotFound, match="no course 'nope'"):
        await quiz_report(store, scope, "nope", "q")
    with pytest.raises(NotFound, match="no quiz 'nope' in course 'cq'"):
        await quiz_report(store, scope, "cq", "nope")
    with pytest.raises(NotFound):
        await course_quizzes_report(store, scope, "nope")


async def test_first_attempts_only_and_a_submission_window(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    # l8 tries again a day later and gets everything right (4/4).
    device, _ = await store.register_device(users["l8"].id, "phone")
    rec = Recorder()
    again = [("q1", 10, ["a"]), ("q2", 20, ["b"]), ("q3", 30, ["c"]), ("q4", 40, ["a", "b"])]
    quiz_events(rec, QUIZ_START + 86_400_000, again, attempt="t2")
    await store.merge(device.id, rec.events)
    scope = await report_scope(store, users["root"])
    every = await quiz_report(store, scope, "cq", "q")
    # 9 attempts by 8 learners; mean (4.25 + 1)/9; passed 7.
    assert (every.attempts, every.learners, every.passed) == (9, 8, 7)
    assert every.mean_score == pytest.approx(5.25 / 9, abs=1e-4)
    first = await quiz_report(store, scope, "cq", "q", attempts="first")
    assert (first.attempts, first.learners, first.passed) == (8, 8, 6)
    # Only what was submitted from the day after on: l8's second attempt.
    later = await quiz_report(store, scope, "cq", "q", window=Window(since=QUIZ_START + 86_400_000))
    assert (later.attempts, later.mean_score, later.rows[0].discrimination) == (1, 1.0, None)
    none = await quiz_report(store, scope, "cq", "q", window=Window(until=QUIZ_START))
    assert (none.attempts, none.pass_rate, none.mean_score, none.median_score) == (
        0,
        None,
        None,
        None,
    )
    assert none.rows[0].facility is None and none.rows[0].wrong_answer is None


async def test_the_course_quizzes_report_lists_each_quiz_and_its_difficult_questions(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    report = await course_quizzes_report(store, await report_scope(store, users["root"]), "cq")
    assert [(q.quiz_id, q.attempts, q.pass_rate, q.difficult_questions) for q in report.rows] == [
        ("q", 8, 0.75, 2)
    ]
    assert [(d.quiz_id, d.question_id) for d in report.difficult] == [("q", "q1"), ("q", "q4")]
