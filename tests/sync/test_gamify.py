"""sync.gamify: points ledger, levels, badges, streaks, certificates, leaderboard math.

Award tests drive the core the way the store will: check the event, fold it, decide, then
award (``Server.accept``).
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.catalog import BadgeCriteria, parse_catalog
from sync.errors import CatalogError
from sync.events import Event, Rejection, check_event
from sync.gamify import (
    Award,
    BoardEntry,
    GamifyState,
    LedgerEntry,
    PointsRules,
    Stats,
    apply_award,
    awards,
    certificate_code,
    check_criteria,
    closed_before,
    credit_week,
    gamify_fold,
    gamify_view,
    is_activity,
    iso_week,
    leaderboard,
    level_for,
    local_day,
    record_activity,
    rules_for,
    streak,
    streak_of_days,
    verify_certificate_code,
    weekly_points,
)
from sync.hlc import format_hlc
from sync.merge.decide import Context, decide
from sync.merge.fold import UserState, apply_body

CATALOG_YAML = """
competencies:
  - {id: basics, name: Basics, mastery: 100}
courses:
  - id: c1
    title: Course one
    modules:
      - id: m1
        lessons: [{id: l1}, {id: l2}]
        quizzes:
          - id: q1
            passing_score: 0.5
            questions:
              - {id: x1, choices: [{id: a}, {id: b}], answer: a}
              - {id: x2, choices: [{id: a}, {id: b}], answer: b}
      - id: m2
        lessons: [{id: l3}]
  - id: c2
    title: Course two
    modules:
      - id: n1
        lessons: [{id: k1, competencies: [basics]}]
paths:
  - id: p1
    title: Path one
    milestones: [{id: s1, course: c2}]
gamification:
  levels: [0, 50, 120]
  points: {lesson_completed: 5}
  badges:
    - {id: first-steps, name: First steps, points: 10, criteria: {lessons_completed: 1}}
    - id: scholar
      name: Scholar
      criteria: {all: [{lessons_completed: 3}, {quizzes_passed: 1}]}
    - id: finisher
      criteria: {any: [{course_completed: c1}, {path_completed: p1}]}
    - id: collector
      criteria: {all: [{badge: first-steps}, {badge: finisher}]}
    - {id: manual-only, name: Granted by hand}
"""
CAT = parse_catalog(CATALOG_YAML, "yaml")
SECRET = b"test-secret"
USER = "u1"
TZ = "Europe/Paris"
make_code = functools.partial(certificate_code, SECRET, USER)


def ms(text: str) -> int:
    """Epoch ms of an ISO time with its offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


T0 = ms("2026-06-01T10:00:00+02:00")
DAY = 86_400_000


class Server:
    """One learner on the server: dedupe by (device, seq), check, fold, decide, award."""

    def __init__(self, *, dedupe: bool = True, user_tz: str = TZ) -> None:
        self.state = UserState()
        self.gstate = GamifyState()
        self.seen: set[tuple[str, int]] = set()
        self.feed: list[tuple[Award, int]] = []
        self.dedupe = dedupe
        self.user_tz = user_tz

    def accept(self, device: str, event: Event, now_ms: int) -> list[Award]:
        if self.dedupe and (device, event.seq) in self.seen:
            return []
        self.seen.add((device, event.seq))
        body = check_event(event, CAT)
        assert not isinstance(body, Rejection), body
        stamp = (event.hlc, device, event.seq)
        apply_body(self.state, stamp, event.at, body)
        decide(self.state, body, stamp, event.at, Context(CAT, "premium"))
        out = awards(
            self.state,
            CAT,
            self.gstate,
            user_tz=self.user_tz,
            now_ms=now_ms,
            make_code=make_code,
            fact_at=event.at,
            fact_tz=event.tz,
            activity=is_activity(event.type),
        )
        self.feed += [(a, now_ms) for a in out]
        return out

    def awarded(self, type_: str = "points.awarded") -> list[dict[str, Any]]:
        return [a.body for a, _ in self.feed if a.type == type_]


