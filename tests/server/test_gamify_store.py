"""Acceptance of gamification through the real merge, on SQLite and PostgreSQL: awards made
exactly once whatever the replays, duplicates and order; streaks by each event's own day;
certificates kept; weekly leaderboards with groups, cohorts and the opt-out."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.errors import Conflict, Forbidden
from server.storage.store import Store, User
from sync.events import Event
from sync.gamify import Leaderboard, certificate_code, gamify_fold, is_activity, iso_week
from sync.hlc import format_hlc
from tests.sync.test_gamify import CAT, DAY, TZ, complete, device_streams, ms
from tests.sync.test_gamify import Device as Sim

_names = itertools.count()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def open_store(db_url: str, clock: Clock) -> Store:
    store = Store.for_url(db_url, clock=clock)
    await store.open()
    await store.load_catalog(CAT)
    return store


async def learner(store: Store, tz: str = TZ) -> User:
    return await store.create_user(f"u{next(_names)}", "pw", timezone=tz, plan="premium")


def event(seq: int, at: int, tz: str, type_: str, **body: Any) -> Event:
    return Event(seq, format_hlc(at, seq), at, type_, body, tz)


def days_at(tz: str, *local: str) -> list[int]:
    """Epoch ms of local wall-clock times (ISO, no offset) in ``tz``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return [
        int(datetime.fromisoformat(t).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)
        for t in local
    ]


async def push_all(store: Store, device_id: str, events: list[Event]) -> None:
    result = await store.merge(device_id, events)
    assert result.gap_at is None and result.acked_seq == events[-1].seq


# -- acceptance 1: every award exactly once --------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(streams=device_streams(), data=st.data())
def test_every_award_is_made_exactly_once_through_the_merge(
    db_url: str, streams: list[tuple[str, Event]], data: st.DataObject
) -> None:
    """Devices push in random interleavings, resend what was already acked (lost acks),
    and everything is replayed at the end: each ledger key, badge, certificate and level
    appears once in the feed and in the tables, and the stored state is the feed's fold."""

    async def run() -> None:
        clock = Clock(ms("2026-06-01T10:00:00+02:00") + 30 * DAY)
        store = await open_store(db_url, clock)
        try:
            user = await learner(store)
            by_device: dict[str, list[Event]] = {}
            for name, ev in streams:
                by_device.setdefault(name, []).append(ev)
            ids = {name: (await store.register_device(user.id, name))[0].id for name in by_device}
            acked = dict.fromkeys(by_device, 0)
            while any(acked[n] < len(by_device[n]) for n in by_device):
                name = data.draw(
                    st.sampled_from(sorted(n for n in by_device if acked[n] < len(by_device[n])))
                )
                events = by_device[name]
                start = data.draw(st.integers(0, acked[name]))  # resend some acked ones
                end = data.draw(st.integers(acked[name] + 1, len(events)))
                result = await store.merge(ids[name], events[start:end])
                acked[name] = result.acked_seq
            head = await store.feed_head(user.id)
            for name, events in by_device.items():  # a full replay changes nothing
                await store.merge(ids[name], events)
            assert await store.feed_head(user.id) == head

            feed = await store.feed_after(user.id, 0, 100_000)
            points = Counter(e.body["key"] for e in feed if e.type == "points.awarded")
            badges = Counter(
                e.body["achievement_id"] for e in feed if e.type == "achievement.earned"
            )
            certs = Counter(
                e.body.get("course") or e.body.get("path")
                for e in feed
                if e.type == "certificate.issued"
            )
            levels = Counter(e.body["level"] for e in feed if e.type == "level.reached")
            for counted in (points, badges, certs, levels):
                assert all(n == 1 for n in counted.values()), counted
            if any(is_activity(ev.type) for _, ev in streams):  # not only uncompletions
                assert points, "learning activity earns at least a streak day"

            rows = await store.engine.fetch(
                "SELECT key, points FROM points_ledger WHERE user_id = ?", user.id
            )
            assert {r["key"]: r["points"] for r in rows} == {
                e.body["key"]: e.body["points"] for e in feed if e.type == "points.awarded"
            }
            held = await store.engine.fetch(
                "SELECT badge_id FROM user_badges WHERE user_id = ?", user.id
            )
            assert Counter(r["badge_id"] for r in held) == badges

            assert await store.verify(user.id) == []  # the award tables are the feed's
            # Whatever the learner completed in the end was awarded under its key.
            state = await store.user_state(user.id)
            for key, lesson in state.lessons.items():
                if lesson.completed is not None and (
                    lesson.uncompleted is None or lesson.completed > lesson.uncompleted
                ):
                    assert f"points:lesson-completed:{key}" in points
            # The stored gamification state is a cache of the feed.
            rebuilt = gamify_fold(
                [(e.at, e.tz) for e in feed if e.origin == "device" and is_activity(e.type)],
                [(e.type, e.body, e.at) for e in feed if e.origin == "server"],
                user_tz=TZ,
            )
            achievements = await store.achievements(user.id)
            assert (
                achievements.points
                == rebuilt.points
                == sum(e.body["points"] for e in feed if e.type == "points.awarded")
            )
        finally:
            await store.close()

    asyncio.run(run())


