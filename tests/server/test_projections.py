"""The caches of the feed rebuilt and verified from it, on SQLite and PostgreSQL
(``Store.verify`` / ``Store.rebuild``, ``waymark admin verify`` / ``rebuild``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.storage.store import Store
from sync.catalog import parse_catalog
from sync.events import Event
from tests.conftest import waymark
from tests.server.conftest import T0, Clock

GAMIFY = parse_catalog((Path(__file__).parents[1] / "fixtures" / "gamify.yaml").read_text(), "yaml")
DAY = 86_400_000


def ev(seq: int, day: int, type_: str, lesson: str, **body: object) -> Event:
    at = T0 + day * DAY + seq * 60_000
    body = {"course": "shell", "lesson": lesson, **body}
    return Event(seq, f"{at:013d}-0000", at, type_, body, "Europe/Paris")


async def progress(store: Store) -> tuple[str, str]:
    """Ann: a path, four lessons over three days (points, badges, two certificates)."""
    await store.load_catalog(GAMIFY)
    ann = await store.create_user("ann", "pw")
    await store.create_user("bob", "pw")  # no progress at all
    laptop, _ = await store.register_device(ann.id, "laptop")
    await store.record_action(ann.id, "path.enrolled", {"path": "starter"})
    await store.merge(
        laptop.id,
        [
            ev(1, 0, "lesson.progressed", "l1", seconds=40),
            ev(2, 0, "lesson.completed", "l1"),
            ev(3, 1, "lesson.completed", "l2"),
            ev(4, 2, "lesson.completed", "l3"),
            ev(5, 2, "lesson.completed", "l4"),
        ],
    )
    return ann.id, laptop.id


async def test_a_learner_made_by_merges_verifies_clean(store: Store) -> None:
    ann, _ = await progress(store)
    assert [u for u in await store.learner_ids()] != []
    for user_id in await store.learner_ids():
        assert await store.verify(user_id) == []
    tables = await store.engine.fetch(
        "SELECT COUNT(*) AS n FROM certificates WHERE user_id = ?", ann
    )
    assert tables[0]["n"] == 2  # the path was exercised, not only the empty case


async def test_verify_lists_hand_corrupted_rows_and_rebuild_restores_them(store: Store) -> None:
    ann, laptop = await progress(store)
    before = await store.learner(ann)
    achievements = await store.achievements(ann)
    async with store.engine.transaction() as txn:
        await txn.execute("UPDATE points_ledger SET points = 999 WHERE user_id = ?", ann)
        await txn.execute("DELETE FROM user_badges WHERE user_id = ?", ann)
        await txn.execute(
            "UPDATE user_state SET state = ?, through_seq = through_seq - 1 WHERE user_id = ?",
            '{"lessons": {}}',
            ann,
        )
        await txn.execute("INSERT INTO user_scopes (user_id, scope) VALUES (?, 'course:x')", ann)
    found = await store.verify(ann)
    assert any(line.startswith("feed head: stored") for line in found)
    assert any(line.startswith("state.lessons.shell/l1: stored None") for line in found)
    assert any("points_ledger: stored row" in line and "999" in line for line in found)
    assert any(line.startswith("user_badges: the feed's row") for line in found)
    assert "user_scopes: stored row (" in " ".join(found) and "course:x" in " ".join(found)
    await store.rebuild(ann)
    assert await store.verify(ann) == []
    assert await store.learner(ann) == before
    assert await store.achievements(ann) == achievements
    # The merge goes on from the rebuilt head, and nothing old is announced again.
    outbox = len(await store.outbox_tail(1000, user_id=ann))
    result = await store.merge(laptop, [ev(6, 3, "lesson.opened", "l1")])
    assert result.acked_seq == 6
    assert len(await store.outbox_tail(1000, user_id=ann)) == outbox
    assert await store.verify(ann) == []


async def test_admin_verify_and_rebuild_on_the_command_line(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    store = Store.for_url(db, clock=Clock())
    await store.open()
    ann, _ = await progress(store)
    await store.close()
    clean = waymark("admin", "--db", db, "verify")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip() == "verified 2 learners: every cache matches the feed"
    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("UPDATE points_ledger SET points = points + 1 WHERE user_id = ?", (ann,))
    broken = waymark("admin", "--db", db, "verify")
    assert broken.returncode == 1
    lines = broken.stdout.splitlines()
    assert lines[-1].endswith("difference(s) in 2 learners; 'waymark admin rebuild' fixes them")
    assert all(line.startswith("ann: points_ledger: ") for line in lines[:-1])
    fixed = waymark("admin", "--db", db, "rebuild", "--user", "ann")
    assert (fixed.returncode, fixed.stdout.strip()) == (0, "rebuilt 1 learner from their feeds")
    assert waymark("admin", "--db", db, "verify", "--user", "ann").returncode == 0
    missing = waymark("admin", "--db", db, "verify", "--user", "zed")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: no user 'zed'")
