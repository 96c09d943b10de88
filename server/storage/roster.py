"""Who is in which group and when each learner's devices were last heard from: what the
instructors' dashboard lists on its home page (``server.dashboard``). Reads only."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from server.storage.accounts import AccountsStore


class RosterLearner(msgspec.Struct, frozen=True):
    """A learner and their devices' sync times (server clock, ms; revoked devices left
    out): ``last_sync_at`` the latest, ``None`` when no device has synced yet;
    ``stale_devices`` how many of the ``devices`` were last heard before the cut-off the
    caller gave (or never)."""

    id: str
    username: str
    timezone: str
    devices: int
    last_sync_at: int | None
    stale_devices: int


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class RosterStore(AccountsStore):
    """Group membership and device freshness, for the dashboard."""

    async def group_members_of(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        """The member user ids of each of ``group_ids`` (every id a key, maybe empty)."""
        members: dict[str, list[str]] = {g: [] for g in group_ids}
        if not group_ids:
            return members
        rows = await self.engine.fetch(
            "SELECT group_id, user_id FROM group_members"
            f" WHERE group_id IN ({_marks(len(group_ids))}) ORDER BY group_id, user_id",
            *group_ids,
        )
        for row in rows:
            members[str(row["group_id"])].append(str(row["user_id"]))
        return members

    async def roster(
        self, groups: Sequence[str] | None, *, stale_before: int
    ) -> list[RosterLearner]:
        """The learners in any of ``groups`` (``None``: every learner), by name, with their
        devices' freshness; a device last heard before ``stale_before`` (ms) is stale."""
        if groups is not None and not groups:
            return []
        where = ""
        args: tuple[str, ...] = ()
        if groups is not None:
            where = (
                " AND u.id IN (SELECT m.user_id FROM group_members m"
                f" WHERE m.group_id IN ({_marks(len(groups))}))"
            )
            args = tuple(groups)
        rows = await self.engine.fetch(
            "SELECT u.id, u.username, u.timezone, COUNT(d.id) AS devices,"
            " MAX(d.last_seen_at) AS last_sync_at,"
            " SUM(CASE WHEN d.id IS NOT NULL AND COALESCE(d.last_seen_at, 0) < ?"
            " THEN 1 ELSE 0 END) AS stale_devices"
            " FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.revoked_at IS NULL"
            f" WHERE u.role = 'learner'{where}"
            " GROUP BY u.id, u.username, u.timezone ORDER BY u.username",
            stale_before,
            *args,
        )
        return [
            RosterLearner(
                str(r["id"]),
                str(r["username"]),
                str(r["timezone"]),
                int(r["devices"]),
                None if r["last_sync_at"] is None else int(r["last_sync_at"]),
                int(r["stale_devices"] or 0),
            )
            for r in rows
        ]

    async def last_sync_of(self, user_id: str) -> int | None:
        """When a device of ``user_id`` was last heard from (ms), or ``None``."""
        found = await self.engine.fetchval(
            "SELECT MAX(last_seen_at) FROM devices WHERE user_id = ? AND revoked_at IS NULL",
            user_id,
        )
        return None if found is None else int(found)