class Device:
    def __init__(self, name: str, tz: str = TZ) -> None:
        self.name, self.tz, self.seq = name, tz, 0

    def event(self, type_: str, at: int, tz: str | None = None, **body: Any) -> Event:
        self.seq += 1
        hlc = format_hlc(at, self.seq % 65536)
        return Event(self.seq, hlc, at, type_, body, self.tz if tz is None else tz)


def complete(device: Device, course: str, lesson: str, at: int) -> Event:
    return device.event("lesson.completed", at, course=course, lesson=lesson)


def quiz_events(device: Device, attempt: str, right: bool, at: int) -> list[Event]:
    answers = {"x1": "a", "x2": "b"} if right else {"x1": "b", "x2": "a"}
    out = [device.event("quiz.started", at, course="c1", quiz="q1", attempt=attempt)]
    out += [
        device.event(
            "quiz.answered", at, course="c1", quiz="q1", attempt=attempt, question=q, choices=[c]
        )
        for q, c in answers.items()
    ]
    out.append(device.event("quiz.submitted", at, course="c1", quiz="q1", attempt=attempt))
    return out


def keys(server: Server) -> list[str]:
    return [str(b["key"]) for b in server.awarded()]


# -- the ledger: every award exactly once ----------------------------------------------------


LESSONS = [("c1", "l1"), ("c1", "l2"), ("c1", "l3"), ("c2", "k1")]


