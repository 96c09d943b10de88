"""The storage contract: every test runs on SQLite and on PostgreSQL (``db_url``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from pathlib import Path

import msgspec
import pytest

from server.errors import Conflict, DeviceRevoked, NotFound
from server.storage.engine import PostgresEngine, open_engine
from server.storage.store import Store, hash_token
from sync.catalog import parse_catalog
from sync.events import Event
from sync.gamify import local_day
from sync.merge.fold import Fact, fold
from sync.views import progress_view
from tests.server.conftest import T0, Clock, catalog


def ev(seq: int, type_: str = "lesson.opened", **body: object) -> Event:
    body = {"course": "c1", "lesson": "read", **body}
    return Event(seq, f"{T0 + seq:013d}-0000", T0 + seq, type_, body, "Europe/Paris")


async def learner(store: Store, name: str = "ann") -> tuple[str, str]:
    user = await store.create_user(name, "pw")
    device, _token = await store.register_device(user.id, "laptop")
    return user.id, device.id


async def test_migrations_run_once_and_reopening_applies_none(store: Store) -> None:
    again = Store(type(store.engine)(*_engine_args(store)), clock=Clock())
    assert await again.open() == []
    await again.close()


RELEASE_0_1 = Path(__file__).parents[1] / "fixtures" / "release_0_1"


async def test_a_database_built_by_release_0_1_migrates_keeping_every_number(
    db_url: str,
) -> None:
    """A database as release 0.1 left it (tests/fixtures/make_release_0_1.py: feed head on
    users, no learner row without progress, no outbox, global unique keys): today's store
    migrates it and shows every user, device, feed entry, view and certificate as 0.1 did;
    names stay unique; a later push continues the feed and announces nothing old."""
    script = RELEASE_0_1.with_suffix(".sql").read_text()
    expected = json.loads(RELEASE_0_1.with_suffix(".json").read_text())
    engine = open_engine(db_url)
    if isinstance(engine, PostgresEngine):
        await engine.open()
        await engine.pool.execute(script)
        await engine.close()
    else:
        with contextlib.closing(sqlite3.connect(engine.path)) as conn:  # type: ignore[attr-defined]
            conn.executescript(script)
    clock = Clock()
    clock.now = expected["now"]
    store = Store.for_url(db_url, clock=clock)
    applied = await store.open()
    try:
        # Every migration after release 0.1's (3); a failure here still closes the store.
        assert applied == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        for name, want in expected["users"].items():
            user = await store.user_by_name(name)
            assert user is not None
            assert msgspec.to_builtins(user) == want["user"]
            # What a device of 0.1 holds unsent is unknown (it never said): None, not 0.
            unknown = {"reported_seq": None, "reported_at": None}
            devices = [d | unknown for d in want["devices"]]
            assert msgspec.to_builtins(await store.devices_of(user.id)) == devices
            assert msgspec.to_builtins(await store.learner(user.id)) == want["learner"]
            feed = await store.feed_after(user.id, 0, 10_000)
            assert msgspec.to_builtins(feed) == want["feed"]
            for cert in want["certificates"]:
                found = await store.certificate(cert["code"])
                assert msgspec.to_builtins(found) == cert
            assert await store.verify(user.id) == []  # the projection tables were filled too
        filled = await store.engine.fetchval("SELECT COUNT(*) FROM lesson_progress")
        assert filled and filled > 0
        assert await store.authenticate_user("ann", "pw") is not None
        with pytest.raises(Conflict):
            await store.create_user("ann", "again")
        ann = expected["users"]["ann"]
        laptop = next(d for d in ann["devices"] if d["name"] == "laptop")
        head = ann["user"]["feed_head"]
        at = T0 + 400 * 86_400_000
        later = Event(
            laptop["acked_seq"] + 1,
            f"{at:013d}-0000",
            at,
            "lesson.completed",
            {"course": "shell", "lesson": "l1"},
            "Europe/Paris",
        )
        result = await store.merge(laptop["id"], [later])
        assert result.acked_seq == later.seq
        new = await store.feed_after(ann["id"], head, 100)
        assert [e.user_seq for e in new] == list(range(head + 1, result.feed_head + 1))
        announced = await store.outbox_tail(100, user_id=ann["id"])
        # l1 again completed (it was uncompleted in 0.1): announced; nothing from before.
        assert [e.body.get("lesson") for e in announced if "lesson" in e.body] == ["l1", "l1"]
        assert all(e.user_seq > head for e in announced)
        bob = await store.user_by_name("bob")
        assert bob is not None and bob.feed_head == 0
    finally:
        await store.close()


def _engine_args(store: Store) -> tuple[object, ...]:
    engine = store.engine
    return (engine.url,) if engine.dialect == "postgresql" else (engine.url, engine.path)  # type: ignore[attr-defined]


async def test_user_names_are_unique(store: Store) -> None:
    await store.create_user("ann", "pw")
    with pytest.raises(Conflict, match="already exists"):
        await store.create_user("ann", "other")


async def test_password_is_checked_and_stored_hashed(store: Store) -> None:
    await store.create_user("ann", "s3cret")
    assert await store.authenticate_user("ann", "s3cret") is not None
    assert await store.authenticate_user("ann", "wrong") is None
    stored = await store.engine.fetchval("SELECT password_hash FROM users")
    assert "s3cret" not in stored


async def test_token_finds_its_device_and_is_stored_hashed(store: Store) -> None:
    user = await store.create_user("ann", "pw")
    device, token = await store.register_device(user.id, "phone")
    found = await store.device_by_token(token)
    assert found is not None and found.id == device.id
    assert await store.device_by_token(token + "x") is None
    for table in ("devices", "device_tokens"):
        assert token not in str(await store.engine.fetch(f"SELECT * FROM {table}"))
    hashes = await store.engine.fetch("SELECT token_hash FROM device_tokens")
    assert [r["token_hash"] for r in hashes] == [hash_token(token)]


async def test_merge_appends_accepted_events_and_acks_the_highest_seq(store: Store) -> None:
    user_id, device_id = await learner(store)
    result = await store.merge(device_id, [ev(1), ev(2, "lesson.completed")])
    assert (result.acked_seq, result.accepted, result.duplicates) == (2, 2, 0)
    feed = await store.feed_after(user_id, 0, 10)
    assert [(e.origin, e.seq) for e in feed if e.origin == "device"] == [
        ("device", 1),
        ("device", 2),
    ]
    # After each fact, the awards it earned (the first activity of the day, the lesson).
    assert [e.body.get("key") for e in feed if e.origin == "server"] == [
        f"points:streak-day:{local_day(T0, 'Europe/Paris').isoformat()}",
        "points:lesson-completed:c1/read",
    ]
    assert [e.user_seq for e in feed] == list(range(1, len(feed) + 1))
    assert result.feed_head == len(feed)
    device = await store.device_by_id(device_id)
    assert device is not None and device.acked_seq == 2


async def test_replayed_events_are_duplicates_and_change_nothing(store: Store) -> None:
    user_id, device_id = await learner(store)
    events = [ev(1, "lesson.progressed", seconds=30), ev(2, "lesson.progressed", seconds=40)]
    first = await store.merge(device_id, events)
    before = await store.user_state(user_id)
    again = await store.merge(device_id, events)
    assert (again.accepted, again.duplicates, again.acked_seq) == (0, 2, 2)
    assert again.feed_head == first.feed_head
    assert await store.user_state(user_id) == before
    assert before.lessons["c1/read"].seconds == 70


async def test_a_gap_stops_the_merge_at_the_missing_seq(store: Store) -> None:
    _user_id, device_id = await learner(store)
    result = await store.merge(device_id, [ev(1), ev(3), ev(4)])
    assert (result.acked_seq, result.accepted, result.gap_at) == (1, 1, 3)


async def test_rejected_events_are_recorded_in_the_feed_and_acked(store: Store) -> None:
    user_id, device_id = await learner(store)
    bad = Event(1, f"{T0:013d}-0000", T0, "lesson.opened", {"course": "c1", "lesson": "nope"})
    result = await store.merge(device_id, [bad, ev(2)])
    assert result.acked_seq == 2 and result.accepted == 1
    assert [(r.seq, r.code) for r in result.rejected] == [(1, "unknown_lesson")]
    first = (await store.feed_after(user_id, 0, 1))[0]
    assert (first.origin, first.type, first.body["seq"], first.body["code"]) == (
        "server",
        "event.rejected",
        1,
        "unknown_lesson",
    )


async def test_a_revoked_device_cannot_merge(store: Store) -> None:
    _user_id, device_id = await learner(store)
    await store.revoke_device(device_id)
    with pytest.raises(DeviceRevoked):
        await store.merge(device_id, [ev(1)])
    with pytest.raises(NotFound):
        await store.revoke_device("no-such-device")


async def test_a_steady_push_reads_nothing_outside_its_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a device's first push, the store knows its learner: later pushes go straight
    to the learner's transaction (no device look-up before it), and a revocation made in
    between is still refused inside it."""
    _user_id, device_id = await learner(store)
    await store.merge(device_id, [ev(1)])
    outside: list[str] = []
    for name in ("fetch", "fetchrow", "fetchval"):
        real = getattr(store.engine, name)

        async def spy(sql: str, *args: object, _real=real) -> object:  # type: ignore[no-untyped-def]
            outside.append(sql)
            return await _real(sql, *args)

        monkeypatch.setattr(store.engine, name, spy)
    result = await store.merge(device_id, [ev(2)])
    assert result.acked_seq == 2
    assert outside == []
    monkeypatch.undo()
    await store.revoke_device(device_id)
    with pytest.raises(DeviceRevoked):
        await store.merge(device_id, [ev(3)])


