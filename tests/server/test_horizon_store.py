"""The settled horizon as the store keeps it, on SQLite and PostgreSQL: device marks, the
horizon in the merge's one read, late facts merged at it, refolds after a catalog change,
and every cache still verifying clean against the feed."""

from __future__ import annotations

import msgspec

from server.storage.store import Store
from sync.catalog import catalog_to_builtins, parse_catalog
from sync.events import Event
from sync.hlc import ZERO, format_hlc
from sync.merge.fold import Fact, fold
from sync.merge.horizon import canonical
from sync.views import learner_view
from tests.conftest import CATALOG
from tests.server.conftest import T0, Clock, catalog

DAY = 86_400_000


def beat(seq: int, at: int, **body: object) -> Event:
    body = {"course": "c1", "lesson": "lab", "seconds": 10} | body
    return Event(seq, format_hlc(at, 0), at, "lesson.progressed", body, "UTC")


async def two_devices(store: Store) -> tuple[str, str, str]:
    user = await store.create_user("ann", "pw")
    laptop, _ = await store.register_device(user.id, "laptop")
    phone, _ = await store.register_device(user.id, "phone")
    return user.id, laptop.id, phone.id


async def marks(store: Store, user_id: str) -> dict[str, str]:
    rows = await store.engine.fetch("SELECT id, mark FROM devices WHERE user_id = ?", user_id)
    return {str(r["id"]): str(r["mark"]) for r in rows}


async def test_a_device_that_has_not_pushed_holds_the_horizon_then_lets_it_go(
    store: Store,
) -> None:
    user_id, laptop, phone = await two_devices(store)
    for n in range(4):  # the laptop pushes often; the phone has said nothing yet
        await store.merge(laptop, [beat(s, T0 + s * 1000) for s in range(n * 5 + 1, n * 5 + 6)])
    state = await store.user_state(user_id)
    assert len(state.lessons["c1/lab"].evidence) == 20 and state.lessons["c1/lab"].base is None
    assert (await marks(store, user_id))[phone] == ZERO
    await store.merge(phone, [beat(1, T0 + 100_000, lesson="video")])
    await store.merge(laptop, [beat(21, T0 + 21_000)])  # horizon: the laptop's mark (seq 20)
    state = await store.user_state(user_id)
    lab = state.lessons["c1/lab"]
    assert lab.base is not None and lab.base.seconds == 190 and lab.base.met_at == T0 + 12_000
    assert [e.stamp[2] for e in lab.evidence] == [20, 21]
    assert (await marks(store, user_id)) == {
        laptop: format_hlc(T0 + 21_000, 0),
        phone: format_hlc(T0 + 100_000, 0),
    }
    assert await store.verify(user_id) == []
    view = (await store.learner(user_id)).courses[0].modules[1].lessons[1]
    assert (view.seconds, view.status, view.completed_at) == (210, "completed", T0 + 12_000)


async def test_an_idle_device_s_hello_clock_lets_the_horizon_go(store: Store) -> None:
    """A device with nothing left to push raises its mark to its hello's clock (capped at
    the server's time, never lowered); one with unmerged events does not."""
    assert isinstance(store.clock, Clock)
    store.clock.now = T0 + 1_000_000  # the server's time, after every event below
    user_id, laptop, phone = await two_devices(store)
    await store.merge(laptop, [beat(s, T0 + s * 1000) for s in range(1, 21)])
    device = await store.device_by_id(phone)
    assert device is not None
    await store.device_heard(device, format_hlc(T0 + 50_000, 0), recorded=1)  # unpushed
    assert (await marks(store, user_id))[phone] == ZERO
    before = store.clock.now
    await store.device_heard(device, format_hlc(T0 + 50_000, 0), recorded=0)
    assert (await marks(store, user_id))[phone] == format_hlc(T0 + 50_000, 0)
    seen = await store.device_by_id(phone)
    assert seen is not None and seen.last_seen_at is not None and seen.last_seen_at > before
    await store.device_heard(device, format_hlc(T0 + 40_000, 0), recorded=0)  # never lowered
    await store.device_heard(device, None, recorded=0)
    assert (await marks(store, user_id))[phone] == format_hlc(T0 + 50_000, 0)
    await store.merge(laptop, [beat(21, T0 + 21_000)])  # horizon: the laptop's mark (seq 20)
    lab = (await store.user_state(user_id)).lessons["c1/lab"]
    assert lab.base is not None and lab.base.seconds == 190
    assert [e.stamp[2] for e in lab.evidence] == [20, 21]
    await store.device_heard(device, format_hlc(T0 + 9_000_000, 0), recorded=0)  # ahead
    mark = (await marks(store, user_id))[phone]
    assert format_hlc(T0 + 1_000_000, 0) < mark <= format_hlc(store.clock.now, 0)
    assert await store.verify(user_id) == []


