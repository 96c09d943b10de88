"""Each learner's freshness (server/reports/freshness.py), on each engine: last sync,
devices, the work devices said they hold and have not pushed, offline devices and the
state word, against numbers worked out by hand."""

from __future__ import annotations

from server.reports.freshness import OFFLINE_AFTER_MS, Freshness, freshness, freshness_state
from server.reports.scope import Scope
from server.storage.accounts import Device
from server.storage.store import Store
from sync.events import Event
from sync.hlc import format_hlc
from tests.server.conftest import T0

HOUR = 3_600_000


def opened(seq: int, at: int) -> Event:
    return Event(seq, format_hlc(at, 0), at, "lesson.opened", {"course": "c1", "lesson": "intro"})


async def test_freshness_counts_what_devices_said_they_hold_minus_what_they_pushed(
    store: Store,
) -> None:
    frozen = [T0]
    store.clock = lambda: frozen[0]  # every reading of one step the same time
    users = {n: await store.create_user(n, "pw-long-enough") for n in ("ada", "bo", "cy", "dee")}
    await store.create_user("ivy", "pw-long-enough", role="instructor")  # never in a report

    def at(ms: int) -> None:
        frozen[0] = T0 + ms

    async def device(name: str, who: str) -> str:
        found, _ = await store.register_device(users[who].id, name)
        return found.id

    at(0)
    laptop, phone, old = [await device(n, "ada") for n in ("laptop", "phone", "old")]
    lost = await device("lost", "ada")
    bo_phone = await device("phone", "bo")
    dee_tab = await device("tablet", "dee")  # logged in, never synced

    # ada's laptop: hello at 10 h saying 5 recorded; pushes 2 at 10 h 1 min -> 3 pending.
    at(10 * HOUR)
    await store.device_heard(await _dev(store, laptop), None, recorded=5)
    at(10 * HOUR + 60_000)
    await store.merge(laptop, [opened(1, T0), opened(2, T0 + 1)])
    # ada's phone: said 4 at 10 h 30, pushed all 4 -> 0 pending.
    at(10 * HOUR + 30 * 60_000)
    await store.device_heard(await _dev(store, phone), None, recorded=4)
    await store.merge(phone, [opened(s, T0 + s) for s in range(1, 5)])
    # ada's old client: no `recorded` (unknown), heard at 9 h: offline at 10 h 30 + 1 h.
    at(9 * HOUR)
    await store.device_heard(await _dev(store, old), None, recorded=None)
    # A revoked device's claim counts for nothing.
    await store.device_heard(await _dev(store, lost), None, recorded=10)
    await store.revoke_device(lost)
    # ada over REST at 10 h 45: contact, not a device.
    at(10 * HOUR + 45 * 60_000)
    await store.record_action(users["ada"].id, "lesson.opened", {"course": "c1", "lesson": "read"})
    # bo: an old client, heard at 2 h only.
    at(2 * HOUR)
    await store.device_heard(await _dev(store, bo_phone), None, recorded=None)
    assert dee_tab

    now = T0 + 11 * HOUR
    report = await freshness(store, Scope(everyone=True), now=now)
    by_name = {u.username: report[u.id] for u in users.values()}
    assert set(report) == {u.id for u in users.values()}
    assert by_name["ada"] == Freshness(
        last_sync_at=T0 + 10 * HOUR + 45 * 60_000,  # the REST action
        devices=3,  # laptop, phone, old (not the revoked one, not the REST device)
        pending_events=3,  # laptop 5 - 2, phone 4 - 4, old unknown
        pending_since=T0 + 10 * HOUR,
        offline_devices=1,  # old: 2 h silent; the laptop (59 min) and phone (30 min) not
        state="offline work",
    )
    assert by_name["bo"] == Freshness(T0 + 2 * HOUR, 1, None, None, 1, "stale")
    assert by_name["cy"] == Freshness(None, 0, None, None, 0, "never synced")
    # dee logged in at 0 and was never heard from: offline since her login.
    assert by_name["dee"] == Freshness(None, 1, None, None, 1, "never synced")

    # The laptop reconnects: it says 6 now, the server holds 2; it pushes the 4.
    at(11 * HOUR)
    await store.device_heard(await _dev(store, laptop), None, recorded=6)
    seen = await _dev(store, laptop)
    assert (seen.pending, seen.reported_seq, seen.reported_at) == (4, 6, T0 + 11 * HOUR)
    ada = (await freshness(store, Scope(everyone=True), now=now))[users["ada"].id]
    assert (ada.pending_events, ada.pending_since) == (4, T0 + 11 * HOUR)
    await store.merge(laptop, [opened(s, T0 + s) for s in range(3, 7)])
    ada = (await freshness(store, Scope(everyone=True), now=now + 1))[users["ada"].id]
    assert (ada.pending_events, ada.pending_since, ada.state) == (0, None, "fresh")
    # Two hours later with nothing heard: stale, and every device offline.
    later = (await freshness(store, Scope(everyone=True), now=now + 2 * HOUR))[users["ada"].id]
    assert (later.state, later.offline_devices) == ("stale", 3)


async def _dev(store: Store, device_id: str) -> Device:
    found = await store.device_by_id(device_id)
    assert found is not None
    return found


def test_the_state_word_takes_the_first_rule_that_holds() -> None:
    now = T0 + 100 * HOUR
    assert freshness_state(None, 5, now) == "never synced"
    assert freshness_state(now - 5 * HOUR, 2, now) == "offline work"
    assert freshness_state(now - OFFLINE_AFTER_MS - 1, 0, now) == "stale"
    assert freshness_state(now - OFFLINE_AFTER_MS - 1, None, now) == "stale"
    assert freshness_state(now - OFFLINE_AFTER_MS, 0, now) == "fresh"
    assert freshness_state(now, None, now) == "fresh"