@st.composite
def device_streams(draw: st.DrawFn) -> list[tuple[str, Event]]:
    """Two or three devices, each recording a few days of completions, resets and quizzes."""
    out: list[tuple[str, Event]] = []
    for index in range(draw(st.integers(2, 3))):
        device = Device(f"d{index}", draw(st.sampled_from([TZ, "Asia/Tokyo", ""])))
        at = T0 + index * 1000
        if draw(st.booleans()):
            out.append((device.name, device.event("path.enrolled", at, path="p1")))
        for step in range(draw(st.integers(1, 8))):
            at += draw(st.sampled_from([60_000, DAY // 2, DAY, 2 * DAY]))
            kind = draw(st.sampled_from(["complete", "uncomplete", "quiz"]))
            course, lesson = draw(st.sampled_from(LESSONS))
            if kind == "complete":
                out.append((device.name, complete(device, course, lesson, at)))
            elif kind == "uncomplete":
                event = device.event("lesson.uncompleted", at, course=course, lesson=lesson)
                out.append((device.name, event))
            else:
                attempt = f"{device.name}-a{step}"
                events = quiz_events(device, attempt, draw(st.booleans()), at)
                out += [(device.name, e) for e in events]
    return out


@settings(deadline=None, max_examples=60)
@given(
    streams=device_streams(),
    data=st.data(),
    dedupe=st.booleans(),
)
def test_replayed_duplicated_reordered_events_award_everything_exactly_once(
    streams: list[tuple[str, Event]], data: st.DataObject, dedupe: bool
) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(streams), max_size=10))
    arrival = data.draw(st.permutations([*streams, *duplicates, *streams]))  # a full replay too
    server = Server(dedupe=dedupe)
    now = T0 + 30 * DAY
    for device, event in arrival:
        server.accept(device, event, now)

    counted = Counter(keys(server))
    assert all(n == 1 for n in counted.values()), counted
    badges = Counter(b["achievement_id"] for b in server.awarded("achievement.earned"))
    assert all(n == 1 for n in badges.values()), badges
    certs = Counter(b.get("course") or b.get("path") for b in server.awarded("certificate.issued"))
    assert all(n == 1 for n in certs.values()), certs

    # Everything the final state holds completed was awarded, under its key.
    for course, lesson in LESSONS:
        held = server.state.lessons.get(f"{course}/{lesson}")
        if (
            held is not None
            and held.completed is not None
            and (held.uncompleted is None or held.completed > held.uncompleted)
        ):
            assert f"points:lesson-completed:{course}/{lesson}" in counted
    # One streak-day entry per distinct local day of activity, whatever the order.
    days = {local_day(e.at, e.tz, TZ).isoformat() for _, e in streams if is_activity(e.type)}
    assert {k for k in counted if k.startswith("points:streak-day:")} == {
        f"points:streak-day:{d}" for d in days
    }

    # Awarding again, or from a state rebuilt from the feed, decides nothing new.
    again = awards(
        server.state, CAT, server.gstate, user_tz=TZ, now_ms=now + DAY, make_code=make_code
    )
    assert again == []
    activity = [(e.at, e.tz) for _, e in arrival if is_activity(e.type)]
    rebuilt = gamify_fold(activity, [(a.type, a.body, t) for a, t in server.feed], user_tz=TZ)
    assert rebuilt == server.gstate
    assert (
        awards(server.state, CAT, rebuilt, user_tz=TZ, now_ms=now + DAY, make_code=make_code) == []
    )


def test_lesson_uncompleted_and_completed_again_is_awarded_once() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", complete(phone, "c1", "l1", T0), T0)
    server.accept(
        "phone", phone.event("lesson.uncompleted", T0 + 1000, course="c1", lesson="l1"), T0
    )
    server.accept("phone", complete(phone, "c1", "l1", T0 + 2000), T0)
    assert keys(server).count("points:lesson-completed:c1/l1") == 1
    entry = server.gstate.ledger["points:lesson-completed:c1/l1"]
    assert entry.points == 5  # the catalog's override of the default 10
    assert entry.at == T0


def test_points_are_never_revoked_by_a_later_reset() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", complete(phone, "c2", "k1", T0), T0)
    total = server.gstate.points
    server.accept("phone", phone.event("course.reset", T0 + 1000, course="c2"), T0)
    server.accept(
        "phone", phone.event("lesson.uncompleted", T0 + 2000, course="c2", lesson="k1"), T0
    )
    assert server.gstate.points == total
    assert "points:course-completed:c2" in server.gstate.ledger


def test_quiz_pass_and_perfect_score_are_separate_entries() -> None:
    server, phone = Server(), Device("phone")
    for event in quiz_events(phone, "a1", True, T0):
        server.accept("phone", event, T0)
    assert {"points:quiz-passed:c1/q1", "points:quiz-perfect:c1/q1"} <= set(keys(server))
    for event in quiz_events(phone, "a2", True, T0 + DAY):
        server.accept("phone", event, T0 + DAY)
    assert keys(server).count("points:quiz-perfect:c1/q1") == 1


def test_module_course_and_path_completion_points() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", phone.event("path.enrolled", T0, path="p1"), T0)
    server.accept("phone", complete(phone, "c2", "k1", T0 + 1000), T0)
    assert {
        "points:module-completed:c2/n1",
        "points:course-completed:c2",
        "points:path-completed:p1",
    } <= set(keys(server))


def test_apply_award_ignores_unknown_and_malformed_decisions() -> None:
    gstate = GamifyState()
    assert not apply_award(gstate, "points.something", {}, T0)
    assert not apply_award(gstate, "points.awarded", {"points": 3}, T0)
    assert not apply_award(gstate, "points.awarded", {"key": "k", "points": "x"}, T0)
    assert apply_award(gstate, "points.awarded", {"key": "k", "points": 3}, T0)
    assert apply_award(gstate, "points.awarded", {"key": "k", "points": 99}, T0 + 1)
    assert gstate.ledger["k"].points == 3
    assert gstate.ledger["k"].at == T0


# -- levels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "level", "next_at", "to_next"),
    [
        (0, 1, 100, 100),
        (99, 1, 100, 1),
        (100, 2, 250, 150),
        (999, 4, 1000, 1),
        (10_000, 10, None, None),
        (50_000, 10, None, None),
    ],
)
def test_level_thresholds(
    points: int, level: int, next_at: int | None, to_next: int | None
) -> None:
    view = level_for(points)
    assert (view.level, view.next_level_at, view.to_next) == (level, next_at, to_next)


