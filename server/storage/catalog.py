"""Loading a catalog, and recomputing the learners a catalog change concerns."""

from __future__ import annotations

from typing import Final

from server.storage.base import _json
from server.storage.feed import FeedStore, _FeedWriter
from sync.catalog import Catalog, catalog_to_builtins
from sync.merge.decide import Context, review
from sync.merge.projections import all_rows
from sync.views import competency_evidence

GAMIFICATION_SCOPE: Final = "gamification"
"""A changed catalog ``gamification`` section (points, levels, badges) concerns everyone."""


def changed_scopes(before: Catalog, after: Catalog) -> set[str]:
    """``course:ID`` / ``path:ID`` scopes whose definition differs between two catalogs
    (a competency change touches every course that gives evidence for it)."""
    scopes: set[str] = set()
    old = {c.id: c for c in before.courses}
    for course in after.courses:
        if old.get(course.id) != course:
            scopes.add(f"course:{course.id}")
    scopes |= {f"course:{c}" for c in old if after.course(c) is None}
    old_paths = {p.id: p for p in before.paths}
    for path in after.paths:
        if old_paths.get(path.id) != path:
            scopes.add(f"path:{path.id}")
    old_comp = {c.id: c for c in before.competencies}
    changed = {c.id for c in after.competencies if old_comp.get(c.id) != c}
    for competency in after.competencies:
        if competency.id in changed:
            scopes |= {
                f"course:{course}" for _, course, _ in competency_evidence(after, competency)
            }
    for competency in before.competencies:
        if after.competency(competency.id) is None:  # its learners' rows go
            scopes |= {
                f"course:{course}" for _, course, _ in competency_evidence(before, competency)
            }
    if before.gamification != after.gamification:
        scopes.add(GAMIFICATION_SCOPE)
    return scopes


class CatalogStore(FeedStore):
    """The catalog."""

    async def load_catalog(self, catalog: Catalog) -> str:
        """Make ``catalog`` the current one and recompute the learners the change affects
        (see :meth:`recompute`); returns its version."""
        before = await self.catalog()
        body = _json.encode(catalog_to_builtins(catalog)).decode()
        async with self.engine.transaction() as txn:
            await txn.execute(
                "INSERT INTO catalog (id, version, body, loaded_at) VALUES (1, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
                " body = excluded.body, loaded_at = excluded.loaded_at",
                catalog.version,
                body,
                self.clock(),
            )
        self._catalog = (catalog.version, catalog)
        self.last_recomputed = await self.recompute(changed_scopes(before, catalog))
        return catalog.version

    async def recompute(self, scopes: set[str]) -> list[str]:
        """Review the decisions of every learner who touched one of ``scopes``
        (``course:ID`` / ``path:ID``): new passes under a lowered threshold, milestones,
        paths and competencies the new structure completes. Nothing is revoked. Returns the
        ids of the learners reviewed (the others are not even read)."""
        if not scopes:
            return []
        if GAMIFICATION_SCOPE in scopes:  # new badges or points: everyone with progress
            rows = await self.engine.fetch(
                "SELECT user_id FROM user_state WHERE through_seq > 0 ORDER BY user_id"
            )
        else:
            marks = ", ".join("?" * len(scopes))
            rows = await self.engine.fetch(
                "SELECT DISTINCT user_id FROM user_scopes"
                f" WHERE scope IN ({marks}) ORDER BY user_id",
                *sorted(scopes),
            )
        users = [str(r["user_id"]) for r in rows]
        for user_id in users:
            async with self.engine.transaction(learner=user_id) as txn:
                catalog = await self._catalog_txn(txn)
                feed = await _FeedWriter.open_txn(txn, user_id, self.clock(), catalog)
                # Evidence summed under a rule this catalog changed is summed again first.
                await self._summed_under_txn(txn, feed, catalog)
                ctx = Context(catalog, feed.plan, self.policy)
                self._append_now(feed, ctx, review(feed.state, ctx, feed.now), courses=None)
                # The catalog's structure changed: every row is made again (a lesson
                # removed from the catalog has none any more).
                feed.replace = all_rows(feed.state, catalog, feed.plan, user_id)
                feed.dirty = True
                await feed.flush_txn(txn)
        return users
