"""Engagement over time (server/reports/engagement.py) on each engine, against the lesson
time of quiz_fixture.py, worked out by hand; and the two projections the assessment and
engagement reports read (quiz_question_responses, daily_time) kept by verify and rebuild."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.errors import Forbidden, NotFound
from server.reports.engagement import EngagementRow, PeriodTotal, engagement_report
from server.reports.scope import report_scope
from server.storage.store import Store, User
from tests.server.conftest import Clock
from tests.server.reports.quiz_fixture import NOW, record


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


async def test_time_per_day_and_course_as_worked_out_by_hand(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    report = await engagement_report(store, await report_scope(store, users["root"]))
    # 11-23: l1 300 s, and l5's 60 s (02:00Z on the 24th is 21:00 on the 23rd in New York);
    # 11-24: l1 120 + l2 600 in cq, l1 100 in c2; 11-25: l6 30 + 45.
    assert report.rows == [
        EngagementRow("2025-11-23", "cq", 360, 2),
        EngagementRow("2025-11-24", "c2", 100, 1),
        EngagementRow("2025-11-24", "cq", 720, 2),
        EngagementRow("2025-11-25", "cq", 75, 1),
    ]
    # Across courses, l1 counts once on the 24th (cq and c2): l1 and l2.
    assert report.totals == [
        PeriodTotal("2025-11-23", 360, 2),
        PeriodTotal("2025-11-24", 820, 2),
        PeriodTotal("2025-11-25", 75, 1),
    ]


async def test_time_per_iso_week(world: tuple[Store, dict[str, User]]) -> None:
    store, users = world
    scope = await report_scope(store, users["root"])
    report = await engagement_report(store, scope, by="week")
    # Sunday 11-23 ends ISO week 47; Monday 11-24 and Tuesday 11-25 are in week 48: cq
    # 720 + 75 by l1, l2, l6; c2 100 by l1; together 895 s by 3 learners.
    assert report.rows == [
        EngagementRow("2025-W47", "cq", 360, 2),
        EngagementRow("2025-W48", "c2", 100, 1),
        EngagementRow("2025-W48", "cq", 795, 3),
    ]
    assert report.totals == [PeriodTotal("2025-W47", 360, 2), PeriodTotal("2025-W48", 895, 3)]


async def test_a_course_a_date_range_and_a_group(world: tuple[Store, dict[str, User]]) -> None:
    store, users = world
    root = await report_scope(store, users["root"])
    only = await engagement_report(store, root, course="c2")
    assert only.rows == [EngagementRow("2025-11-24", "c2", 100, 1)]
    ranged = await engagement_report(store, root, since="2025-11-24", until="2025-11-24")
    assert [r.period for r in ranged.totals] == ["2025-11-24"]
    # Ivy teaches group a (l1-l4): no l5, no l6.
    ivy = await engagement_report(store, await report_scope(store, users["ivy"]))
    assert ivy.totals == [PeriodTotal("2025-11-23", 300, 1), PeriodTotal("2025-11-24", 820, 2)]
    with pytest.raises(Forbidden):
        await report_scope(store, users["ivy"], group="b")
    with pytest.raises(Forbidden):
        await report_scope(store, users["l1"])
    with pytest.raises(NotFound, match="no course 'nope'"):
        await engagement_report(store, root, course="nope")


async def _rows(store: Store, table: str, user_id: str) -> set[tuple[Any, ...]]:
    return {
        tuple(r)
        for r in await store.engine.fetch(f"SELECT * FROM {table} WHERE user_id = ?", user_id)
    }


async def test_the_merge_rows_are_what_rebuild_gives_and_verify_finds_nothing(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    learners = [u for u in users.values() if u.role == "learner"]
    for user in learners:
        assert await store.verify(user.id) == []
    before = {
        u.id: (
            await _rows(store, "quiz_question_responses", u.id),
            await _rows(store, "daily_time", u.id),
        )
        for u in learners
    }
    l5 = users["l5"].id
    # l5's responses as the merge wrote them: q2 the changed answer (c, wrong), 15 s.
    q2 = await store.engine.fetchrow(
        "SELECT selected_options, correct, score, time_spent FROM quiz_question_responses"
        " WHERE user_id = ? AND question_id = 'q2'",
        l5,
    )
    assert q2 is not None and (q2["selected_options"], bool(q2["correct"]), q2["score"]) == (
        "c",
        False,
        0.0,
    )
    assert q2["time_spent"] == 15
    for user in learners:
        await store.rebuild(user.id)
    after = {
        u.id: (
            await _rows(store, "quiz_question_responses", u.id),
            await _rows(store, "daily_time", u.id),
        )
        for u in learners
    }
    assert after == before
    assert len(before[users["l8"].id][0]) == 3  # q3 unanswered: no row


async def test_verify_catches_a_changed_daily_time_and_rebuild_mends_it(
    world: tuple[Store, dict[str, User]],
) -> None:
    store, users = world
    l1 = users["l1"].id
    async with store.engine.transaction() as txn:
        await txn.execute("UPDATE daily_time SET seconds = 1 WHERE user_id = ?", l1)
        await txn.execute("DELETE FROM quiz_question_responses WHERE user_id = ?", l1)
    found = " ".join(await store.verify(l1))
    assert "daily_time: stored row" in found and "2025-11-23" in found
    assert "quiz_question_responses: the feed's row" in found
    await store.rebuild(l1)
    assert await store.verify(l1) == []
    assert (
        await store.engine.fetchval(
            "SELECT seconds FROM daily_time WHERE user_id = ? AND day = '2025-11-23'", l1
        )
        == 300
    )


async def test_a_store_from_before_0014_fills_both_tables_when_it_opens(
    world: tuple[Store, dict[str, User]], db_url: str
) -> None:
    """As migration 0014 leaves an older database: the tables empty, the stored states
    without the answers' times, and ``rebuild`` pending."""
    store, users = world
    l5 = users["l5"].id
    want = (
        await _rows(store, "quiz_question_responses", l5),
        await _rows(store, "daily_time", l5),
    )
    state = json.loads(
        await store.engine.fetchval("SELECT state FROM user_state WHERE user_id = ?", l5)
    )
    for quiz in state["quizzes"].values():
        for attempt in quiz["attempts"].values():
            del attempt["answered_at"]
    async with store.engine.transaction() as txn:
        await txn.execute("DELETE FROM quiz_question_responses")
        await txn.execute("DELETE FROM daily_time")
        await txn.execute("INSERT INTO pending_work (name) VALUES ('rebuild')")
        await txn.execute(
            "UPDATE user_state SET state = ? WHERE user_id = ?", json.dumps(state), l5
        )
    assert await store.verify(l5) != []
    clock = Clock()
    clock.now = NOW
    again = Store.for_url(db_url, clock=clock)
    await again.open()
    try:
        got = (
            await _rows(again, "quiz_question_responses", l5),
            await _rows(again, "daily_time", l5),
        )
        assert got == want and len(got[0]) == 4 and len(got[1]) == 1
        assert await again.engine.fetchval("SELECT COUNT(*) FROM pending_work") == 0
        assert await again.verify(l5) == []
    finally:
        await again.close()