def test_level_percent_and_catalog_thresholds() -> None:
    assert level_for(175).percent == 50  # halfway from 100 to 250
    rules = rules_for(CAT)
    assert rules.levels == (0, 50, 120)
    assert rules.lesson_completed == 5 and rules.quiz_passed == PointsRules().quiz_passed
    assert level_for(60, rules.levels).level == 2
    assert level_for(5, (10, 20)).level == 0  # below the first threshold


def test_levels_must_ascend() -> None:
    with pytest.raises(CatalogError, match="ascending"):
        parse_catalog("gamification: {levels: [0, 50, 50]}", "yaml")


def test_a_catalog_without_gamification_still_parses() -> None:
    catalog = parse_catalog('{"courses": []}', "json")
    assert rules_for(catalog) == PointsRules()


# -- badges -----------------------------------------------------------------------------------


def stats(**changes: Any) -> Stats:
    base = Stats(0, 0, 0, frozenset(), frozenset(), frozenset(), frozenset(), 0, 0)
    return base._replace(**changes)


def test_badge_criteria_all() -> None:
    rule = BadgeCriteria(all_of=[BadgeCriteria(lessons_completed=3), BadgeCriteria(streak=5)])
    assert check_criteria(rule, stats(lessons=3, longest_streak=4)) is None
    assert check_criteria(rule, stats(lessons=3, longest_streak=5)) == [
        "lessons_completed: 3 >= 3",
        "streak: 5 >= 5",
    ]


def test_badge_criteria_any() -> None:
    rule = BadgeCriteria(
        any_of=[BadgeCriteria(course_completed="c1"), BadgeCriteria(perfect_quizzes=2)]
    )
    assert check_criteria(rule, stats(perfect=1)) is None
    assert check_criteria(rule, stats(perfect=2)) == ["perfect_quizzes: 2 >= 2"]
    assert check_criteria(rule, stats(courses=frozenset({"c1"}))) == ["course_completed: c1"]


def test_badge_criteria_leaves_combine_with_and() -> None:
    rule = BadgeCriteria(competency="basics", path_completed="p1", competencies_mastered=1)
    assert check_criteria(rule, stats(competencies=frozenset({"basics"}))) is None
    assert check_criteria(
        rule, stats(competencies=frozenset({"basics"}), paths=frozenset({"p1"}))
    ) == ["competencies_mastered: 1 >= 1", "path_completed: p1", "competency: basics"]


def test_badges_are_earned_once_with_evidence_and_points() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", complete(phone, "c1", "l1", T0), T0)
    earned = server.awarded("achievement.earned")
    assert [b["achievement_id"] for b in earned] == ["first-steps"]
    assert earned[0]["evidence"] == ["lessons_completed: 1 >= 1"]
    assert earned[0]["earned_at"] == T0
    assert server.gstate.ledger["points:badge:first-steps"].points == 10
    server.accept("phone", complete(phone, "c1", "l2", T0 + DAY), T0 + DAY)
    assert len(server.awarded("achievement.earned")) == 1


def test_a_badge_needing_badges_follows_in_the_same_decision() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", phone.event("path.enrolled", T0, path="p1"), T0)
    out = server.accept("phone", complete(phone, "c2", "k1", T0 + 1000), T0)
    earned = [a.body["achievement_id"] for a in out if a.type == "achievement.earned"]
    assert earned == ["first-steps", "finisher", "collector"]
    assert "manual-only" not in server.gstate.badges  # no criteria: never automatic


def test_badge_needing_an_unknown_badge_is_refused() -> None:
    with pytest.raises(CatalogError, match="names no badge 'nope'"):
        parse_catalog("gamification: {badges: [{id: b, criteria: {badge: nope}}]}", "yaml")


# -- streaks ------------------------------------------------------------------------------------


def days(*isos: str) -> list[date]:
    return [date.fromisoformat(d) for d in isos]


def run(start: str, count: int) -> list[date]:
    first = date.fromisoformat(start)
    return [first + timedelta(days=i) for i in range(count)]


