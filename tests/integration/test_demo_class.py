"""The class ``waymark demo`` seeds for the reports (cli/demo_class.py), on each engine:
two groups of 15, an instructor who sees all 30, completions and work in progress over
five weeks, quiz questions of different difficulty, one learner stuck on a milestone,
offline work the server knows of, and nothing that is not the merge's doing."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import pytest

from cli.demo import DEMO_CATALOG, LEARNERS
from cli.demo_class import (
    GROUPS,
    INSTRUCTOR,
    NAMES,
    PATH,
    Summary,
    seed_class,
    seeding_store,
)
from server.reports.freshness import freshness
from server.reports.scope import report_scope
from server.storage.store import Store
from sync.catalog import format_for, parse_catalog

NOW = 1_780_000_000_000
DAY = 86_400_000
CATALOG = parse_catalog(DEMO_CATALOG.read_bytes(), format_for(DEMO_CATALOG.name))


@pytest.fixture
async def seeded(db_url: str) -> AsyncIterator[tuple[Store, Summary]]:
    store = seeding_store(db_url, NOW)
    await store.open()
    await store.load_catalog(CATALOG)
    for name, password, zone in LEARNERS:  # as the demo does: the story's two join
        await store.create_user(name, password, timezone=zone)
    done: list[int] = []
    summary = await seed_class(
        store,
        CATALOG,
        NOW,
        extra={"maya": "morning", "leo": "evening"},
        progress=lambda n, total: done.append(n),
    )
    assert done[-1] == len(NAMES) == 28
    yield store, summary
    await store.close()


async def _ids(store: Store) -> dict[str, str]:
    rows = await store.engine.fetch("SELECT id, username FROM users WHERE role = 'learner'")
    return {r["username"]: r["id"] for r in rows}


async def test_the_seeded_class_makes_every_report_meaningful(
    seeded: tuple[Store, Summary],
) -> None:
    """One seed per engine (it takes seconds), checked behaviour by behaviour."""
    await two_groups_of_fifteen_and_an_instructor_who_sees_all(seeded)
    await freshness_shows_offline_work_never_synced_and_fresh_learners(seeded)
    await courses_are_completed_in_progress_and_spread_over_five_weeks(seeded)
    await quiz_questions_differ_in_difficulty(seeded)
    await one_learner_is_stuck_on_a_milestone_for_more_than_a_week(seeded)
    await everything_seeded_is_the_merge_s_doing(seeded)


async def two_groups_of_fifteen_and_an_instructor_who_sees_all(
    seeded: tuple[Store, Summary],
) -> None:
    store, summary = seeded
    for name in GROUPS:
        group = await store.group(name, members=True)
        assert group is not None and len(group.members) == 15
        assert len(summary.learners[name]) == 15
    iris = await store.user_by_name(INSTRUCTOR[0])
    assert iris is not None and iris.role == "instructor"
    assert await store.authenticate_user(*INSTRUCTOR) is not None
    report = await freshness(store, await report_scope(store, iris), now=NOW)
    assert len(report) == 30


async def freshness_shows_offline_work_never_synced_and_fresh_learners(
    seeded: tuple[Store, Summary],
) -> None:
    store, summary = seeded
    ids = await _ids(store)
    report = await freshness(store, await report_scope(store, await _user(store, "iris")), now=NOW)
    states = Counter(f.state for f in report.values())
    # maya and leo have not synced yet: the story comes after the seed.
    assert states["never synced"] == 2 + 2  # two idle learners of the class, maya, leo
    assert states["fresh"] >= 2 and states["stale"] >= 10
    offline = {name for name, uid in ids.items() if report[uid].state == "offline work"}
    assert offline == set(summary.offline) and len(offline) == 4
    for name in offline:
        found = report[ids[name]]
        assert found.pending_events and found.pending_events > 0
        assert found.offline_devices == 1
        assert found.pending_since is not None and NOW - 5 * DAY < found.pending_since < NOW


async def courses_are_completed_in_progress_and_spread_over_five_weeks(
    seeded: tuple[Store, Summary],
) -> None:
    store, _ = seeded
    rows = await store.engine.fetch(
        "SELECT course_id, status, COUNT(*) AS n FROM course_progress GROUP BY course_id, status"
    )
    counts = {(r["course_id"], r["status"]): int(r["n"]) for r in rows}
    assert counts[("python-foundations", "completed")] >= 5
    assert counts[("python-foundations", "in_progress")] >= 15
    assert counts[("data-literacy", "completed")] >= 2
    assert counts[("data-literacy", "completed")] + counts[("data-literacy", "in_progress")] >= 4
    first = await store.engine.fetchval("SELECT MIN(started_at) FROM lesson_progress")
    last = await store.engine.fetchval("SELECT MAX(last_activity_at) FROM lesson_progress")
    assert NOW - 36 * DAY <= int(first) < NOW - 28 * DAY
    assert NOW - 3_600_000 < int(last) < NOW
    # Nothing happened, nor was received, after the demo's start.
    latest = await store.engine.fetchrow("SELECT MAX(at) AS at, MAX(recorded_at) AS r FROM feed")
    assert latest is not None and int(latest["at"]) < NOW and int(latest["r"]) < NOW
    paths = await store.engine.fetch(
        "SELECT status, COUNT(*) AS n FROM learning_path_progress GROUP BY status"
    )
    by_status = {r["status"]: int(r["n"]) for r in paths}
    assert by_status["completed"] >= 2 and by_status["in_progress"] >= 5


async def quiz_questions_differ_in_difficulty(seeded: tuple[Store, Summary]) -> None:
    store, _ = seeded
    quiz = next(
        q for c in CATALOG.courses for m in c.modules for q in m.quizzes if q.id == "syntax-check"
    )
    answers = {
        q.id: sorted(q.answer) if isinstance(q.answer, list) else [q.answer] for q in quiz.questions
    }
    rows = await store.engine.fetch(
        "SELECT user_id, body FROM feed WHERE type = 'quiz.answered' ORDER BY user_id, user_seq"
    )
    last: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        body = json.loads(row["body"])
        if body["quiz"] == quiz.id:
            last[(row["user_id"], body["attempt"], body["question"])] = sorted(body["choices"])
    right: dict[str, list[bool]] = defaultdict(list)
    wrong: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, _, question), choices in last.items():
        right[question].append(choices == answers[question])
        if choices != answers[question]:
            wrong[question][",".join(choices)] += 1
    facility = {q: sum(r) / len(r) for q, r in right.items()}
    assert len(right["assign"]) >= 20  # attempts enough to tell
    assert facility["loops"] < facility["range"] < facility["assign"]
    assert wrong["loops"].most_common(1)[0][0] == "for"  # the popular half-answer
    scored = await store.engine.fetch("SELECT score, passed FROM quiz_attempts")
    assert {bool(r["passed"]) for r in scored} == {True, False}
    assert len({r["score"] for r in scored}) >= 4


async def one_learner_is_stuck_on_a_milestone_for_more_than_a_week(
    seeded: tuple[Store, Summary],
) -> None:
    store, summary = seeded
    rows = await store.engine.fetch(
        "SELECT u.username, MAX(l.last_activity_at) AS last FROM learning_path_progress p"
        " JOIN users u ON u.id = p.user_id"
        " JOIN lesson_progress l ON l.user_id = p.user_id"
        " WHERE p.learning_path_id = ? AND p.status <> 'completed'"
        " GROUP BY u.username",
        PATH,
    )
    stuck = [r["username"] for r in rows if int(r["last"]) < NOW - 7 * DAY]
    assert stuck == [summary.stalled]
    assert len(rows) >= 5  # others on the path are moving


async def everything_seeded_is_the_merge_s_doing(seeded: tuple[Store, Summary]) -> None:
    """The caches match a fold of each learner's feed: nothing was written beside it."""
    store, _ = seeded
    for user_id in (await _ids(store)).values():
        assert await store.verify(user_id) == []


async def _user(store: Store, name: str):  # type: ignore[no-untyped-def]
    found = await store.user_by_name(name)
    assert found is not None
    return found
