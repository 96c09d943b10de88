"""The live feed behind ``/dashboard/live``: the hub's announcements become ``synced``
events for the open pages whose viewer may see the learner, one read per announcement,
the second hearing of a commit dropped, and every stream ended when the server stops."""

from __future__ import annotations

import asyncio

from server.dashboard.live import LiveFeed, Synced
from server.dashboard.scope import visible_to
from server.fanout import Hub
from server.storage.store import Store


async def test_a_sync_reaches_the_pages_that_may_see_the_learner(store: Store) -> None:
    ines = await store.create_user("ines", "pw", role="instructor")
    ada = await store.create_user("ada", "pw", role="admin", timezone="Europe/Paris")
    leo = await store.create_user("leo", "pw")
    mia = await store.create_user("mia", "pw")
    group = await store.create_group("A", "ines")
    await store.set_member(group.id, leo.id, True)
    phone, _ = await store.register_device(leo.id, "phone")
    tablet, _ = await store.register_device(mia.id, "tablet")
    hub = Hub(store)
    feed = LiveFeed(store)
    hub.watch(feed.announced)
    instructor = feed.open(await visible_to(store, ines), ines.timezone)
    admin = feed.open(await visible_to(store, ada), ada.timezone)

    await store.device_heard(tablet, None, 0)
    hub.seen(mia.id)  # a hello: only the admin may see mia
    await store.device_heard(phone, None, 0)
    hub.heard(leo.id, 7)  # a commit announced by some instance

    first = await asyncio.wait_for(instructor.queue.get(), 5)
    assert isinstance(first, Synced) and first.username == "leo"
    assert first.at == await store.last_sync_of(leo.id)
    assert first.local.endswith("UTC") and first.iso.endswith("Z")
    got = [await asyncio.wait_for(admin.queue.get(), 5) for _ in range(2)]
    assert sorted(s.username for s in got if s is not None) == ["leo", "mia"]
    assert all(s is not None and s.local.endswith(("CET", "CEST")) for s in got)

    hub.heard(leo.id, 7)  # the same commit heard again (its own NOTIFY): dropped
    hub.heard(leo.id, 8)
    again = await asyncio.wait_for(instructor.queue.get(), 5)
    assert isinstance(again, Synced) and again.username == "leo"
    assert instructor.queue.empty()

    feed.close()
    assert await asyncio.wait_for(instructor.queue.get(), 5) is None
    late = feed.open(await visible_to(store, ada), "UTC")
    assert await asyncio.wait_for(late.queue.get(), 5) is None


async def test_nothing_is_read_while_no_page_is_open(store: Store) -> None:
    leo = await store.create_user("leo", "pw")
    feed = LiveFeed(store)
    feed.announced(leo.id, 3)
    assert not feed._reading  # no page, no read


async def test_signing_out_ends_that_browser_s_streams_only(store: Store) -> None:
    ada = await store.create_user("ada", "pw", role="admin")
    feed = LiveFeed(store)
    seen = await visible_to(store, ada)
    mine, other = feed.open(seen, "UTC", "cookie-1"), feed.open(seen, "UTC", "cookie-2")
    feed.signed_out("cookie-1")
    assert await asyncio.wait_for(mine.queue.get(), 5) is None
    assert other.queue.empty()