def test_spring_forward_day_in_paris_is_one_day() -> None:
    # 2026-03-29 has 23 hours in Paris: 00:30 CET and 23:30 CEST are the same day.
    early, late = ms("2026-03-29T00:30:00+01:00"), ms("2026-03-29T23:30:00+02:00")
    assert local_day(early, TZ) == local_day(late, TZ) == date(2026, 3, 29)
    activity = [
        (ms("2026-03-28T12:00:00+01:00"), TZ),
        (early, TZ),
        (late, TZ),
        (ms("2026-03-30T08:00:00+02:00"), TZ),
    ]
    view = streak(activity, user_tz=TZ, now_ms=ms("2026-03-30T20:00:00+02:00"))
    assert (view.current, view.longest, view.active_today) == (3, 3, True)


def test_fall_back_day_in_paris_is_one_day() -> None:
    # 2026-10-25 has 25 hours in Paris: 00:10 CEST and 23:50 CET are 24h40 apart.
    early, late = ms("2026-10-25T00:10:00+02:00"), ms("2026-10-25T23:50:00+01:00")
    assert late - early == (24 * 60 + 40) * 60_000
    server, phone = Server(), Device("phone")
    for at in (ms("2026-10-24T12:00:00+02:00"), early, late, ms("2026-10-26T09:00:00+01:00")):
        server.accept("phone", phone.event("lesson.opened", at, course="c1", lesson="l1"), at)
    assert sorted(server.gstate.days) == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert keys(server).count("points:streak-day:2026-10-25") == 1
    view = gamify_view(server.gstate, CAT, user_tz=TZ, now_ms=ms("2026-10-26T12:00:00+01:00"))
    assert view.streak.current == 3


def test_a_traveller_is_credited_by_the_zone_each_event_reports() -> None:
    # Tokyo on the evening of 1 May, New York the next morning: two days, one streak.
    tokyo = ms("2026-05-01T22:00:00+09:00")
    new_york = ms("2026-05-02T09:00:00-04:00")
    assert new_york - tokyo == 24 * 3_600_000  # a UTC day apart, two local days too
    later = ms("2026-05-03T10:00:00-04:00")
    activity = [(tokyo, "Asia/Tokyo"), (new_york, "America/New_York"), (later, "America/New_York")]
    view = streak(activity, user_tz="Asia/Tokyo", now_ms=ms("2026-05-03T12:00:00-04:00"))
    assert (view.current, view.last_active_day) == (3, "2026-05-03")


def test_the_same_local_date_in_two_zones_counts_once() -> None:
    # 09:00 in Tokyo and 18:00 in New York on 1 May: 1 May both times, though in the
    # learner's home zone (Tokyo) the second would be 2 May.
    tokyo = ms("2026-05-01T09:00:00+09:00")
    new_york = ms("2026-05-01T18:00:00-04:00")
    assert local_day(new_york, "Asia/Tokyo") == date(2026, 5, 2)
    gstate = GamifyState()
    record_activity(gstate, tokyo, "Asia/Tokyo", "Asia/Tokyo")
    record_activity(gstate, new_york, "America/New_York", "Asia/Tokyo")
    assert list(gstate.days) == ["2026-05-01"]


def test_events_without_a_valid_zone_fall_back_to_the_learners() -> None:
    at = ms("2026-05-01T23:30:00+00:00")
    assert local_day(at, "", TZ) == date(2026, 5, 2)
    assert local_day(at, "Mars/Olympus", TZ) == date(2026, 5, 2)
    assert local_day(at, "", "not a zone") == date(2026, 5, 1)  # UTC at last


