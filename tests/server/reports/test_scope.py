"""Who sees whose progress in a report (server/reports/scope.py), on each engine: the
condition :meth:`Scope.where` gives is run against the real tables."""

from __future__ import annotations

import pytest

from server.errors import Forbidden, NotFound
from server.reports.scope import Scope, check_learner, report_scope
from server.storage.store import Store, User


async def _users(store: Store) -> dict[str, User]:
    users = {}
    for name, role in [
        ("ada", "learner"),
        ("bo", "learner"),
        ("cy", "learner"),
        ("ivy", "instructor"),
        ("ian", "instructor"),
        ("root", "admin"),
    ]:
        users[name] = await store.create_user(name, "pw-long-enough", role=role)
    return users


async def _in_scope(store: Store, scope: Scope) -> list[str]:
    cond, args = scope.where("u.id")
    rows = await store.engine.fetch(
        f"SELECT u.username FROM users u WHERE {cond} ORDER BY u.username", *args
    )
    return [r["username"] for r in rows]


@pytest.fixture
async def world(store: Store) -> dict[str, User]:
    users = await _users(store)
    a = await store.create_group("a", "ivy")
    b = await store.create_group("b", "root")
    await store.set_member(a.id, users["ada"].id, True)
    await store.set_member(a.id, users["ivy"].id, True)  # staff in a group: never counted
    await store.set_member(b.id, users["bo"].id, True)
    return users


async def test_admin_sees_every_learner_and_any_group(store: Store, world: dict[str, User]):
    assert await _in_scope(store, await report_scope(store, world["root"])) == ["ada", "bo", "cy"]
    scope = await report_scope(store, world["root"], group="b")
    assert scope.group is not None and scope.group.name == "b"
    assert await _in_scope(store, scope) == ["bo"]


async def test_instructor_sees_the_groups_they_created_or_teach(
    store: Store, world: dict[str, User]
):
    ivy, ian = world["ivy"], world["ian"]
    assert await _in_scope(store, await report_scope(store, ivy)) == ["ada"]
    assert await _in_scope(store, await report_scope(store, ivy, group="a")) == ["ada"]
    with pytest.raises(Forbidden, match="you do not teach group 'b'"):
        await report_scope(store, ivy, group="b")
    # An instructor with no group sees nobody, and is not refused.
    assert await _in_scope(store, await report_scope(store, ian)) == []
    b = await store.group("b")
    assert b is not None
    await store.set_teacher(b.id, ian.id, True)
    assert await store.teachers(b.id) == ["ian"]
    assert await _in_scope(store, await report_scope(store, ian, group="b")) == ["bo"]
    await store.set_teacher(b.id, ian.id, False)
    with pytest.raises(Forbidden):
        await report_scope(store, ian, group="b")


async def test_learners_see_no_report_and_unknown_groups_are_404(
    store: Store, world: dict[str, User]
):
    with pytest.raises(Forbidden, match="reports are for instructors and admins"):
        await report_scope(store, world["ada"])
    with pytest.raises(NotFound, match="no group 'nope'"):
        await report_scope(store, world["root"], group="nope")


async def test_who_may_see_one_learner(store: Store, world: dict[str, User]):
    ada, bo, ivy = world["ada"], world["bo"], world["ivy"]
    await check_learner(store, ada, ada)
    await check_learner(store, world["root"], bo)
    await check_learner(store, ivy, ada)
    with pytest.raises(Forbidden, match="bo is in none of your groups"):
        await check_learner(store, ivy, bo)
    with pytest.raises(Forbidden):
        await check_learner(store, ada, bo)


async def test_a_group_s_due_date_and_teachers_go_with_it(store: Store, world: dict[str, User]):
    a = await store.group("a")
    assert a is not None and a.due is None
    await store.set_group_due(a.id, "2027-01-31")
    a = await store.group("a")
    assert a is not None and a.due == "2027-01-31"
    await store.set_teacher(a.id, world["ian"].id, True)
    await store.delete_group(a.id)
    assert await store.taught_groups(world["ian"]) == []
