"""Who sees which learners (the one rule): an instructor the members of the groups they
created or teach, an admin everyone, a learner nothing."""

from __future__ import annotations

import pytest
from litestar.exceptions import PermissionDeniedException

from server.dashboard.scope import visible_to
from server.storage.store import Store


async def test_instructors_see_their_groups_admins_everyone_learners_nothing(
    store: Store,
) -> None:
    ines = await store.create_user("ines", "pw", role="instructor")
    olga = await store.create_user("olga", "pw", role="instructor")
    ada = await store.create_user("ada", "pw", role="admin")
    leo = await store.create_user("leo", "pw")
    mia = await store.create_user("mia", "pw")
    a = await store.create_group("A", "ines")
    b = await store.create_group("B", "olga")
    await store.set_member(a.id, leo.id, True)
    await store.set_member(b.id, mia.id, True)

    mine = await visible_to(store, ines)
    assert [g.name for g in mine.groups] == ["A"] and mine.learner_ids() == {leo.id}
    assert mine.can_see(leo.id) and not mine.can_see(mia.id)
    assert [r.username for r in await store.roster(mine.group_ids, stale_before=0)] == ["leo"]
    assert (await visible_to(store, olga)).learner_ids() == {mia.id}

    everyone = await visible_to(store, ada)
    assert everyone.group_ids is None and everyone.learner_ids() is None
    assert everyone.can_see(mia.id) and [g.name for g in everyone.groups] == ["A", "B"]
    names = [r.username for r in await store.roster(None, stale_before=0)]
    assert names == ["leo", "mia"]  # learners only: no instructor or admin

    with pytest.raises(PermissionDeniedException):
        await visible_to(store, leo)
    assert await store.roster([], stale_before=0) == []


async def test_a_teacher_of_a_group_sees_it_as_in_the_reports(store: Store) -> None:
    await store.create_user("ines", "pw", role="instructor")
    tom = await store.create_user("tom", "pw", role="instructor")
    leo = await store.create_user("leo", "pw")
    a = await store.create_group("A", "ines")
    await store.set_member(a.id, leo.id, True)
    assert (await visible_to(store, tom)).learner_ids() == frozenset()
    await store.set_teacher(a.id, tom.id, True)
    seen = await visible_to(store, tom)
    assert [g.name for g in seen.groups] == ["A"] and seen.learner_ids() == {leo.id}