def test_offline_days_synced_late_count_on_the_day_they_happened() -> None:
    server, laptop, phone = Server(), Device("laptop"), Device("phone")
    sync_time = ms("2026-04-14T19:00:00+02:00")
    offline = [ms(f"2026-04-{d}T20:00:00+02:00") for d in (10, 11, 12)]
    online = [ms("2026-04-13T08:00:00+02:00"), ms("2026-04-14T08:00:00+02:00")]
    for at in online:
        server.accept("phone", phone.event("lesson.opened", at, course="c1", lesson="l1"), at)
    for at in offline:  # the laptop comes online on the 14th in the evening
        event = laptop.event("lesson.opened", at, course="c1", lesson="l2")
        server.accept("laptop", event, sync_time)
    assert sorted(server.gstate.days) == [f"2026-04-{d}" for d in range(10, 15)]
    view = gamify_view(server.gstate, CAT, user_tz=TZ, now_ms=sync_time)
    assert (view.streak.current, view.streak.longest) == (5, 5)
    entry = server.gstate.ledger["points:streak-day:2026-04-10"]
    assert entry.at == offline[0]
    assert entry.week == "2026-W15"  # earned that week; W15 was still open on the 14th


def test_a_freeze_covers_a_missed_day() -> None:
    active = [*run("2026-06-01", 7), *days("2026-06-09")]  # 8 June missed
    view = streak_of_days(active, date(2026, 6, 9))
    assert (view.current, view.longest, view.freezes) == (8, 8, 0)
    assert view.frozen_days == ["2026-06-08"]


def test_a_gap_longer_than_the_freezes_breaks_the_streak() -> None:
    active = [*run("2026-06-01", 7), *days("2026-06-10")]  # 8 and 9 June missed, 1 freeze
    view = streak_of_days(active, date(2026, 6, 10))
    assert (view.current, view.longest, view.freezes, view.frozen_days) == (1, 7, 1, [])


def test_freezes_stock_at_most_two() -> None:
    view = streak_of_days(run("2026-06-01", 21), date(2026, 6, 21))
    assert (view.current, view.freezes) == (21, 2)
    # Two missed days are bridged by the two freezes.
    view = streak_of_days([*run("2026-06-01", 21), *days("2026-06-24")], date(2026, 6, 24))
    assert (view.current, view.freezes, view.frozen_days) == (22, 0, ["2026-06-22", "2026-06-23"])


def test_today_not_yet_active_keeps_the_streak_and_a_missed_yesterday_breaks_it() -> None:
    active = run("2026-06-01", 3)
    assert streak_of_days(active, date(2026, 6, 4)).current == 3
    view = streak_of_days(active, date(2026, 6, 5))
    assert (view.current, view.longest, view.active_today) == (0, 3, False)
    # With a freeze in stock, yesterday's miss is covered.
    assert streak_of_days(run("2026-06-01", 7), date(2026, 6, 9)).current == 7
    assert streak_of_days([], date(2026, 6, 9)).current == 0


@settings(deadline=None, max_examples=100)
@given(
    offsets=st.lists(st.integers(0, 60), max_size=40),
    data=st.data(),
)
def test_streak_is_a_function_of_the_set_of_days(offsets: list[int], data: st.DataObject) -> None:
    first = date(2026, 1, 1)
    active = [first + timedelta(days=o) for o in offsets]
    shuffled = data.draw(st.permutations(active + active[:5]))
    assert streak_of_days(active, date(2026, 3, 5)) == streak_of_days(shuffled, date(2026, 3, 5))


# -- certificates ------------------------------------------------------------------------------


def test_certificate_issued_once_and_kept_after_progress_changes() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", phone.event("path.enrolled", T0, path="p1"), T0)
    server.accept("phone", complete(phone, "c2", "k1", T0 + 1000), T0)
    issued = server.awarded("certificate.issued")
    assert [(b.get("course"), b.get("path")) for b in issued] == [("c2", None), (None, "p1")]
    assert issued[0]["code"] == certificate_code(SECRET, USER, "course", "c2")
    assert verify_certificate_code(SECRET, USER, "course", "c2", issued[0]["code"].lower())
    assert not verify_certificate_code(SECRET, "u2", "course", "c2", issued[0]["code"])

    server.accept(
        "phone", phone.event("lesson.uncompleted", T0 + 2000, course="c2", lesson="k1"), T0
    )
    server.accept("phone", complete(phone, "c2", "k1", T0 + 3000), T0)
    assert len(server.awarded("certificate.issued")) == 2
    assert set(server.gstate.certificates) == {"course:c2", "path:p1"}


