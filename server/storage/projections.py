"""What a learner's progress shows, read from their materialized state; and that state
rebuilt and verified from the feed (``waymark admin rebuild`` / ``verify``).

Everything here except the feed is a cache of the feed: the learner's row (head, fold,
gamification state, the outbox's last look), the award tables (ledger, badges,
certificates and their codes) and the scopes the learner touched. :meth:`verify`
recomputes them from the feed and lists what differs; :meth:`rebuild` replaces them with
what the feed gives. The outbox is not a cache (it is what was announced) and is left
as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import msgspec

from server.errors import NotFound
from server.storage.accounts import AccountsStore, User
from server.storage.base import _body_dec, _gamify_dec, _state_dec
from server.storage.engine import Row
from server.storage.feed import (
    _CODE_COLUMNS,
    _SCOPE_COLUMNS,
    AWARD_TABLES,
    DAILY_COLUMNS,
    FeedStore,
    award_row,
    certificate_codes,
    daily_seconds,
    fold_rows,
    replace_projections_txn,
    write_learner_row_txn,
)
from sync.events import credited_at
from sync.gamify import AWARD_TYPES, GamifyState, gamify_fold, is_activity
from sync.hlc import ZERO
from sync.merge.fold import UserState
from sync.merge.horizon import canonical, compact
from sync.merge.outbox import baseline
from sync.merge.projections import TABLES, all_rows
from sync.views import LearnerView, learner_view

Fetch = Callable[..., Awaitable[list[Row]]]

_CACHED_TABLES: tuple[tuple[str, Sequence[tuple[str, str]]], ...] = (
    *AWARD_TABLES.items(),
    ("certificate_codes", _CODE_COLUMNS),
    ("user_scopes", _SCOPE_COLUMNS),
    ("daily_time", DAILY_COLUMNS),
)


class Derived(NamedTuple):
    """What a learner's feed gives: the head, the fold, the gamification state (without
    the awards memo) and the rows of each cached table; and the learner it is of."""

    user: User
    head: int
    state: UserState
    gamify: GamifyState
    rows: dict[str, set[tuple[Any, ...]]]


def _differences(path: str, stored: Any, derived: Any, out: list[str], limit: int = 20) -> None:
    """Where two JSON-like values differ, as ``path: stored X, from the feed Y`` lines."""
    if len(out) >= limit or stored == derived:
        return
    if isinstance(stored, dict) and isinstance(derived, dict):
        for key in sorted(set(stored) | set(derived), key=str):
            _differences(f"{path}.{key}", stored.get(key), derived.get(key), out, limit)
        return
    out.append(f"{path}: stored {stored!r}, from the feed {derived!r}")


class ProjectionsStore(AccountsStore, FeedStore):
    """The learner's views, and the caches of the feed rebuilt and verified."""

    async def learner(self, user_id: str) -> LearnerView:
        """Everything the learner's progress shows (``sync.views.learner_view``)."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return learner_view(await self.user_state(user_id), await self.catalog(), user.plan)

    async def learner_ids(self) -> list[str]:
        """Every user's id (each has a learner row), in a stable order."""
        rows = await self.engine.fetch("SELECT user_id FROM user_state ORDER BY user_id")
        return [str(r["user_id"]) for r in rows]

    async def _derive(self, user_id: str, fetch: Fetch) -> Derived:
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        feed = await fetch("SELECT * FROM feed WHERE user_id = ? ORDER BY user_seq", user_id)
        activity: list[tuple[int, str]] = []
        awarded: list[tuple[str, dict[str, Any], int]] = []  # at the server's time
        rows: dict[str, set[tuple[Any, ...]]] = {table: set() for table, _ in _CACHED_TABLES}
        daily: dict[tuple[str, str], int] = {}
        for row in feed:
            body = _body_dec.decode(row["body"])
            type_, at, user_seq = str(row["type"]), int(row["at"]), int(row["user_seq"])
            if row["origin"] == "device":
                added = daily_seconds(
                    type_, body, at, int(row["recorded_at"]), str(row["tz"]), user.timezone
                )
                if added is not None:
                    daily[added[:2]] = daily.get(added[:2], 0) + added[2]
                if is_activity(type_):  # credited as the merge did: never after receipt
                    activity.append((credited_at(at, int(row["recorded_at"])), str(row["tz"])))
                for name in ("course", "path"):
                    if isinstance(body.get(name), str):
                        rows["user_scopes"].add((user_id, f"{name}:{body[name]}"))
            elif type_ in AWARD_TYPES:
                # The award's row exactly as the merge wrote it (same function).
                recorded_at = int(row["recorded_at"])
                awarded.append((type_, body, recorded_at))
                found = award_row(user_id, user_seq, recorded_at, type_, body)
                if found is not None:
                    rows[found[0]].add(found[1])
        rows["certificate_codes"] = set(certificate_codes(rows["certificates"]))
        rows["daily_time"] = {(user_id, c, d, n) for (c, d), n in daily.items()}
        gamify = gamify_fold(activity, awarded, user_tz=user.timezone)
        head = int(feed[-1]["user_seq"]) if feed else 0
        return Derived(user, head, fold_rows(feed), gamify, rows)

    async def verify(self, user_id: str) -> list[str]:
        """What differs between the learner's caches and their feed (empty: nothing)."""
        derived = await self._derive(user_id, self.engine.fetch)
        row = await self.engine.fetchrow(
            "SELECT through_seq, state, gamify FROM user_state WHERE user_id = ?", user_id
        )
        assert row is not None
        out: list[str] = []
        if int(row["through_seq"]) != derived.head:
            out.append(f"feed head: stored {row['through_seq']}, from the feed {derived.head}")
        # Each side summed as far as it goes (sync.merge.horizon.canonical): how far the merge
        # had summed the evidence is not a difference.
        catalog = await self.catalog()
        state = msgspec.to_builtins(canonical(_state_dec.decode(row["state"]), catalog))
        _differences("state", state, msgspec.to_builtins(canonical(derived.state, catalog)), out)
        stored_gamify = msgspec.to_builtins(_gamify_dec.decode(row["gamify"]))
        # `done` is the merge's memo of where awards already looked, not a fact to verify.
        stored_gamify.pop("done", None)
        derived_gamify = msgspec.to_builtins(derived.gamify)
        derived_gamify.pop("done", None)
        _differences("gamification", stored_gamify, derived_gamify, out)
        derived_projections = all_rows(derived.state, catalog, derived.user.plan, user_id)
        for table, columns in [*_CACHED_TABLES, *TABLES.items()]:
            want = derived.rows[table] if table in derived.rows else set(derived_projections[table])
            names = ", ".join(name for name, _ in columns)
            stored_rows = {
                tuple(r)
                for r in await self.engine.fetch(
                    f"SELECT {names} FROM {table} WHERE user_id = ?", user_id
                )
            }
            for extra in sorted(stored_rows - want, key=repr):
                out.append(f"{table}: stored row {extra!r} is not in the feed")
            for missing in sorted(want - stored_rows, key=repr):
                out.append(f"{table}: the feed's row {missing!r} is missing")
        return out

    async def rebuild(self, user_id: str) -> None:
        """Replace the learner's caches with what their feed gives (under their lock)."""
        async with self.engine.transaction(learner=user_id) as txn:
            derived = await self._derive(user_id, txn.fetch)
            catalog = await self._catalog_txn(txn)
            # Summed again to the horizon the learner's state had reached (it never goes
            # back: no fact below it is merged any more).
            stored = await txn.fetchval("SELECT state FROM user_state WHERE user_id = ?", user_id)
            derived.state.settled = _state_dec.decode(stored).settled if stored else ZERO
            compact(derived.state, catalog, derived.state.settled)
            # The outbox's look starts from what the feed gives: nothing is announced.
            seen = baseline(derived.state, catalog, derived.user.plan)
            await write_learner_row_txn(
                txn, user_id, derived.head, derived.state, derived.gamify, seen, self.clock()
            )
            for table, columns in _CACHED_TABLES:
                await txn.execute(f"DELETE FROM {table} WHERE user_id = ?", user_id)
                rows = sorted(derived.rows[table], key=repr)
                if rows:
                    await txn.insert_rows(table, columns, rows)
            await replace_projections_txn(
                txn, user_id, all_rows(derived.state, catalog, derived.user.plan, user_id)
            )

    async def open(self) -> list[int]:
        """Open (and migrate) the store, then do the work migrations left for Python: the
        projection tables of learners from before them, filled from their stored state
        (``projections``, 0008), or every cache rebuilt from the feed (``rebuild``, 0014:
        the answers' times and ``daily_time`` are in the feed only)."""
        applied = await super().open()
        pending = {str(r["name"]) for r in await self.engine.fetch("SELECT name FROM pending_work")}
        if "rebuild" in pending:
            for user_id in await self.learner_ids():
                await self.rebuild(user_id)
            async with self.engine.transaction() as txn:
                await txn.execute(
                    "DELETE FROM pending_work WHERE name IN ('rebuild', 'projections')"
                )
        elif "projections" in pending:
            for user_id in await self.learner_ids():
                await self.fill_projections(user_id)
            async with self.engine.transaction() as txn:
                await txn.execute("DELETE FROM pending_work WHERE name = 'projections'")
        return applied

    async def fill_projections(self, user_id: str) -> None:
        """Write the learner's projection rows from their stored state (under their lock)."""
        async with self.engine.transaction(learner=user_id) as txn:
            row = await txn.fetchrow(
                "SELECT s.state, u.plan FROM user_state s JOIN users u ON u.id = s.user_id"
                " WHERE s.user_id = ?",
                user_id,
            )
            assert row is not None
            catalog = await self._catalog_txn(txn)
            state = _state_dec.decode(row["state"])
            rows = all_rows(state, catalog, str(row["plan"]), user_id)
            await replace_projections_txn(txn, user_id, rows)
