"""The outbox through the store, on SQLite and PostgreSQL: domain events are written in the
merge's transaction, exactly once per event across replays, duplicates and any split of
the pushes, and `waymark admin outbox tail` shows them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.errors import DeviceRevoked
from server.storage.store import Store
from sync.events import Event
from tests.conftest import waymark
from tests.server.conftest import T0, Clock, catalog

_names = itertools.count()


def ev(seq: int, type_: str, lesson: str, course: str = "c1", **body: object) -> Event:
    at = T0 + seq * 1000
    return Event(seq, f"{at:013d}-0000", at, type_, {"course": course, "lesson": lesson, **body})


async def learner(store: Store) -> tuple[str, str, str]:
    user = await store.create_user(f"u{next(_names)}", "pw")
    laptop, _ = await store.register_device(user.id, "laptop")
    phone, _ = await store.register_device(user.id, "phone")
    return user.id, laptop.id, phone.id


async def outbox(store: Store, user_id: str) -> list[tuple[str, int, str, dict[str, object]]]:
    rows = await store.engine.fetch(
        "SELECT id, user_seq, type, body FROM outbox WHERE user_id = ? ORDER BY user_seq, n",
        user_id,
    )
    return [(r["id"], r["user_seq"], r["type"], json.loads(r["body"])) for r in rows]


lessons = st.sampled_from(["read", "intro", "lab"])
facts = st.lists(
    st.one_of(
        st.tuples(st.just("lesson.completed"), lessons),
        st.tuples(st.just("lesson.uncompleted"), lessons),
        st.tuples(st.just("lesson.opened"), lessons),
        st.tuples(st.just("lesson.progressed"), lessons),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    laptop_facts=facts,
    phone_facts=facts,
    order=st.lists(st.booleans(), min_size=24, max_size=24),
    sizes=st.lists(st.integers(1, 5), min_size=24, max_size=24),
    resend=st.lists(st.integers(0, 3), min_size=24, max_size=24),
)
async def test_each_domain_event_is_written_once_whatever_the_replays(
    store: Store,
    laptop_facts: list[tuple[str, str]],
    phone_facts: list[tuple[str, str]],
    order: list[bool],
    sizes: list[int],
    resend: list[int],
) -> None:
    """Two devices push the same facts in the same global order, once cleanly (one event
    at a time) and once in batches of any size that are resent from an older watermark
    (lost acks): both learners get the same outbox, id for id."""

    def journal(facts: list[tuple[str, str]], seq0: int) -> list[Event]:
        out = []
        for n, (type_, lesson) in enumerate(facts, 1):
            body = {"seconds": 70} if type_ == "lesson.progressed" else {}
            out.append(ev(n, type_, lesson, **body))
        return [Event(e.seq, f"{e.at + seq0:013d}-0000", e.at, e.type, e.body) for e in out]

    journals = {"laptop": journal(laptop_facts, 0), "phone": journal(phone_facts, 1)}
    # The global order in which events first reach the server: the same in both runs.
    schedule: list[tuple[str, int]] = []  # (device, how many new events)
    left = {name: len(j) for name, j in journals.items()}
    for pick, size in zip(itertools.cycle(order), itertools.cycle(sizes), strict=False):
        if not any(left.values()):
            break
        name = "laptop" if pick else "phone"
        if not left[name]:
            name = "phone" if name == "laptop" else "laptop"
        take = min(size, left[name])
        schedule.append((name, take))
        left[name] -= take

    async def run(replays: bool) -> list[tuple[str, int, str, dict[str, object]]]:
        user_id, laptop, phone = await learner(store)
        ids = {"laptop": laptop, "phone": phone}
        sent = {"laptop": 0, "phone": 0}
        for step, (name, take) in enumerate(schedule):
            events = journals[name]
            if replays:
                # Resend up to `resend` events the server already has, then the new ones.
                start = max(0, sent[name] - resend[step % len(resend)])
                result = await store.merge(ids[name], events[start : sent[name] + take])
                assert result.acked_seq == sent[name] + take
                if resend[step % len(resend)] % 2:  # the ack was lost: push it all again
                    again = await store.merge(ids[name], events[: sent[name] + take])
                    assert again.accepted == 0
            else:
                for event in events[sent[name] : sent[name] + take]:
                    await store.merge(ids[name], [event])
            sent[name] += take
        rows = await outbox(store, user_id)
        return [(i.split(":", 1)[1], seq, type_, body) for i, seq, type_, body in rows]

    clean = await run(replays=False)
    replayed = await run(replays=True)
    assert replayed == clean
    assert len({i for i, *_ in clean}) == len(clean)


async def test_outbox_rows_point_at_their_feed_entries_and_commit_with_the_merge(
    store: Store,
) -> None:
    user_id, laptop, _ = await learner(store)
    await store.merge(laptop, [ev(1, "lesson.completed", "read"), ev(2, "lesson.opened", "intro")])
    rows = await outbox(store, user_id)
    assert [(t, b.get("lesson"), b.get("percent")) for _, _, t, b in rows] == [
        ("progress.lesson.completed", "read", None),
        ("progress.updated", "read", 25),
        ("progress.lesson.completed", "intro", None),
        ("progress.module.completed", None, None),
        ("progress.updated", "intro", 50),
    ]
    feed = {e.user_seq: e for e in await store.feed_after(user_id, 0, 100)}
    for id_, user_seq, _, _ in rows:
        assert id_.startswith(f"{user_id}:{user_seq}:")
        assert feed[user_seq].origin == "device"
    assert [feed[s].seq for _, s, _, _ in rows] == [1, 1, 2, 2, 2]
    # A merge that fails writes nothing: a revoked device's push.
    await store.revoke_device(laptop)
    with pytest.raises(DeviceRevoked):
        await store.merge(laptop, [ev(3, "lesson.completed", "lab")])
    assert await outbox(store, user_id) == rows


async def test_progress_from_before_the_outbox_is_not_announced_again(store: Store) -> None:
    user_id, laptop, _ = await learner(store)
    await store.merge(laptop, [ev(1, "lesson.completed", "read")])
    # As a database migrated from before the outbox: no look at the learner yet.
    async with store.engine.transaction() as txn:
        await txn.execute("DELETE FROM outbox")
        await txn.execute("UPDATE user_state SET seen = NULL")
    await store.merge(laptop, [ev(2, "lesson.completed", "intro")])
    assert [
        (t, b.get("lesson"), b.get("previous")) for _, _, t, b in await outbox(store, user_id)
    ] == [
        ("progress.lesson.completed", "intro", None),
        ("progress.module.completed", None, None),
        ("progress.updated", "intro", 25),
    ]


async def test_admin_outbox_tail_prints_the_latest_events(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    store = Store.for_url(db, clock=Clock())
    await store.open()
    await store.load_catalog(catalog())
    user = await store.create_user("ann", "pw")
    device, _ = await store.register_device(user.id, "laptop")
    await store.merge(
        device.id, [ev(1, "lesson.completed", "read"), ev(2, "lesson.completed", "a", "c2")]
    )
    await store.close()
    shown = waymark("admin", "--db", db, "outbox", "tail", "-n", "3", "--user", "ann")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split("  ")[2] for line in lines] == [
        "progress.course.completed",
        "gamification.certificate.issued",
        "gamification.level.reached",
    ]
    assert all(line.split("  ")[1].startswith(f"{user.id}:") for line in lines)
    as_json = waymark("admin", "--db", db, "outbox", "tail", "--json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["type"] for e in events][:2] == ["progress.lesson.completed", "progress.updated"]
    done = [e for e in events if e["type"] == "progress.course.completed"]
    assert [(e["body"], e["occurred_at"]) for e in done] == [
        ({"course": "c2", "completed_at": T0 + 2000}, T0 + 2000)
    ]
    assert {e["user_id"] for e in events} == {user.id}
    missing = waymark("admin", "--db", db, "outbox", "tail", "--user", "bob")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: no user 'bob'")
    bad = waymark("admin", "--db", db, "outbox", "tail", "-n", "0")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
