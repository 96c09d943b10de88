"""Who sees whose progress in a report (``docs/reports.md``, "Who sees what").

* An **admin** sees every learner; with a group, that group's members.
* An **instructor** sees the members of the groups they created or teach
  (``group_teachers``); asking for any other group is refused (403), and an instructor
  with no group sees no learner (an empty report, not a refusal).
* A **learner** sees no report but their own learner report.

Only accounts with the ``learner`` role are ever in a report: staff who try the courses
out are not counted.

A :class:`Scope` is resolved once per request and turned into one SQL condition on a
user-id column (:meth:`Scope.where`), so every report query filters the same way, in the
database.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.errors import Forbidden, NotFound
from server.storage.gamify import Group
from server.storage.store import Store, User

STAFF = ("instructor", "admin")


class Scope(msgspec.Struct, frozen=True):
    """The learners one report covers."""

    everyone: bool
    """Every learner (an admin, no group asked)."""
    groups: tuple[str, ...] = ()
    """Otherwise: the members of these groups (ids)."""
    group: Group | None = None
    """The group asked for, if one was."""
    user: str | None = None
    """Only this learner (a user id: a learner report), whoever they are."""

    def where(self, column: str) -> tuple[str, tuple[Any, ...]]:
        """An SQL condition that ``column`` (a user id) is a learner in this scope, and its
        arguments (``?`` placeholders, as :mod:`server.storage.engine` takes them)."""
        if self.user is not None:
            return f"{column} = ?", (self.user,)
        learners = f"{column} IN (SELECT id FROM users WHERE role = 'learner')"
        if self.everyone:
            return learners, ()
        if not self.groups:
            return "1 = 0", ()
        marks = ", ".join("?" for _ in self.groups)
        members = f"{column} IN (SELECT user_id FROM group_members WHERE group_id IN ({marks}))"
        return f"{learners} AND {members}", self.groups


async def report_scope(store: Store, viewer: User, *, group: str | None = None) -> Scope:
    """The scope of a report ``viewer`` asks for, of one ``group`` (name or id) or of all
    they may see. Raises :class:`Forbidden` for learners and for a group the instructor
    does not teach, :class:`NotFound` for a group that does not exist."""
    if viewer.role not in STAFF:
        raise Forbidden("reports are for instructors and admins")
    found = None
    if group is not None:
        found = await store.group(group)
        if found is None:
            raise NotFound(f"no group {group!r}")
    if viewer.role == "admin":
        if found is None:
            return Scope(everyone=True)
        return Scope(everyone=False, groups=(found.id,), group=found)
    taught = await store.taught_groups(viewer)
    if found is None:
        return Scope(everyone=False, groups=tuple(g.id for g in taught))
    if found.id not in {g.id for g in taught}:
        raise Forbidden(f"you do not teach group {found.name!r}")
    return Scope(everyone=False, groups=(found.id,), group=found)


async def check_learner(store: Store, viewer: User, learner: User) -> None:
    """Raise :class:`Forbidden` unless ``viewer`` may see ``learner``'s report: their own,
    an admin, or an instructor of one of the learner's groups."""
    if viewer.id == learner.id or viewer.role == "admin":
        return
    if viewer.role != "instructor":
        raise Forbidden("reports are for instructors and admins")
    taught = {g.id for g in await store.taught_groups(viewer)}
    if not taught & {g.id for g in await store.groups(member=learner.id)}:
        raise Forbidden(f"{learner.username} is in none of your groups")