def _kind(sql: str) -> str:
    """A statement as its verb and main table, e.g. ``INSERT feed``, ``SELECT pg_notify``."""
    while (flat := re.sub(r"\([^()]*\)", " ", sql)) != sql:  # subqueries and lists out
        sql = flat
    words = sql.replace(";", " ").split()
    verb = words[0].upper()
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb
    if verb == "INSERT":
        return f"INSERT {words[2]}"
    if verb == "UPDATE":
        return f"UPDATE {words[1]}"
    if "FROM" in words:
        return "SELECT " + words[words.index("FROM") + 1]
    return " ".join(words[:2])


async def _steady_push(store: Store, events: list[Event]) -> list[str]:
    """The statements of a push of a device whose learner the store knows, the
    notification that tells the learner's other connections included."""
    _user_id, device_id = await learner(store)
    await store.merge(device_id, [ev(1)])  # the first push: learns the device's learner
    async with store.engine.trace() as sent:
        result = await store.merge(device_id, events)
        assert result.acked_seq == events[-1].seq
    return [_kind(sql) for sql in sent]  # pg_notify's SELECT has no FROM: "SELECT pg_notify"


async def test_a_steady_push_costs_at_most_nine_statements(store: Store) -> None:
    """Fifty heartbeats: BEGIN, one read that locks the learner's and the device's rows,
    one insert into the feed, NOTIFY (PostgreSQL; delivered at commit), the lesson's
    projection row (an upsert), the day's seconds (an upsert adding them), the state, the
    watermark, COMMIT. Whatever the batch size
    (one multi-row insert), and with no pool reset on the connections."""
    beats = [ev(n, "lesson.progressed", seconds=5) for n in range(2, 52)]
    kinds = await _steady_push(store, beats)
    notify = ["SELECT pg_notify"] if store.engine.dialect == "postgresql" else []
    expected = [
        "BEGIN",
        "SELECT user_state",
        "INSERT feed",
        *notify,
        "INSERT lesson_progress",
        "UPDATE user_state",
        "INSERT daily_time",
        "UPDATE devices",
        "COMMIT",
    ]
    assert kinds == expected
    assert len(kinds) <= 9


