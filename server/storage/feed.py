"""A learner's feed and materialized state: :class:`_FeedWriter` appends inside a
transaction that holds the learner's row; :class:`FeedStore` reads the feed and state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from server.storage.base import (
    StoreBase,
    _body_dec,
    _gamify_dec,
    _json,
    _seen_dec,
    _server_hlc,
    _state_dec,
    _state_enc,
)
from server.storage.engine import Row, Txn
from sync.catalog import Catalog
from sync.events import Event, credited_at
from sync.gamify import AWARD_TYPES, GamifyState, local_day
from sync.hlc import ZERO
from sync.merge.batch import DeviceEntry, Entry, Learner, settle
from sync.merge.decide import Context, Decision
from sync.merge.fold import Decision as FoldDecision
from sync.merge.fold import Fact, UserState, fold
from sync.merge.horizon import compact, needs_refold
from sync.merge.outbox import DomainEvent, Seen, baseline
from sync.merge.projections import KEYS, TABLES, Rows, key_of
from sync.merge.projections import Row as ProjectionRow
from sync.protocol.messages import FeedEntry


def _entry(row: Row) -> FeedEntry:
    return FeedEntry(
        user_seq=row["user_seq"],
        origin=row["origin"],
        type=row["type"],
        body=_body_dec.decode(row["body"]),
        hlc=row["hlc"],
        at=row["at"],
        tz=row["tz"],
        device_id=row["device_id"],
        seq=row["seq"],
    )


def _written(row: tuple[Any, ...]) -> FeedEntry:
    """The feed entry of a row of :data:`_FEED_COLUMNS`, as :func:`_entry` reads it back."""
    _, user_seq, origin, device_id, seq, hlc, at, tz, type_, body, _, _, _ = row
    return FeedEntry(user_seq, origin, type_, _body_dec.decode(body), hlc, at, tz, device_id, seq)


FEED_CHANNEL: Final = "waymark_feed"
"""The NOTIFY channel of feed commits; the payload is ``"<user_id> <head>"``."""


# What a learner's writes load (aliases: u = users, s = user_state).
_SLICE = "s.through_seq, s.state, s.gamify, s.seen, u.plan, u.timezone"

_FEED_COLUMNS: Final = (
    ("user_id", "text"),
    ("user_seq", "bigint"),
    ("origin", "text"),
    ("device_id", "text"),
    ("seq", "bigint"),
    ("hlc", "text"),
    ("at", "bigint"),
    ("tz", "text"),
    ("type", "text"),
    ("body", "text"),
    ("recorded_at", "bigint"),
    ("sent_hlc", "text"),
    ("sent_at", "bigint"),
)
_OUTBOX_COLUMNS: Final = (
    ("user_id", "text"),
    ("id", "text"),
    ("user_seq", "bigint"),
    ("n", "integer"),
    ("type", "text"),
    ("body", "text"),
    ("occurred_at", "bigint"),
    ("recorded_at", "bigint"),
)
_LEDGER_COLUMNS: Final = (
    ("user_id", "text"),
    ("key", "text"),
    ("points", "bigint"),
    ("rule", "text"),
    ("ref", "text"),
    ("earned_at", "bigint"),
    ("week", "text"),
    ("awarded_at", "bigint"),
    ("user_seq", "bigint"),
)
_BADGE_COLUMNS: Final = (
    ("user_id", "text"),
    ("badge_id", "text"),
    ("name", "text"),
    ("earned_at", "bigint"),
    ("points", "bigint"),
    ("evidence", "text"),
    ("user_seq", "bigint"),
)
_CODE_COLUMNS: Final = (("code", "text"), ("user_id", "text"))
_CERTIFICATE_COLUMNS: Final = (
    ("code", "text"),
    ("user_id", "text"),
    ("kind", "text"),
    ("ref", "text"),
    ("title", "text"),
    ("issued_at", "bigint"),
    ("user_seq", "bigint"),
)
_SCOPE_COLUMNS: Final = (("user_id", "text"), ("scope", "text"))
DAILY_COLUMNS: Final = (
    ("user_id", "text"),
    ("course_id", "text"),
    ("day", "text"),
    ("seconds", "bigint"),
)
_ADD_SECONDS: Final = (
    "ON CONFLICT (user_id, course_id, day) DO UPDATE SET seconds = daily_time.seconds"
    " + excluded.seconds"
)

_UPSERT: Final = {
    table: f"ON CONFLICT ({', '.join(KEYS[table])}) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name, _ in columns if name not in KEYS[table])
    for table, columns in TABLES.items()
}
"""Per projection table: an upsert's conflict clause (every column but the key is set)."""

