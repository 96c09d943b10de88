"""Who may see which learners on the dashboard: the one rule, in one function.

The reports' rule (``server/reports/scope.py``): an instructor sees the learners in the
groups they created or teach (``GamifyStore.taught_groups``), an admin every learner and
group. Every page asks :func:`visible_to` and nothing else.
"""

from __future__ import annotations

import msgspec
from litestar.exceptions import PermissionDeniedException

from server.storage.gamify import Group
from server.storage.store import Store, User


class Visibility(msgspec.Struct, frozen=True):
    """What a viewer may see: ``groups`` and their ``members`` (user ids per group id);
    ``group_ids`` is ``None`` when the viewer sees every learner, in a group or not."""

    groups: list[Group]
    members: dict[str, list[str]]
    group_ids: list[str] | None

    def can_see(self, user_id: str) -> bool:
        return self.group_ids is None or any(user_id in m for m in self.members.values())

    def learner_ids(self) -> frozenset[str] | None:
        """Every visible learner's id, or ``None`` for "every learner"."""
        if self.group_ids is None:
            return None
        return frozenset(u for m in self.members.values() for u in m)


async def visible_to(store: Store, viewer: User) -> Visibility:
    """What ``viewer`` may see. Raises :class:`PermissionDeniedException` for a learner
    (the dashboard is for instructors and admins)."""
    groups = await store.groups()
    if viewer.role == "admin":
        members = await store.group_members_of([g.id for g in groups])
        return Visibility(groups, members, None)
    if viewer.role != "instructor":
        raise PermissionDeniedException("the dashboard is for instructors and admins")
    mine = await store.taught_groups(viewer)
    members = await store.group_members_of([g.id for g in mine])
    return Visibility(mine, members, [g.id for g in mine])