# -- acceptance 2: streaks -------------------------------------------------------------------


async def streak_after(db_url: str, tz: str, pushes: list[list[Event]], now: int) -> Any:
    clock = Clock(now)
    store = await open_store(db_url, clock)
    try:
        user = await learner(store, tz)
        device, _ = await store.register_device(user.id, "phone")
        for events in pushes:
            await push_all(store, device.id, events)
        view = await store.achievements(user.id)
        feed = await store.feed_after(user.id, 0, 10_000)
        days = sorted(e.body["ref"] for e in feed if e.body.get("rule") == "streak-day")
        return view.streak, days
    finally:
        await store.close()


def opened(seq: int, at: int, tz: str) -> Event:
    return event(seq, at, tz, "lesson.opened", course="c1", lesson="l1")


async def test_a_dst_change_day_counts_as_one_day(db_url: str) -> None:
    # Paris springs forward on 2026-03-29: that day has 23 hours.
    times = days_at(
        "Europe/Paris",
        "2026-03-28T23:30",
        "2026-03-29T00:30",
        "2026-03-29T03:30",  # after the jump
        "2026-03-29T23:30",
        "2026-03-30T08:00",
    )
    events = [opened(i + 1, at, "Europe/Paris") for i, at in enumerate(times)]
    streak, days = await streak_after(db_url, "Europe/Paris", [events], times[-1])
    assert days == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert (streak.current, streak.longest) == (3, 3)


async def test_a_learner_crossing_time_zones_is_credited_by_each_events_zone(db_url: str) -> None:
    # In Paris the New York evening is already the next morning: by the learner's home
    # zone June 2 would be missed; by the zone each event reports, it is not.
    [paris] = days_at("Europe/Paris", "2026-06-01T20:00")
    [new_york] = days_at("America/New_York", "2026-06-02T21:00")
    [back] = days_at("Europe/Paris", "2026-06-04T09:00")
    events = [
        opened(1, paris, "Europe/Paris"),
        opened(2, new_york, "America/New_York"),
        opened(3, back, "Europe/Paris"),
    ]
    streak, days = await streak_after(db_url, "Europe/Paris", [events], back)
    assert days == ["2026-06-01", "2026-06-02", "2026-06-04"]
    assert streak.longest == 2 and streak.current == 1  # June 3 (Paris) was missed


async def test_offline_days_synced_late_count_on_the_days_they_happened(db_url: str) -> None:
    times = days_at(TZ, "2026-06-01T09:00", "2026-06-02T09:00", "2026-06-03T09:00")
    events = [opened(i + 1, at, TZ) for i, at in enumerate(times)]
    # All three arrive on the evening of June 3 in one push.
    [arrival] = days_at(TZ, "2026-06-03T21:00")
    streak, days = await streak_after(db_url, TZ, [events], arrival)
    assert days == ["2026-06-01", "2026-06-02", "2026-06-03"]
    assert (streak.current, streak.longest, streak.active_today) == (3, 3, True)


async def test_a_freeze_covers_a_missed_day(db_url: str) -> None:
    # Seven days in a row earn a freeze (the default: one per 7 days, at most 2).
    week = days_at(TZ, *(f"2026-06-{d:02d}T09:00" for d in range(1, 8)))
    [after_gap] = days_at(TZ, "2026-06-09T09:00")  # June 8 missed
    events = [opened(i + 1, at, TZ) for i, at in enumerate([*week, after_gap])]
    streak, _ = await streak_after(db_url, TZ, [events[:7], events[7:]], after_gap)
    assert (streak.current, streak.freezes, streak.frozen_days) == (8, 0, ["2026-06-08"])


async def test_a_gap_without_freezes_breaks_the_streak(db_url: str) -> None:
    times = days_at(TZ, "2026-06-01T09:00", "2026-06-02T09:00", "2026-06-03T09:00")
    [later] = days_at(TZ, "2026-06-06T09:00")  # June 4 and 5 missed, no freeze held
    events = [opened(i + 1, at, TZ) for i, at in enumerate([*times, later])]
    streak, _ = await streak_after(db_url, TZ, [events], later)
    assert (streak.current, streak.longest, streak.freezes) == (1, 3, 0)


# -- certificates ----------------------------------------------------------------------------


async def test_a_certificate_is_issued_once_and_survives_later_progress(db_url: str) -> None:
    clock = Clock(ms("2026-06-01T10:00:00+02:00"))
    store = await open_store(db_url, clock)
    try:
        user = await learner(store)
        device, _ = await store.register_device(user.id, "phone")
        sim = Sim("phone")
        first = complete(sim, "c2", "k1", clock.now)
        await push_all(store, device.id, [first])
        feed = await store.feed_after(user.id, 0, 1000)
        [issued] = [e.body for e in feed if e.type == "certificate.issued"]
        secret = bytes.fromhex(await store.secret("certificate-code", lambda: "00"))
        assert issued["code"] == certificate_code(secret, user.id, "course", "c2")

        undo = sim.event("lesson.uncompleted", clock.now + 1000, course="c2", lesson="k1")
        again = complete(sim, "c2", "k1", clock.now + 2000)
        await push_all(store, device.id, [undo, again])
        feed = await store.feed_after(user.id, 0, 1000)
        assert sum(e.type == "certificate.issued" for e in feed) == 1
        found = await store.certificate(issued["code"].lower())
        assert found is not None
        assert (found.username, found.kind, found.ref) == (user.username, "course", "c2")
        assert await store.certificate("AAAA-BBBB-CCCC-DDDD") is None
    finally:
        await store.close()