async def test_an_engine_that_does_not_notify_sends_no_pg_notify(store: Store) -> None:
    """With the Redis fan-out nobody LISTENs: commits skip NOTIFY (it serializes them)."""
    if store.engine.dialect != "postgresql":
        pytest.skip("only PostgreSQL notifies")
    store.engine.notifies = False  # type: ignore[attr-defined]
    beats = [ev(n, "lesson.progressed", seconds=5) for n in range(2, 5)]
    kinds = await _steady_push(store, beats)
    assert "SELECT pg_notify" not in kinds and kinds.count("INSERT feed") == 1


async def test_a_push_with_domain_events_adds_one_outbox_insert(store: Store) -> None:
    kinds = await _steady_push(store, [ev(2, "lesson.completed")])
    assert kinds.count("INSERT outbox") == 1
    assert kinds.count("INSERT feed") == 1
    # Awards earned by the completion go to their tables, one statement each.
    assert kinds.count("INSERT points_ledger") == 1
    assert kinds[0] == "BEGIN" and kinds.count("COMMIT") == 1


async def test_feed_pages_from_a_cursor(store: Store) -> None:
    user_id, device_id = await learner(store)
    await store.merge(device_id, [ev(i) for i in range(1, 8)])
    page = await store.feed_after(user_id, 3, 2)
    assert [e.user_seq for e in page] == [4, 5]
    assert await store.feed_head(user_id) == len(await store.feed_after(user_id, 0, 100)) == 8


