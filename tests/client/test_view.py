"""The materialized view equals a full re-fold, whatever the journal went through.

Random sequences of own records, feed pages (other devices' facts, decisions, the device's
own events coming back, some with another HLC, rejections), acks with rejections, feed
resets (backup restore), re-logins with a new device id and reads in between; after each
read and at the end the fold the journal keeps equals the fold of every fact it holds.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from client.journal import Journal
from client.view import Folded
from sync.hlc import format_hlc
from sync.protocol.messages import EventRejection, FeedEntry
from sync.views import learner_view
from tests.client.conftest import CATALOG, T0, account

LESSONS = ({"course": "c1", "lesson": "read"}, {"course": "c1", "lesson": "video"})


def _body(kind: int, lesson: int, n: int, attempt: int) -> tuple[str, dict[str, Any]]:
    where = LESSONS[lesson]
    quiz = {"course": "c2", "quiz": "q1", "attempt": f"a{attempt}"}
    match kind:
        case 0:
            return "lesson.opened", where
        case 1:
            return "lesson.progressed", {
                **LESSONS[1],
                "seconds": n,
                "from": n % 150,
                "to": n % 150 + 40,
                "position": n % 150 + 40,
            }
        case 2:
            return "lesson.completed", where
        case 3:
            return "lesson.uncompleted", where
        case 4:
            return "quiz.answered", {**quiz, "question": "one", "choices": ["a" if n % 2 else "b"]}
        case 5:
            return "quiz.submitted", quiz
        case 6:
            return "course.reset", {"course": "c1"}
        case _:
            return "assignment.submitted", {"course": "c2", "assignment": "essay", "text": str(n)}


def _decision(kind: int, n: int) -> tuple[str, dict[str, Any]]:
    match kind:
        case 0:
            return "quiz.scored", {
                "course": "c2",
                "quiz": "q1",
                "attempt": f"a{n % 3}",
                "number": n % 4 + 1,
                "score": (n % 5) / 4,
                "passed": n % 2 == 0,
                "counted": True,
            }
        case 1:
            return "points.awarded", {"key": f"k{n % 4}", "points": n, "rule": "lesson-completed"}
        case 2:
            return "enrollment.changed", {"path": "p1", "to": ["enrolled", "dropped"][n % 2]}
        case 3:
            return "milestone.unlocked", {"path": "p1", "milestone": "first"}
        case 4:
            return "assignment.graded", {
                "course": "c2",
                "assignment": "essay",
                "score": 1.0,
                "passed": n % 2 == 0,
            }
        case _:
            return "achievement.earned", {"achievement_id": f"b{n % 3}", "points": 5}


fact = st.tuples(st.integers(0, 7), st.integers(0, 1), st.integers(0, 400), st.integers(0, 2))
item = st.one_of(
    st.tuples(st.just("other"), fact, st.integers(-3000, 3000)),
    st.tuples(st.just("decision"), st.integers(0, 5), st.integers(0, 50)),
    st.tuples(st.just("own"), st.integers(0, 50), st.booleans()),  # bool: another HLC
    st.tuples(st.just("rejected"), st.integers(0, 50)),
)
op = st.one_of(
    st.tuples(st.just("record"), fact),
    st.tuples(st.just("record"), fact),
    st.tuples(st.just("page"), st.lists(item, min_size=1, max_size=6)),
    st.tuples(st.just("page"), st.lists(item, min_size=1, max_size=6)),
    st.tuples(st.just("ack_rejects"), st.integers(0, 50)),
    st.tuples(st.just("reset"), st.integers(0, 4)),
    st.tuples(st.just("relogin")),
    st.tuples(st.just("zone")),
    st.tuples(st.just("read")),
)


@dataclass
class Model:
    """What the fake server holds for the learner: its feed, as the device got it."""

    feed: list[FeedEntry] = field(default_factory=list)
    phone_seq: int = 0
    logins: int = 0

    @property
    def head(self) -> int:
        return self.feed[-1].user_seq if self.feed else 0


def _same(a: Folded, b: Folded) -> None:
    assert msgspec.to_builtins(a.state) == msgspec.to_builtins(b.state)
    assert msgspec.to_builtins(a.gamify) == msgspec.to_builtins(b.gamify)
    assert a.seconds == b.seconds and a.tz == b.tz


async def _check(journal: Journal) -> None:
    """What the device shows (read first: each read brings the fold up to date) equals the
    fold of every fact held, and so does the fold kept, in memory and as stored (read by
    another connection, as the next ``waymark status`` would)."""
    alice = await journal.account("alice")
    shown, gamify = await journal.view(alice), await journal.gamify_state(alice)
    full = await journal.refold(alice)
    assert shown == learner_view(full.state, CATALOG, alice.plan)
    assert gamify == full.gamify
    _same(await journal.folded(alice), full)
    async with await Journal.open(journal.path.parent) as another:
        _same(await another.folded(alice), full)
        assert await another.view(alice) == shown


async def _run(home: Path, ops: list[tuple[Any, ...]]) -> None:
    model = Model()
    async with await Journal.open(home) as journal:
        alice = await journal.add_account(account("alice"))
        await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
        for step, (name, *args) in enumerate(ops):
            now = T0 + 10 * step
            alice = await journal.account("alice")
            if name == "record":
                type_, body = _body(*args[0])
                await journal.record(alice, type_, body, now_ms=now, tz="Europe/Paris")
            elif name == "page":
                entries = await _page(journal, model, args[0])
                if entries:
                    await journal.apply_feed(alice.user_id, entries, now_ms=now)
            elif name == "ack_rejects":
                own = [e for e in await journal.pending(alice.device_id, 0) if not _in(model, e)]
                own = [
                    e
                    for e in own
                    if e.seq not in {r.seq for r in await journal.rejected(alice.user_id)}
                ]
                if own:
                    event = own[args[0] % len(own)]
                    rejection = EventRejection(event.seq, "invalid", "no")
                    await journal.mark_acked(alice.device_id, alice.acked_seq, [rejection])
            elif name == "reset":
                head = model.head * args[0] // 4
                model.feed = [e for e in model.feed if e.user_seq <= head]
                await journal.truncate_feed(alice.user_id, head)
            elif name == "relogin":
                model.logins += 1
                fresh = account(
                    "alice", device_id=f"d-alice-{model.logins}", timezone=alice.timezone
                )
                await journal.add_account(fresh)
            elif name == "zone":
                zone = "UTC" if alice.timezone != "UTC" else "Pacific/Pago_Pago"
                await journal.add_account(msgspec.structs.replace(alice, timezone=zone))
            else:
                await _check(journal)
        await _check(journal)


def _in(model: Model, event: Any) -> bool:
    """Whether an own event of the current device is in the feed."""
    return any(e.seq == event.seq and e.device_id not in (None, "phone") for e in model.feed)


async def _page(journal: Journal, model: Model, items: list[tuple[Any, ...]]) -> list[FeedEntry]:
    alice = await journal.account("alice")
    own = {e.seq: e for e in await journal.pending(alice.device_id, 0)}
    rejected = {r.seq for r in await journal.rejected(alice.user_id)}
    held = {e.seq for e in model.feed if e.device_id == alice.device_id}
    waiting = [e for s, e in sorted(own.items()) if s not in rejected and s not in held]
    page: list[FeedEntry] = []
    for kind, *args in items:
        user_seq = model.head + 1
        at = T0 + user_seq
        if kind == "other":
            type_, body = _body(*args[0])
            model.phone_seq += 1
            hlc = format_hlc(T0 + 2000 + args[1], 0)
            zone = "" if args[1] % 2 else "UTC"  # none: the day is the learner's zone's
            entry = FeedEntry(
                user_seq, "device", type_, body, hlc, at, zone, "phone", model.phone_seq
            )
        elif kind == "decision":
            type_, body = _decision(*args)
            entry = FeedEntry(user_seq, "server", type_, body, format_hlc(at, 1), at, "UTC")
        elif not waiting:
            continue
        elif kind == "own":
            event = waiting.pop(args[0] % len(waiting))
            hlc = format_hlc(T0 + 90_000, user_seq) if args[1] else event.hlc  # clamped
            entry = FeedEntry(
                user_seq,
                "device",
                event.type,
                event.body,
                hlc,
                event.at,
                event.tz,
                alice.device_id,
                event.seq,
            )
        else:
            event = waiting.pop(args[0] % len(waiting))
            body = {
                "device_id": alice.device_id,
                "seq": event.seq,
                "code": "invalid",
                "reason": "x",
            }
            entry = FeedEntry(user_seq, "server", "event.rejected", body, format_hlc(at, 2), at)
        model.feed.append(entry)
        page.append(entry)
    return page


R = ("record", (1, 1, 100, 0))
READ = ("read",)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(op, min_size=4, max_size=30))
# Each way the fold must start over or must not count twice, at least once:
@example([R, R, ("page", [("decision", 1, 1)]), ("page", [("own", 0, False)]), READ])  # confirmed
@example([R, READ, ("page", [("own", 0, True)]), READ])  # confirmed with a clamped HLC
@example([R, R, READ, ("ack_rejects", 1), READ, ("page", [("rejected", 0)])])  # rejections
@example([R, ("page", [("own", 0, False), ("other", (1, 1, 9, 0), 0)]), ("reset", 0), R])
@example([R, READ, ("relogin",), R, ("page", [("own", 0, False)])])  # renumbered
@example([("record", (4, 0, 1, 1)), READ, ("page", [("other", (4, 0, 2, 1), -3000)])])  # quiz
@example([("page", [("other", (0, 0, 0, 0), 1)]), READ, ("zone",), READ])
def test_the_materialized_view_equals_a_full_refold(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(_run(Path(home), ops))