# -- leaderboards ----------------------------------------------------------------------------


async def test_points_count_toward_the_week_they_were_earned_until_it_closes(
    db_url: str,
) -> None:
    [sunday] = days_at(TZ, "2026-06-07T18:00")  # ISO week 23
    [monday, thursday] = days_at(TZ, "2026-06-08T12:00", "2026-06-11T12:00")  # week 24
    clock = Clock(monday)
    store = await open_store(db_url, clock)
    try:
        early, late = await learner(store), await learner(store)
        for user, now in ((early, monday), (late, thursday)):
            clock.now = now  # the offline Sunday arrives Monday, or after the grace days
            device, _ = await store.register_device(user.id, "phone")
            await push_all(store, device.id, [opened(1, sunday, TZ)])
        w23 = await store.leaderboard(early, week="2026-W23")
        w24 = await store.leaderboard(late, week="2026-W24")
        assert [(r.user, r.points) for r in w23.rows] == [(early.username, 5)]
        assert [(r.user, r.points) for r in w24.rows] == [(late.username, 5)]
        assert iso_week(sunday, TZ) == "2026-W23"
    finally:
        await store.close()


async def test_opted_out_learners_vanish_from_every_other_board(db_url: str) -> None:
    now = ms("2026-06-03T10:00:00+02:00")
    clock = Clock(now)
    store = await open_store(db_url, clock)
    try:
        ann, bob, cy = await learner(store), await learner(store), await learner(store)
        teacher = await store.create_user(f"t{next(_names)}", "pw", role="instructor")
        group = await store.create_group(f"g{next(_names)}", teacher.username)
        for user, lessons in ((ann, 3), (bob, 1), (cy, 2)):
            await store.set_member(group.id, user.id, user is not cy)
            device, _ = await store.register_device(user.id, "d")
            sim = Sim("d")
            events = [complete(sim, "c1", f"l{i}", now + i) for i in range(1, lessons + 1)]
            await push_all(store, device.id, events)

        def names(board: Any) -> list[str]:
            return [r.user for r in board.rows]

        def board(kind: str, viewer: User) -> Awaitable[Leaderboard]:
            if kind == "group":
                return store.leaderboard(viewer, group=group)
            if kind == "course":
                return store.leaderboard(viewer, course="c1")
            return store.leaderboard(viewer)

        kinds = ("group", "course", "all")
        before = {k: await board(k, bob) for k in kinds}
        assert names(before["group"]) == [ann.username, bob.username]
        assert names(before["all"])[0] == ann.username
        assert before["all"].you is not None and before["all"].you.rank == 3

        await store.set_leaderboard_opt_out(ann.id, True)
        ann = await store.user_by_id(ann.id) or ann
        for kind in kinds:
            for viewer in (bob, cy, teacher):
                if kind == "group" and viewer is cy:
                    with pytest.raises(Forbidden):
                        await board(kind, viewer)
                    continue
                shown = await board(kind, viewer)
                assert ann.username not in names(shown), (kind, viewer.username)
            own = await board(kind, ann)
            assert own.you is not None and own.you.user == ann.username
            assert own.you.rank == 1 and ann.username not in names(own)
        after = await board("all", bob)
        assert after.you is not None and after.you.rank == 2

        await store.set_leaderboard_opt_out(ann.id, False)
        assert names(await board("group", bob))[0] == ann.username
    finally:
        await store.close()


async def test_a_rest_action_counts_on_the_learners_own_day(db_url: str) -> None:
    # 20:00 UTC on June 1 is already June 2 in Auckland.
    clock = Clock(ms("2026-06-01T20:00:00+00:00"))
    store = await open_store(db_url, clock)
    try:
        user = await learner(store, "Pacific/Auckland")
        await store.record_action(user.id, "lesson.opened", {"course": "c1", "lesson": "l1"})
        feed = await store.feed_after(user.id, 0, 100)
        days = [e.body["ref"] for e in feed if e.body.get("rule") == "streak-day"]
        assert days == ["2026-06-02"]
    finally:
        await store.close()


async def test_two_instances_creating_one_group_name_at_once_get_one_group(db_url: str) -> None:
    clock = Clock(ms("2026-06-01T10:00:00+02:00"))
    first, second = await open_store(db_url, clock), await open_store(db_url, clock)
    try:
        results = await asyncio.gather(
            first.create_group("cohort", "tina"),
            second.create_group("cohort", "tom"),
            return_exceptions=True,
        )
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, Conflict)]
        assert len(made) == 1 and len(refused) == 1, results
        assert [g.id for g in await first.groups()] == [made[0].id]
    finally:
        await first.close()
        await second.close()