async def test_materialized_state_equals_the_fold_of_the_feed(store: Store) -> None:
    user_id, device_id = await learner(store)
    await store.merge(
        device_id,
        [
            ev(1, "lesson.progressed", lesson="video", seconds=60, **{"from": 0, "to": 100}),
            ev(2, "lesson.progressed", lesson="video", seconds=60, **{"from": 90, "to": 190}),
            ev(3, "lesson.completed"),
            ev(4, "lesson.uncompleted"),
        ],
    )
    feed = await store.feed_after(user_id, 0, 100)
    facts = [Fact(e.device_id or "", e.seq or 0, e.hlc, e.at, e.type, e.body) for e in feed]
    assert await store.user_state(user_id) == fold(facts)
    view = {
        lesson.id: lesson for lesson in progress_view(fold(facts), catalog())[0].modules[1].lessons
    }
    assert view["video"].status == "completed" and view["video"].watched_percent == 95.0


async def test_a_new_catalog_replaces_the_old_one(store: Store) -> None:
    smaller = parse_catalog('{"courses": [{"id": "c9"}]}', "json")
    await store.load_catalog(smaller)
    assert [c.id for c in (await store.catalog()).courses] == ["c9"]


async def test_concurrent_merges_of_one_user_never_skip_or_reuse_a_user_seq(
    store: Store, db_url: str
) -> None:
    # Two stores = two server instances sharing the database.
    other = Store.for_url(db_url, clock=Clock())
    await other.open()
    user = await store.create_user("ann", "pw")
    devices = [(await store.register_device(user.id, f"d{i}"))[0].id for i in range(4)]

    async def push(target: Store, device_id: str) -> None:
        for start in range(1, 41, 10):
            await target.merge(device_id, [ev(s) for s in range(start, start + 10)])

    await asyncio.gather(*(push(s, d) for s, d in zip([store, other] * 2, devices, strict=True)))
    await other.close()
    feed = await store.feed_after(user.id, 0, 1000)
    assert [e.user_seq for e in feed] == list(range(1, len(feed) + 1))
    assert len([e for e in feed if e.origin == "device"]) == 160
    assert (await store.user_state(user.id)).lessons["c1/read"].opened is not None


async def test_a_body_that_json_cannot_hold_is_rejected_not_crashed_on(store: Store) -> None:
    import msgspec

    _user_id, device_id = await learner(store)
    odd = Event(
        1,
        f"{T0:013d}-0000",
        T0,
        "lesson.opened",
        {"course": "c1", "lesson": "read", "extra": msgspec.msgpack.Ext(5, b"x")},
    )
    result = await store.merge(device_id, [odd, ev(2)])
    assert [(r.seq, r.code) for r in result.rejected] == [(1, "invalid_body")]
    assert result.accepted == 1 and result.acked_seq == 2
