"""Gamification reads and settings: achievements, certificates and badges by code or id,
leaderboard opt-out, groups and weekly leaderboards (awards are made in the merge)."""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec

from server.errors import Conflict, Forbidden, NotFound
from server.storage.accounts import AccountsStore, User
from server.storage.base import _gamify_dec
from sync.gamify import (
    BoardEntry,
    GamifyState,
    GamifyView,
    Leaderboard,
    gamify_view,
    iso_week,
    leaderboard,
)


class IssuedCertificate(msgspec.Struct, frozen=True):
    """A certificate as its verification shows it."""

    code: str
    user_id: str
    username: str
    kind: str
    ref: str
    title: str
    issued_at: int


class EarnedBadgeRecord(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    badge_id: str
    name: str
    earned_at: int
    points: int
    evidence: list[str]


class Group(msgspec.Struct, frozen=True):
    """Learners an instructor put together (for leaderboards)."""

    id: str
    name: str
    created_by: str
    created_at: int
    members: list[str] = []
    """User names; filled only where the caller may see them."""
    due: str | None = None
    """When the group should have finished its courses (``YYYY-MM-DD``), for predicted
    completion in reports."""


WEEK_PATTERN: Final = r"^\d{4}-W\d{2}$"


class GamifyStore(AccountsStore):
    """Gamification."""

    async def achievements(self, user_id: str) -> GamifyView:
        """Points, level, streak, badges, certificates and ledger of a learner, now."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        body = await self.engine.fetchval(
            "SELECT gamify FROM user_state WHERE user_id = ?", user_id
        )
        gstate = GamifyState() if body is None else _gamify_dec.decode(body)
        catalog = await self.catalog()
        return gamify_view(
            gstate, catalog, user_tz=user.timezone, now_ms=self.clock(), rules=self.rules(catalog)
        )

    async def certificate(self, code: str) -> IssuedCertificate | None:
        code = code.strip().upper()
        user_id = await self.engine.fetchval(
            "SELECT user_id FROM certificate_codes WHERE code = ?", code
        )
        if user_id is None:
            return None
        row = await self.engine.fetchrow(
            "SELECT c.*, u.username FROM certificates c JOIN users u ON u.id = c.user_id"
            " WHERE c.user_id = ? AND c.code = ?",
            user_id,
            code,
        )
        if row is None:
            return None
        return IssuedCertificate(
            row["code"],
            row["user_id"],
            row["username"],
            row["kind"],
            row["ref"],
            row["title"],
            row["issued_at"],
        )

    async def badge(self, user_id: str, badge_id: str) -> EarnedBadgeRecord | None:
        row = await self.engine.fetchrow(
            "SELECT b.*, u.username FROM user_badges b JOIN users u ON u.id = b.user_id"
            " WHERE b.user_id = ? AND b.badge_id = ?",
            user_id,
            badge_id,
        )
        if row is None:
            return None
        return EarnedBadgeRecord(
            row["user_id"],
            row["username"],
            row["badge_id"],
            row["name"],
            row["earned_at"],
            row["points"],
            msgspec.json.decode(row["evidence"], type=list[str]),
        )

    async def set_leaderboard_opt_out(self, user_id: str, opt_out: bool) -> None:
        """A learner who opts out is left out of every other learner's leaderboard."""
        async with self.engine.transaction() as txn:
            await txn.execute(
                "UPDATE users SET leaderboard_opt_out = ? WHERE id = ?", int(opt_out), user_id
            )

    async def create_group(self, name: str, created_by: str) -> Group:
        group = Group(uuid.uuid4().hex, name, created_by, self.clock())
        async with self.engine.transaction() as txn:
            # Two instructors creating the same name at once: one wins, the other is told.
            await txn.execute(
                "INSERT INTO learner_groups (id, name, created_by, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                group.id,
                group.name,
                group.created_by,
                group.created_at,
            )
            held = await txn.fetchval("SELECT id FROM learner_groups WHERE name = ?", name)
        if held != group.id:
            raise Conflict(f"group {name!r} already exists")
        return group

    async def group(self, name_or_id: str, *, members: bool = False) -> Group | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM learner_groups WHERE id = ? OR name = ?", name_or_id, name_or_id
        )
        if row is None:
            return None
        names: list[str] = []
        if members:
            rows = await self.engine.fetch(
                "SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.group_id = ? ORDER BY u.username",
                row["id"],
            )
            names = [str(r["username"]) for r in rows]
        return Group(
            row["id"], row["name"], row["created_by"], row["created_at"], names, row["due"]
        )

    async def groups(self, *, member: str | None = None) -> list[Group]:
        """Every group, or those ``member`` (a user id) belongs to."""
        if member is None:
            rows = await self.engine.fetch("SELECT * FROM learner_groups ORDER BY name")
        else:
            rows = await self.engine.fetch(
                "SELECT g.* FROM learner_groups g JOIN group_members m ON m.group_id = g.id"
                " WHERE m.user_id = ? ORDER BY g.name",
                member,
            )
        return [
            Group(r["id"], r["name"], r["created_by"], r["created_at"], due=r["due"]) for r in rows
        ]

    async def taught_groups(self, viewer: User) -> list[Group]:
        """The groups an instructor created or teaches, by name."""
        rows = await self.engine.fetch(
            "SELECT g.* FROM learner_groups g WHERE g.created_by = ?"
            " OR g.id IN (SELECT group_id FROM group_teachers WHERE user_id = ?)"
            " ORDER BY g.name",
            viewer.username,
            viewer.id,
        )
        return [
            Group(r["id"], r["name"], r["created_by"], r["created_at"], due=r["due"]) for r in rows
        ]

    async def set_teacher(self, group_id: str, user_id: str, teacher: bool) -> None:
        """Make an instructor one of the group's teachers (``teacher``) or not."""
        await self._set_pair("group_teachers", group_id, user_id, teacher)

    async def teachers(self, group_id: str) -> list[str]:
        """The user names of the group's teachers (its creator not included)."""
        rows = await self.engine.fetch(
            "SELECT u.username FROM group_teachers t JOIN users u ON u.id = t.user_id"
            " WHERE t.group_id = ? ORDER BY u.username",
            group_id,
        )
        return [r["username"] for r in rows]

    async def set_group_due(self, group_id: str, due: str | None) -> None:
        """Set or clear the group's due date (``YYYY-MM-DD``)."""
        async with self.engine.transaction() as txn:
            await txn.execute("UPDATE learner_groups SET due = ? WHERE id = ?", due, group_id)

    async def delete_group(self, group_id: str) -> None:
        async with self.engine.transaction() as txn:
            await txn.execute("DELETE FROM group_members WHERE group_id = ?", group_id)
            await txn.execute("DELETE FROM group_teachers WHERE group_id = ?", group_id)
            await txn.execute("DELETE FROM learner_groups WHERE id = ?", group_id)

    async def set_member(self, group_id: str, user_id: str, member: bool) -> None:
        await self._set_pair("group_members", group_id, user_id, member)

    async def _set_pair(self, table: str, group_id: str, user_id: str, on: bool) -> None:
        """Put ``user_id`` in ``table`` (members or teachers) of the group, or take them out."""
        async with self.engine.transaction() as txn:
            if on:
                await txn.execute(
                    f"INSERT INTO {table} (group_id, user_id, added_at) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    group_id,
                    user_id,
                    self.clock(),
                )
            else:
                await txn.execute(
                    f"DELETE FROM {table} WHERE group_id = ? AND user_id = ?", group_id, user_id
                )

    async def leaderboard(
        self,
        viewer: User,
        *,
        group: Group | None = None,
        course: str | None = None,
        week: str | None = None,
        limit: int = 10,
    ) -> Leaderboard:
        """Weekly points of everyone (learners), of a group or of a course's cohort (the
        learners who have progress in it), ranked; opted-out learners are left out of
        everyone's board but their own. ``week``: ``YYYY-Www`` (default: this week in the
        viewer's zone). Raises :class:`Forbidden` when the viewer is not on that board and
        is not an instructor or admin."""
        week = week or iso_week(self.clock(), viewer.timezone)
        staff = viewer.role in ("instructor", "admin")
        if group is not None:
            members = "SELECT user_id FROM group_members WHERE group_id = ?"
            scope: tuple[Any, ...] = (group.id,)
        elif course is not None:
            members = "SELECT user_id FROM user_scopes WHERE scope = ?"
            scope = (f"course:{course}",)
        else:
            members = "SELECT id AS user_id FROM users WHERE role = 'learner'"
            scope = ()
        if not staff:
            inside = await self.engine.fetchval(
                f"SELECT 1 FROM ({members}) AS m WHERE m.user_id = ?", *scope, viewer.id
            )
            if inside is None:
                raise Forbidden("you are not on this leaderboard")
        rows = await self.engine.fetch(
            "SELECT u.username, u.leaderboard_opt_out, SUM(l.points) AS points"
            " FROM points_ledger l JOIN users u ON u.id = l.user_id"
            f" WHERE l.week = ? AND l.user_id IN ({members})"
            " GROUP BY u.username, u.leaderboard_opt_out",
            week,
            *scope,
        )
        entries = [
            BoardEntry(str(r["username"]), int(r["points"]), bool(r["leaderboard_opt_out"]))
            for r in rows
        ]
        if not staff and all(e.user != viewer.username for e in entries):
            entries.append(BoardEntry(viewer.username, 0, viewer.leaderboard_opt_out))
        return leaderboard(entries, viewer=viewer.username, week=week, limit=limit)
