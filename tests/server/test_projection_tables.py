"""Progress as SQL tables (``sync.merge.projections``), on SQLite and PostgreSQL: written by the
merge in its transaction, the same rows the learner's views give, kept by verify and
rebuild, made again after a catalog change, and filled for learners from before them."""

from __future__ import annotations

from typing import Any

from server.storage.store import Store
from sync.catalog import parse_catalog
from sync.events import Event
from sync.merge.projections import TABLES, all_rows
from tests.conftest import CATALOG
from tests.server.conftest import T0

TEXT = CATALOG.read_text()


def ev(seq: int, type_: str, lesson: str = "video", course: str = "c1", **body: Any) -> Event:
    at = T0 + seq * 1000
    return Event(
        seq, f"{at:013d}-0000", at, type_, {"course": course, "lesson": lesson, **body}, "UTC"
    )


async def rows(store: Store, user_id: str) -> dict[str, set[tuple[Any, ...]]]:
    out = {}
    for table, columns in TABLES.items():
        names = ", ".join(name for name, _ in columns)
        found = await store.engine.fetch(f"SELECT {names} FROM {table} WHERE user_id = ?", user_id)
        out[table] = {tuple(r) for r in found}
    return out


async def expected(store: Store, user_id: str) -> dict[str, set[tuple[Any, ...]]]:
    user = await store.user_by_id(user_id)
    assert user is not None
    state, catalog = await store.user_state(user_id), await store.catalog()
    return {t: set(r) for t, r in all_rows(state, catalog, user.plan, user_id).items()}


async def ann(store: Store) -> tuple[str, str]:
    user = await store.create_user("ann", "pw")
    device, _ = await store.register_device(user.id, "laptop")
    return user.id, device.id


async def test_the_merge_writes_the_rows_the_views_give(store: Store) -> None:
    user_id, device = await ann(store)
    await store.merge(device, [ev(1, "lesson.progressed", seconds=30, **{"from": 0, "to": 190})])
    await store.merge(device, [ev(2, "lesson.progressed", seconds=20, position=150)])  # heartbeat
    await store.merge(device, [ev(3, "lesson.completed", lesson="read")])
    assert await rows(store, user_id) == await expected(store, user_id)
    view = await store.learner(user_id)
    course = await store.engine.fetchrow(
        "SELECT status, percent_complete, completed_lessons, total_lessons FROM course_progress"
        " WHERE user_id = ? AND course_id = 'c1'",
        user_id,
    )
    assert course is not None
    assert (course["status"], course["percent_complete"]) == (
        view.courses[0].status,
        view.courses[0].percent,
    )
    assert (course["completed_lessons"], course["total_lessons"]) == (2, 4)
    lesson = await store.engine.fetchrow(
        "SELECT status, time_spent, last_position, percent_complete FROM lesson_progress"
        " WHERE user_id = ? AND course_id = 'c1' AND lesson_id = 'video'",
        user_id,
    )
    assert lesson is not None
    assert tuple(lesson) == ("completed", 50, 150, 95.0)
    assert await store.verify(user_id) == []


async def test_a_reset_and_a_quiz_rewrite_what_they_change(store: Store) -> None:
    user_id, device = await ann(store)
    await store.merge(device, [ev(1, "lesson.completed", lesson="read")])
    await store.merge(device, [ev(2, "course.reset")])
    assert await rows(store, user_id) == await expected(store, user_id)
    row = await store.engine.fetchrow(
        "SELECT status FROM lesson_progress WHERE user_id = ? AND lesson_id = 'read'", user_id
    )
    assert row is not None and row["status"] == "in_progress"
    assert await store.verify(user_id) == []


async def test_verify_catches_a_hand_corrupted_projection_row_and_rebuild_mends_it(
    store: Store,
) -> None:
    user_id, device = await ann(store)
    await store.merge(device, [ev(1, "lesson.completed", lesson="read")])
    async with store.engine.transaction() as txn:
        await txn.execute(
            "UPDATE course_progress SET percent_complete = 99 WHERE user_id = ?", user_id
        )
        await txn.execute("DELETE FROM lesson_progress WHERE user_id = ?", user_id)
    found = " ".join(await store.verify(user_id))
    assert "course_progress: stored row" in found and "99" in found
    assert "lesson_progress: the feed's row" in found and "'read'" in found
    await store.rebuild(user_id)
    assert await store.verify(user_id) == []
    assert await rows(store, user_id) == await expected(store, user_id)


async def test_a_catalog_change_makes_the_rows_again(store: Store) -> None:
    user_id, device = await ann(store)
    await store.merge(
        device, [ev(1, "lesson.opened", lesson="intro"), ev(2, "lesson.opened", lesson="lab")]
    )
    smaller = parse_catalog(
        TEXT.replace("          - {id: intro, title: Intro, kind: page, completion: viewed}\n", ""),
        "yaml",
    )
    assert smaller.lesson("c1", "intro") is None
    await store.load_catalog(smaller)
    stored = await rows(store, user_id)
    assert {r[2] for r in stored["lesson_progress"]} == {"lab"}
    assert stored == await expected(store, user_id)
    assert await store.verify(user_id) == []


async def test_learners_from_before_the_tables_get_their_rows_when_the_store_opens(
    store: Store, db_url: str
) -> None:
    user_id, device = await ann(store)
    await store.merge(device, [ev(1, "lesson.completed", lesson="read")])
    async with store.engine.transaction() as txn:
        for table in TABLES:
            await txn.execute(f"DELETE FROM {table}")
        await txn.execute("INSERT INTO pending_work (name) VALUES ('projections')")
    again = Store.for_url(db_url)
    await again.open()
    try:
        assert await rows(again, user_id) == await expected(again, user_id)
        assert await rows(again, user_id) != {t: set() for t in TABLES}
        assert await again.engine.fetch("SELECT name FROM pending_work") == []
    finally:
        await again.close()