AWARD_TABLES: Final = {
    "points_ledger": _LEDGER_COLUMNS,
    "user_badges": _BADGE_COLUMNS,
    "certificates": _CERTIFICATE_COLUMNS,
}
"""The tables that copy award decisions, and their columns (:func:`award_row`'s order)."""


def daily_seconds(
    type_: str, body: dict[str, Any], at: int, recorded_at: int, tz: str, user_tz: str
) -> tuple[str, str, int] | None:
    """The ``daily_time`` a device event adds: ``(course, day, seconds)`` for a
    ``lesson.progressed`` with seconds, None for any other. The day is the calendar day of
    the time the server credits the event with (its ``at``, never after its receipt), in
    the zone the event reported, else the learner's: the rule of streak days
    (:func:`sync.gamify.local_day`)."""
    seconds = body.get("seconds")
    course = body.get("course")
    if type_ != "lesson.progressed" or not isinstance(course, str):
        return None
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return None
    day = local_day(credited_at(at, recorded_at), tz, user_tz).isoformat()
    return course, day, seconds


def certificate_codes(certificates: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The look-up rows ``(code, user_id)`` of rows of ``certificates``."""
    return [row[:2] for row in certificates]


async def write_learner_row_txn(
    txn: Txn,
    user_id: str,
    head: int,
    state: UserState,
    gamify: GamifyState,
    seen: Seen,
    now: int,
) -> None:
    """Store the learner's head, fold, gamification state and the outbox's last look."""
    await txn.execute(
        "UPDATE user_state SET through_seq = ?, state = ?, gamify = ?, seen = ?,"
        " updated_at = ? WHERE user_id = ?",
        head,
        _state_enc.encode(state).decode(),
        _state_enc.encode(gamify).decode(),
        _state_enc.encode(seen).decode(),
        now,
        user_id,
    )


def award_row(
    user_id: str, user_seq: int, recorded_at: int, type_: str, body: dict[str, Any]
) -> tuple[str, tuple[Any, ...]] | None:
    """The queryable copy of an award (leaderboards, certificate lookup by code): its table
    and row, for the award recorded as feed entry ``user_seq`` at ``recorded_at``; None
    for an award without one (``level.reached``)."""
    if type_ == "points.awarded":
        return "points_ledger", (
            user_id,
            body["key"],
            body["points"],
            body["rule"],
            body["ref"],
            body["at"],
            body["week"],
            recorded_at,
            user_seq,
        )
    if type_ == "achievement.earned":
        return "user_badges", (
            user_id,
            body["achievement_id"],
            body["name"],
            body["earned_at"],
            body["points"],
            _json.encode(body["evidence"]).decode(),
            user_seq,
        )
    if type_ != "certificate.issued":
        return None
    kind = "course" if "course" in body else "path"
    return "certificates", (
        body["code"],
        user_id,
        kind,
        body[kind],
        body["title"],
        body["issued_at"],
        user_seq,
    )


class _FeedWriter:
    """Appends to one user's feed inside a merge transaction (the user's lock is held):
    numbers entries, keeps the materialized state, the gamification state, the award
    tables and the user's scopes in step."""

    def __init__(
        self,
        user_id: str,
        head: int,
        plan: str,
        state: UserState,
        now: int,
        *,
        tz: str = "UTC",
        gamify: GamifyState | None = None,
        seen: Seen | None = None,
    ) -> None:
        self.user_id, self.head, self.plan, self.state, self.now = user_id, head, plan, state, now
        self.tz = tz
        self.gamify = gamify if gamify is not None else GamifyState()
        self.seen: Seen = seen if seen is not None else {}
        self.horizon = ZERO
        """The learner's settled horizon now (the merge clamps to it and sums below it)."""
        self.dirty = False
        """Whether the state changed with no entry to append (it was folded again)."""
        self.projected: dict[str, dict[ProjectionRow, ProjectionRow]] = {}
        """Projection rows to upsert, per table, by key (:mod:`sync.merge.projections`)."""
        self.zero: set[str] = set()
        """Competencies whose ``user_competencies`` row goes (level back to zero)."""
        self.replace: Rows | None = None
        """Every projection row of the learner, replacing what is stored (a review)."""
        self.outbox: list[tuple[Any, ...]] = []
        self.rows: list[tuple[Any, ...]] = []
        self.scopes: set[str] = set()
        self.daily: dict[tuple[str, str], int] = {}
        """Seconds to add to ``daily_time``, by ``(course, day)`` (:func:`daily_seconds`)."""
        self.award_rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in AWARD_TABLES}
        self.written: list[FeedEntry] = []
        """The feed entries this writer's flushes wrote, in order: once committed, what the
        ack, the echo and the fan-out send (no read back)."""

    @classmethod
    async def open_txn(cls, txn: Txn, user_id: str, now: int, catalog: Catalog) -> _FeedWriter:
        """Load the learner's slice (in a transaction that holds ``learner=user_id``)."""
        row = await txn.fetchrow(
            f"SELECT {_SLICE} FROM user_state s JOIN users u ON u.id = s.user_id"
            " WHERE s.user_id = ?",
            user_id,
        )
        assert row is not None
        return cls.of_row(user_id, row, now, catalog)

    @classmethod
    def of_row(cls, user_id: str, row: Row, now: int, catalog: Catalog) -> _FeedWriter:
        """The writer for a learner from a row of :data:`_SLICE` columns."""
        plan = str(row["plan"])
        state = _state_dec.decode(row["state"])
        gamify = _gamify_dec.decode(row["gamify"])
        # NULL: progress from before the outbox: take a look, announce nothing.
        seen = (
            baseline(state, catalog, plan) if row["seen"] is None else _seen_dec.decode(row["seen"])
        )
        return cls(
            user_id,
            int(row["through_seq"]),
            plan,
            state,
            now,
            tz=str(row["timezone"]),
            gamify=gamify,
            seen=seen,
        )

    @property
    def learner(self) -> Learner:
        """The slice the pure merge folds into (the same state objects as this writer's)."""
        return Learner(
            self.user_id, self.state, self.gamify, self.tz, self.plan, self.seen, self.horizon
        )

    def append(self, entries: Sequence[Entry], events: Sequence[DomainEvent] = ()) -> None:
        """Number and queue what :mod:`sync.merge.batch` decided, in its order: the entries, and
        the domain events for the outbox (id ``user:user_seq:n``, stable across rebuilds)."""
        first = self.head + 1
        numbered: dict[int, int] = {}
        for event in events:
            user_seq = first + event.entry
            n = numbered[user_seq] = numbered.get(user_seq, -1) + 1
            self.outbox.append(
                (
                    self.user_id,
                    f"{self.user_id}:{user_seq}:{n}",
                    user_seq,
                    n,
                    event.type,
                    _json.encode(event.body).decode(),
                    event.at,
                    self.now,
                )
            )
        for entry in entries:
            if isinstance(entry, DeviceEntry):
                self.device(
                    entry.device_id, entry.event, entry.body_json, entry.sent_hlc, entry.sent_at
                )
            else:
                self.server(entry.type, entry.body, entry.hlc, entry.at, entry.tz)

    def project(self, rows: Rows, zero: Sequence[str] = ()) -> None:
        """Queue projection rows (the latest row of a key wins) and competency rows to drop."""
        for table, items in rows.items():
            held = self.projected.setdefault(table, {})
            for row in items:
                held[key_of(table, row)] = row
                if table == "user_competencies":
                    self.zero.discard(row[1])
        for competency in zero:
            self.zero.add(competency)
            self.projected.get("user_competencies", {}).pop((self.user_id, competency), None)

    async def _write_projections(self, txn: Txn) -> None:
        if self.replace is not None:
            await replace_projections_txn(txn, self.user_id, self.replace)
        else:
            for table, held in self.projected.items():
                if held:
                    await txn.insert_rows(table, TABLES[table], list(held.values()), _UPSERT[table])
            if self.zero:
                marks = ", ".join("?" * len(self.zero))
                await txn.execute(
                    "DELETE FROM user_competencies WHERE user_id = ?"
                    f" AND competency_id IN ({marks})",
                    self.user_id,
                    *sorted(self.zero),
                )
        self.projected, self.zero, self.replace = {}, set(), None

    def device(
        self,
        device_id: str,
        event: Event,
        body_json: str,
        sent_hlc: str | None = None,
        sent_at: int | None = None,
    ) -> None:
        """Append an accepted device event; ``recorded_at`` is its receipt (this writer's
        ``now``), ``sent_hlc`` / ``sent_at`` the device's own stamp and time where the merge
        took others (:class:`sync.merge.batch.DeviceEntry`)."""
        added = daily_seconds(event.type, event.body, event.at, self.now, event.tz, self.tz)
        if added is not None:
            key = (added[0], added[1])
            self.daily[key] = self.daily.get(key, 0) + added[2]
        self.head += 1
        self.rows.append(
            (
                self.user_id,
                self.head,
                "device",
                device_id,
                event.seq,
                event.hlc,
                event.at,
                event.tz,
                event.type,
                body_json,
                self.now,
                sent_hlc,
                sent_at,
            )
        )

    def server(self, type_: str, body: dict[str, Any], hlc: str, at: int, tz: str) -> None:
        """Append a decision (already folded into ``state`` by ``sync.merge.decide``)."""
        self.head += 1
        self.rows.append(
            (
                self.user_id,
                self.head,
                "server",
                None,
                None,
                hlc,
                at,
                tz,
                type_,
                _json.encode(body).decode(),
                self.now,
                None,
                None,
            )
        )
        if type_ in AWARD_TYPES:
            self._award_row(type_, body)

    def _award_row(self, type_: str, body: dict[str, Any]) -> None:
        found = award_row(self.user_id, self.head, self.now, type_, body)
        if found is not None:
            table, row = found
            self.award_rows[table].append(row)

    async def flush_txn(self, txn: Txn) -> None:
        """Write what was appended: one statement per table written (the feed, the state
        with the new head, the outbox; award rows and new scopes when there are some)."""
        if not self.rows and not self.dirty:
            return
        if self.rows:
            await txn.insert_rows("feed", _FEED_COLUMNS, self.rows)
            self.written.extend(_written(row) for row in self.rows)
            # Delivered at commit, and only then (PostgreSQL's NOTIFY is transactional):
            # the learner's connections on every instance hear of the new head.
            await txn.notify(FEED_CHANNEL, f"{self.user_id} {self.head}")
        await self._write_projections(txn)
        await write_learner_row_txn(
            txn, self.user_id, self.head, self.state, self.gamify, self.seen, self.now
        )
        self.dirty = False
        # The keys make a second copy (of an event, an award) impossible: DO NOTHING keeps
        # the first.
        awards = [(t, AWARD_TABLES[t], rows) for t, rows in self.award_rows.items()]
        for table, columns, rows in (
            ("outbox", _OUTBOX_COLUMNS, self.outbox),
            *awards,
            (
                "certificate_codes",
                _CODE_COLUMNS,
                certificate_codes(self.award_rows["certificates"]),
            ),
            ("user_scopes", _SCOPE_COLUMNS, [(self.user_id, s) for s in sorted(self.scopes)]),
        ):
            if rows:
                await txn.insert_rows(table, columns, rows, "ON CONFLICT DO NOTHING")
        if self.daily:
            # Each event is appended once (its seq is applied once), so adding is exact.
            daily = [(self.user_id, c, d, n) for (c, d), n in sorted(self.daily.items())]
            await txn.insert_rows("daily_time", DAILY_COLUMNS, daily, _ADD_SECONDS)
        self.rows, self.outbox, self.daily = [], [], {}
        self.award_rows = {table: [] for table in AWARD_TABLES}


