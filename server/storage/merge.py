"""The merge of a device's push (one transaction under the learner's lock), and the
actions the server records on its own: a REST action, an instructor's grade, a preview."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from server.errors import BadRequest, DeviceRevoked, NotFound
from server.storage.accounts import AccountsStore
from server.storage.base import _server_hlc
from server.storage.engine import Txn
from server.storage.feed import _SLICE, FeedStore, _FeedWriter
from sync.events import Event, Rejection, check_event
from sync.hlc import ZERO
from sync.merge.batch import DeviceEntry, merge
from sync.merge.decide import Context, Decision, decide, grade
from sync.merge.fold import apply_body
from sync.protocol.messages import EventRejection, FeedEntry


class MergeResult(msgspec.Struct, frozen=True):
    acked_seq: int
    accepted: int
    duplicates: int
    rejected: list[EventRejection]
    feed_head: int
    gap_at: int | None = None
    """The first seq that was not applied because the seq before it is missing."""
    entries: list[FeedEntry] = []
    """The feed entries the merge appended, in order (what the echo and fan-out send)."""


MergeHook = Callable[[str, str, MergeResult, float], None]
"""Called after each merge commits with (learner, device, result, seconds it took)."""


class MergeStore(AccountsStore, FeedStore):
    """The merge of a push, and actions the server records."""

    on_merged: MergeHook | None = None
    """Metrics and the merge's log line (``server.metrics.Metrics.merged``)."""

    # -- the merge ---------------------------------------------------------------------

    async def merge(self, device_id: str, events: Sequence[Event]) -> MergeResult:
        """Apply a device's push; see the module docstring. Raises :class:`DeviceRevoked`."""
        user_id = self._device_users.get(device_id)
        if user_id is None:
            owner = await self.engine.fetchval(
                "SELECT user_id FROM device_tokens WHERE device_id = ?", device_id
            )
            if owner is None:
                raise NotFound(f"no device {device_id!r}")
            # A device never changes learner: after the first push this costs no round trip
            # (revocation is checked inside the transaction).
            user_id = self._device_users[device_id] = str(owner)
        start = time.perf_counter()
        # The slice read locks the learner's row and the device's: no lock statement.
        async with self.engine.transaction() as txn:
            result, scopes, version = await self._merge_txn(txn, user_id, device_id, events)
        self._scopes.setdefault(user_id, set()).update(scopes)  # committed: known from now
        self._settled_under[user_id] = version
        if self.on_merged is not None:
            self.on_merged(user_id, device_id, result, time.perf_counter() - start)
        return result

    async def _merge_txn(
        self, txn: Txn, user_id: str, device_id: str, events: Sequence[Event]
    ) -> tuple[MergeResult, set[str], str]:
        """The merge's transaction: one statement reads (and locks) the learner's slice,
        the device and the catalog's version; the pure merge decides; one statement per
        table writes. Returns the result, the scopes it recorded and the catalog version the
        learner's state is now summed under."""
        now = self.clock()
        row = await txn.fetchrow(
            f"SELECT {_SLICE}, d.acked_seq, d.revoked_at, d.mark,"
            " (SELECT version FROM catalog WHERE id = 1) AS catalog_version,"
            # The settled horizon: the lowest mark of the learner's devices heard from
            # lately (sync.merge.horizon).
            " (SELECT min(x.mark) FROM devices x WHERE x.user_id = s.user_id"
            " AND x.revoked_at IS NULL AND COALESCE(x.last_seen_at, x.created_at) >= ?)"
            " AS horizon"
            " FROM user_state s JOIN users u ON u.id = s.user_id"
            " JOIN devices d ON d.id = ? AND d.user_id = s.user_id"
            # The learner's row and the device's: both current once locked.
            f" WHERE s.user_id = ?{txn.locking('s', 'd')}",
            now - self.stale_device_ms,
            device_id,
            user_id,
        )
        assert row is not None
        if row["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked by an administrator")
        catalog = await self._catalog_for(row["catalog_version"], txn.fetchval)
        feed = _FeedWriter.of_row(user_id, row, now, catalog)
        if self._settled_under.get(user_id) != catalog.version:
            await self._summed_under_txn(txn, feed, catalog)
        feed.horizon = str(row["horizon"] or ZERO)
        ctx = Context(catalog, feed.plan, self.policy)
        outcome = merge(
            feed.learner,
            device_id,
            int(row["acked_seq"]),
            events,
            ctx,
            rules=self.rules(ctx.catalog),
            make_code=self._code_maker(user_id),
            now=feed.now,
        )
        feed.append(outcome.entries, outcome.events)
        feed.project(outcome.rows, outcome.zero_competencies)
        feed.scopes = outcome.scopes - self._scopes.get(user_id, set())
        await feed.flush_txn(txn)
        mark = max(
            [str(row["mark"])]
            + [e.event.hlc for e in outcome.entries if isinstance(e, DeviceEntry)]
        )
        await txn.execute(
            "UPDATE devices SET acked_seq = ?, last_seen_at = ?, mark = ?"
            " WHERE id = ? AND user_id = ?",
            outcome.watermark,
            feed.now,
            mark,
            device_id,
            user_id,
        )
        result = MergeResult(
            outcome.watermark,
            outcome.accepted,
            outcome.duplicates,
            outcome.rejected,
            feed.head,
            outcome.gap_at,
            feed.written,
        )
        return result, feed.scopes, catalog.version

    # -- actions over REST and by instructors ----------------------------------------

    async def record_action(self, user_id: str, type_: str, body: dict[str, Any]) -> MergeResult:
        """A learner action made over REST, recorded through the same merge as sync.

        It comes from the learner's server-side device ``rest-<user_id>``, whose own seq
        stream never collides with a real device's.
        """
        device_id = f"rest-{user_id}"
        start = time.perf_counter()
        async with self.engine.transaction(learner=user_id) as txn:
            row = await txn.fetchrow(
                "SELECT acked_seq FROM devices WHERE user_id = ? AND id = ?", user_id, device_id
            )
            if row is None:
                # No token hashes to "none:…": nobody signs in as it.
                await self._add_device_txn(txn, user_id, device_id, "REST API", f"none:{device_id}")
                seq = 1
            else:
                seq = int(row["acked_seq"]) + 1
            now = self.clock()
            # Made "here" for the learner: their own zone, so streaks count their day.
            zone = await txn.fetchval("SELECT timezone FROM users WHERE id = ?", user_id)
            event = Event(seq, _server_hlc(now), now, type_, body, str(zone or "UTC"))
            result, scopes, version = await self._merge_txn(txn, user_id, device_id, [event])
        self._scopes.setdefault(user_id, set()).update(scopes)
        self._settled_under[user_id] = version
        if self.on_merged is not None:
            self.on_merged(user_id, device_id, result, time.perf_counter() - start)
        return result

    async def grade_assignment(
        self,
        user_id: str,
        course: str,
        assignment: str,
        *,
        score: float,
        feedback: str,
        graded_by: str,
    ) -> list[Decision]:
        """An instructor's grade, appended to the learner's feed. Raises :class:`BadRequest`
        when there is nothing to grade or the score is out of range."""
        async with self.engine.transaction(learner=user_id) as txn:
            catalog = await self._catalog_txn(txn)
            feed = await _FeedWriter.open_txn(txn, user_id, self.clock(), catalog)
            ctx = Context(catalog, feed.plan, self.policy)
            try:
                decisions = grade(
                    feed.state,
                    ctx,
                    course,
                    assignment,
                    score=score,
                    feedback=feedback,
                    graded_by=graded_by,
                    at=feed.now,
                )
            except ValueError as err:
                raise BadRequest(str(err)) from None
            self._append_now(feed, ctx, decisions, courses={course})
            await feed.flush_txn(txn)
        return decisions

    async def preview_action(
        self, user_id: str, type_: str, body: dict[str, Any]
    ) -> list[Decision]:
        """The decisions :meth:`record_action` would make for this action now, without
        recording anything (e.g. whether an enrollment would be refused). Advisory: another
        action may change the answer before the learner acts. Raises :class:`BadRequest`
        when the event itself would be rejected, :class:`NotFound` for an unknown user."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        catalog = await self.catalog()
        now = self.clock()
        event = Event(1, _server_hlc(now), now, type_, body, "UTC")
        verdict = check_event(event, catalog)
        if isinstance(verdict, Rejection):
            raise BadRequest(verdict.reason)
        state = await self.user_state(user_id)  # a fresh copy: the preview mutates it
        stamp = (event.hlc, f"preview-{user_id}", event.seq)
        apply_body(state, stamp, now, verdict)
        return decide(state, verdict, stamp, now, Context(catalog, user.plan, self.policy))