def test_certificate_codes_come_from_the_factory() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", complete(phone, "c2", "k1", T0), T0)
    out = awards(
        server.state,
        CAT,
        GamifyState(),
        user_tz=TZ,
        now_ms=T0,
        make_code=lambda kind, ref: f"ID-{kind}-{ref}",
    )
    assert [a.body["code"] for a in out if a.type == "certificate.issued"] == ["ID-course-c2"]


# -- leaderboard ---------------------------------------------------------------------------------


def test_leaderboard_hides_opted_out_learners_from_others() -> None:
    entries = [
        BoardEntry("ann", 50),
        BoardEntry("bob", 80, opted_out=True),
        BoardEntry("cat", 50),
        BoardEntry("dan", 10),
    ]
    board = leaderboard(entries, viewer="dan", week="2026-W23")
    assert [(r.rank, r.user) for r in board.rows] == [(1, "ann"), (1, "cat"), (3, "dan")]
    assert board.you is not None and board.you.rank == 3
    # bob sees his own place, nobody else sees him.
    own = leaderboard(entries, viewer="bob")
    assert "bob" not in [r.user for r in own.rows]
    assert own.you is not None and (own.you.rank, own.you.points) == (1, 80)
    assert leaderboard(entries, viewer="eve").you is None
    assert len(leaderboard(entries, viewer="ann", limit=1).rows) == 1


def test_points_count_toward_the_week_they_were_earned_until_it_closes() -> None:
    grace = PointsRules().week_grace_ms
    sunday = ms("2026-04-12T22:00:00+02:00")  # W15
    assert iso_week(sunday, TZ) == "2026-W15"
    # Week 15 closes Monday 13 April 00:00 Paris + 2 days.
    assert credit_week(sunday, ms("2026-04-14T23:59:00+02:00"), TZ, grace) == "2026-W15"
    assert credit_week(sunday, ms("2026-04-15T00:00:00+02:00"), TZ, grace) == "2026-W16"
    assert closed_before(ms("2026-04-14T12:00:00+02:00"), TZ, grace) == "2026-W15"
    assert closed_before(ms("2026-04-15T12:00:00+02:00"), TZ, grace) == "2026-W16"


def test_weekly_points_in_the_learners_zone() -> None:
    # Sunday 23:30 in Paris is Sunday 21:30 UTC but Monday 06:30 in Tokyo.
    at = ms("2026-04-12T23:30:00+02:00")
    ledger = [
        LedgerEntry("a", 10, "r", "x", at, awarded_at=at),
        LedgerEntry("b", 5, "r", "y", at + DAY, awarded_at=at + DAY),
        LedgerEntry("c", 7, "r", "z", at, week="2026-W20", awarded_at=at),
    ]
    assert weekly_points(ledger, tz=TZ) == {"2026-W15": 10, "2026-W16": 5, "2026-W20": 7}
    assert weekly_points(ledger[:1], tz="Asia/Tokyo") == {"2026-W16": 10}
    late = LedgerEntry("d", 3, "r", "w", at, awarded_at=at + 10 * DAY)
    assert weekly_points([late], tz=TZ) == {"2026-W17": 3}


def test_gamify_view_shows_points_level_badges_and_this_week() -> None:
    server, phone = Server(), Device("phone")
    for index, (course, lesson) in enumerate(LESSONS[:3]):
        at = T0 + index * DAY
        server.accept("phone", complete(phone, course, lesson, at), at)
    view = gamify_view(server.gstate, CAT, user_tz=TZ, now_ms=T0 + 2 * DAY)
    assert view.points == server.gstate.points == sum(e.points for e in view.ledger)
    assert view.level.level == rules_for(CAT).levels.index(view.level.floor) + 1
    assert {b.id: b.earned for b in view.badges}["first-steps"] is True
    assert {b.id: b.earned for b in view.badges}["scholar"] is False
    assert view.week == "2026-W23" and view.week_points == view.points
    assert view.streak.current == 3