async def replace_projections_txn(txn: Txn, user_id: str, rows: Rows) -> None:
    """Replace every projection row of the learner with ``rows``."""
    for table, columns in TABLES.items():
        await txn.execute(f"DELETE FROM {table} WHERE user_id = ?", user_id)
        if rows.get(table):
            await txn.insert_rows(table, columns, rows[table])


def fold_rows(rows: Iterable[Row]) -> UserState:
    """The fold of a learner's feed rows (``origin, device_id, seq, hlc, at, type, body,
    user_seq``), in any order: facts by stamp, decisions by ``user_seq``."""
    facts: list[Fact] = []
    decisions: list[FoldDecision] = []
    for row in rows:
        body = _body_dec.decode(row["body"])
        type_, at = str(row["type"]), int(row["at"])
        if row["origin"] == "device":
            facts.append(Fact(row["device_id"], row["seq"], row["hlc"], at, type_, body))
        else:
            decisions.append(FoldDecision(int(row["user_seq"]), type_, body, at))
    return fold(facts, decisions)


class FeedStore(StoreBase):
    """Feed and state."""

    async def _summed_under_txn(self, txn: Txn, feed: _FeedWriter, catalog: Catalog) -> bool:
        """Fold the learner again from their feed if a catalog change left evidence summed
        under another completion rule or module (:func:`sync.merge.horizon.needs_refold`), keeping
        their settled horizon. Returns whether it did (``feed.dirty`` then says so too)."""
        if not needs_refold(feed.state, catalog):
            return False
        rows = await txn.fetch(
            "SELECT origin, device_id, seq, hlc, at, type, body, user_seq FROM feed"
            " WHERE user_id = ?",
            feed.user_id,
        )
        fresh = fold_rows(rows)
        fresh.settled = feed.state.settled
        compact(fresh, catalog, fresh.settled)
        feed.state, feed.dirty = fresh, True
        return True

    async def feed_after(self, user_id: str, cursor: int, limit: int) -> list[FeedEntry]:
        rows = await self.engine.read_feed(
            "SELECT * FROM feed WHERE user_id = ? AND user_seq > ? ORDER BY user_seq LIMIT ?",
            user_id,
            cursor,
            limit,
        )
        return [_entry(r) for r in rows]

    async def feed_head(self, user_id: str) -> int:
        rows = await self.engine.read_feed(
            "SELECT through_seq FROM user_state WHERE user_id = ?", user_id
        )
        return int(rows[0]["through_seq"]) if rows else 0

    async def user_state(self, user_id: str) -> UserState:
        body = await self.engine.fetchval("SELECT state FROM user_state WHERE user_id = ?", user_id)
        return UserState() if body is None else _state_dec.decode(body)

    def _append_now(
        self,
        feed: _FeedWriter,
        ctx: Context,
        decisions: Sequence[Decision],
        *,
        courses: set[str] | None,
    ) -> None:
        """Append decisions the server makes on its own (a grade, a review), stamped now,
        then the awards they earn (:func:`sync.merge.batch.settle`)."""
        settled = settle(
            feed.learner,
            decisions,
            ctx,
            rules=self.rules(ctx.catalog),
            make_code=self._code_maker(feed.user_id),
            now=feed.now,
            hlc=_server_hlc(feed.now),
            courses=courses,
        )
        feed.append(settled.entries, settled.events)
        feed.project(settled.rows, settled.zero_competencies)