async def test_a_device_silent_too_long_is_merged_at_the_horizon(db_url: str) -> None:
    clock = Clock()
    store = Store.for_url(db_url, clock=clock, stale_device_ms=30 * DAY)
    await store.open()
    try:
        await store.load_catalog(catalog())
        user_id, laptop, phone = await two_devices(store)
        await store.merge(phone, [beat(1, T0 + 1000)])
        clock.now += 31 * DAY  # the phone says nothing for a month
        at = clock.now
        await store.merge(laptop, [beat(1, at), beat(2, at + 1000)])
        await store.merge(laptop, [beat(3, at + 2000)])  # horizon: the laptop's mark alone
        late = Event(2, format_hlc(T0 + 2000, 0), T0 + 2000, "lesson.uncompleted",
                     {"course": "c1", "lesson": "lab"}, "UTC")  # fmt: skip
        await store.merge(phone, [late])
        row = await store.engine.fetchrow(
            "SELECT hlc, sent_hlc FROM feed WHERE user_id = ? AND device_id = ? AND seq = 2",
            user_id,
            phone,
        )
        assert row is not None
        # The phone itself no longer holds the horizon: it is the laptop's mark.
        assert (row["hlc"], row["sent_hlc"]) == (format_hlc(at + 2000, 0), late.hlc)
        # The uncompletion counts as made at the horizon: it cuts what came before it.
        lab = (await store.learner(user_id)).courses[0].modules[1].lessons[1]
        assert (lab.seconds, lab.status) == (40, "in_progress")
        assert await store.verify(user_id) == []
        feed = await store.feed_after(user_id, 0, 100)
        assert feed[-1].hlc == format_hlc(at + 2000, 0)  # devices fold the same stamp
    finally:
        await store.close()


async def test_a_changed_rule_folds_the_summed_evidence_again(store: Store) -> None:
    user_id, laptop, phone = await two_devices(store)
    await store.merge(phone, [beat(1, T0 + 10_000, lesson="video")])
    await store.merge(laptop, [beat(s, T0 + s * 1000, seconds=30) for s in range(1, 4)])
    await store.merge(laptop, [beat(4, T0 + 4000, seconds=30)])
    base = (await store.user_state(user_id)).lessons["c1/lab"].base
    assert base is not None and base.rule == "time:120|0" and base.met_at is None
    # time:120 -> time:60: met at the second event, not the fourth.
    changed = parse_catalog(CATALOG.read_text().replace("time:120", "time:60"), "yaml")
    await store.load_catalog(changed)
    assert user_id in store.last_recomputed
    state = await store.user_state(user_id)
    assert state.lessons["c1/lab"].base is not None
    assert state.lessons["c1/lab"].base.rule == "time:60|0"
    lab = (await store.learner(user_id)).courses[0].modules[1].lessons[1]
    assert (lab.status, lab.completed_at) == ("completed", T0 + 2000)
    assert await store.verify(user_id) == []
    feed = await store.feed_after(user_id, 0, 100)
    facts = [
        Fact(e.device_id or "", e.seq or 0, e.hlc, e.at, e.type, e.body)
        for e in feed
        if e.origin == "device"
    ]
    assert canonical(state, changed) == canonical(fold(facts), changed)
    assert msgspec.to_builtins(learner_view(fold(facts), changed).courses) == msgspec.to_builtins(
        (await store.learner(user_id)).courses
    )


async def test_a_merge_folds_again_when_the_catalog_changed_under_it(store: Store) -> None:
    """A catalog change the review did not reach (the learner is reviewed by scope) is
    caught by the learner's next push."""
    user_id, laptop, phone = await two_devices(store)
    await store.merge(phone, [beat(1, T0 + 10_000, lesson="video")])
    await store.merge(laptop, [beat(s, T0 + s * 1000, seconds=30) for s in range(1, 4)])
    await store.merge(laptop, [beat(4, T0 + 4000, seconds=30)])
    changed = parse_catalog(CATALOG.read_text().replace("time:120", "time:60"), "yaml")
    # Installed without the review (as an instance that has not seen the change yet).
    async with store.engine.transaction() as txn:
        await txn.execute(
            "UPDATE catalog SET version = ?, body = ? WHERE id = 1",
            changed.version,
            msgspec.json.encode(catalog_to_builtins(changed)).decode(),
        )
    await store.merge(laptop, [beat(5, T0 + 5000, seconds=30)])
    state = await store.user_state(user_id)
    assert state.lessons["c1/lab"].base is not None
    assert state.lessons["c1/lab"].base.rule == "time:60|0"
    lab = (await store.learner(user_id)).courses[0].modules[1].lessons[1]
    assert lab.completed_at == T0 + 2000
    assert await store.verify(user_id) == []


async def test_a_hello_that_does_not_say_what_it_recorded_moves_the_horizon_as_zero(
    store: Store,
) -> None:
    """An older client's hello (no ``recorded``): its mark rises as with 0 recorded, as
    before; what it holds unsent is unknown (None), not 0."""
    assert isinstance(store.clock, Clock)
    store.clock.now = T0 + 1_000_000
    user_id, _laptop, phone = await two_devices(store)
    device = await store.device_by_id(phone)
    assert device is not None
    await store.device_heard(device, format_hlc(T0 + 50_000, 0), recorded=None)
    assert (await marks(store, user_id))[phone] == format_hlc(T0 + 50_000, 0)
    heard = await store.device_by_id(phone)
    assert heard is not None
    assert (heard.reported_seq, heard.reported_at, heard.pending) == (None, None, None)
    await store.device_heard(heard, None, recorded=2)
    told = await store.device_by_id(phone)
    assert told is not None and (told.reported_seq, told.pending) == (2, 2)
    assert told.reported_at == told.last_seen_at