def test_a_decision_applied_twice_keeps_the_first() -> None:
    gstate = GamifyState()
    badge = {"achievement_id": "b", "name": "B", "earned_at": T0, "evidence": ["x"]}
    cert = {"code": "C-1", "path": "p1", "issued_at": T0}
    for _ in range(2):
        assert apply_award(gstate, "achievement.earned", badge, T0)
        assert apply_award(gstate, "certificate.issued", cert, T0)
        badge, cert = {**badge, "earned_at": T0 + 1}, {**cert, "code": "C-2"}
    assert gstate.badges["b"].earned_at == T0
    assert gstate.certificates["path:p1"].code == "C-1"


def test_awards_can_look_at_only_the_touched_courses() -> None:
    server, phone = Server(), Device("phone")
    server.accept("phone", complete(phone, "c2", "k1", T0), T0)
    fresh = GamifyState()
    kwargs: dict[str, Any] = {"user_tz": TZ, "now_ms": T0, "make_code": make_code}
    assert awards(server.state, CAT, fresh, courses={"c1"}, **kwargs) == []
    out = awards(server.state, CAT, fresh, courses={"c2"}, **kwargs)
    assert "points:course-completed:c2" in [a.body.get("key") for a in out]
    # A review (no fact) stamps what has no better time with now_ms.
    assert fresh.certificates["course:c2"].issued_at == T0


def test_crossing_a_level_threshold_is_announced_once() -> None:
    server, phone = Server(), Device("phone")
    # Levels [0, 50, 120]: level 1 is where everyone starts, so it is not news.
    first = server.accept("phone", complete(phone, "c1", "l1", T0), T0)
    assert [a for a in first if a.type == "level.reached"] == []
    assert server.gstate.level == 0
    for lesson in ("l2", "l3"):
        server.accept("phone", complete(phone, "c1", lesson, T0 + 1000), T0 + 1000)
    quiz = quiz_events(phone, "a1", True, T0 + 2000)
    for event in quiz:
        server.accept("phone", event, T0 + 2000)
    reached = server.awarded("level.reached")
    levels = [b["level"] for b in reached]
    assert levels == sorted(set(levels)) and levels[-1] == 3  # each once, going up
    assert all(b["points"] >= (0, 0, 50, 120)[b["level"]] for b in reached)
    assert server.gstate.level == level_for(server.gstate.points, CAT.gamification.levels).level
    # Folding the feed again holds the same level; nothing is announced twice.
    again = awards(
        server.state, CAT, server.gstate, user_tz=TZ, now_ms=T0 + DAY, make_code=make_code
    )
    assert again == []
    rebuilt = gamify_fold([], [(a.type, a.body, t) for a, t in server.feed], user_tz=TZ)
    assert rebuilt.level == 3


def test_awards_never_credit_a_time_after_the_servers_clock() -> None:
    """A fact dated next week by a clock running ahead earns its streak day, its points'
    time and week, and its badge's time today, as the server's clock tells."""
    server = Server()
    dev = Device("d1")
    ahead = complete(dev, "c1", "l1", T0 + 9 * DAY)
    found = server.accept("d1", ahead, T0)
    points = [a.body for a in found if a.type == "points.awarded"]
    assert {(p["at"], p["week"]) for p in points} == {(T0, iso_week(T0, TZ))}
    assert [p["ref"] for p in points if p["rule"] == "streak-day"] == ["2026-06-01"]
    assert server.gstate.days == {"2026-06-01": T0}
    badge = next(a.body for a in found if a.type == "achievement.earned")
    assert badge["earned_at"] == T0
    view = gamify_view(server.gstate, CAT, user_tz=TZ, now_ms=T0)
    assert view.streak.last_active_day == "2026-06-01"
