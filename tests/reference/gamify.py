# Frozen copy of sync/gamify.py at commit 52300f6: never edit (see tests/reference/__init__.py).
"""Gamification: points ledger, levels, badges, streaks, certificates and leaderboard math.

Pure like the rest of ``sync``: "today", the server's clock and certificate codes are
parameters. Awards are server decisions (``docs/architecture.md``: facts merge, decisions
are recorded): each has an idempotency key, is made only when :class:`GamifyState` does not
hold that key yet, and is never revoked — uncompleting a lesson or resetting a course keeps
the points, badges and certificates it earned.

How the server wires it, per accepted fact, after :func:`sync.decide.decide`::

    gamify_state = gamify_fold(activity, gamify_decisions, user_tz=tz)   # or the cached one
    for type_, body in awards(state, catalog, gamify_state, fact_at=event.at,
                              fact_tz=event.tz, user_tz=tz, now_ms=now,
                              make_code=functools.partial(certificate_code, secret, user_id),
                              activity=is_activity(event.type)):
        append_decision(type_, body)          # already folded into gamify_state

Devices fold the same decisions with :func:`apply_award` and show :func:`gamify_view`.

Decision types (feed entries of origin ``server``):

* ``points.awarded`` ``{key, points, rule, ref, at, week}``: one ledger entry. ``key`` is
  ``points:{rule}:{ref}`` (rules: ``lesson-completed``, ``quiz-passed``, ``quiz-perfect``,
  ``module-completed``, ``course-completed``, ``path-completed``, ``streak-day``,
  ``badge``); ``at`` is when it was earned (the learner's activity, not arrival); ``week``
  the leaderboard week it counts toward (:func:`credit_week`).
* ``achievement.earned`` ``{achievement_id, name, earned_at, points, evidence}`` (seed's
  AchievementEarned).
* ``certificate.issued`` ``{code, course | path, issued_at, title}``.
* ``level.reached`` ``{level, points, at}``: the learner's points crossed a level's
  threshold (one decision for the highest level reached, so a device can celebrate it).

Streaks and the level itself are views (functions of the activity days and of the
ledger); ``level.reached`` only records that a level was celebrated.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from sync.catalog import Badge, BadgeCriteria, Catalog
from tests.reference.fold import UserState
from tests.reference.views import course_view

DAY_MS: Final = 86_400_000
DEFAULT_LEVELS: Final = (0, 100, 250, 500, 1000, 2000, 3500, 5000, 7500, 10_000)

ACTIVITY_TYPES: Final = frozenset(
    {
        "lesson.opened",
        "lesson.progressed",
        "lesson.completed",
        "quiz.started",
        "quiz.answered",
        "quiz.submitted",
        "assignment.saved",
        "assignment.submitted",
    }
)
"""Event types that count as learning activity for streaks (not resets, not enrollments)."""


AWARD_TYPES: Final = frozenset(
    {"points.awarded", "achievement.earned", "certificate.issued", "level.reached"}
)
"""Decision types this module makes (:func:`awards`) and folds (:func:`apply_award`)."""


def is_activity(event_type: str) -> bool:
    return event_type in ACTIVITY_TYPES


# -- rules ------------------------------------------------------------------------------------


class PointsRules(msgspec.Struct, frozen=True):
    """Server defaults; a catalog's ``gamification:`` section overrides them (:func:`rules_for`).

    ``freeze_every``: a streak freeze is earned every that many active days of one streak
    (0: never), at most ``max_freezes`` stocked. ``week_grace_ms``: how long after a
    week ends late (offline) points still count toward it (:func:`credit_week`).
    """

    lesson_completed: int = 10
    quiz_passed: int = 20
    quiz_perfect: int = 10
    module_completed: int = 25
    course_completed: int = 100
    path_completed: int = 250
    streak_day: int = 5
    levels: tuple[int, ...] = DEFAULT_LEVELS
    badges: tuple[Badge, ...] = ()
    freeze_every: int = 7
    max_freezes: int = 2
    week_grace_ms: int = 2 * DAY_MS


def rules_for(catalog: Catalog, base: PointsRules | None = None) -> PointsRules:
    """``base`` (default: :class:`PointsRules`) with the catalog's overrides and badges."""
    base = base if base is not None else PointsRules()
    section = catalog.gamification
    overrides: dict[str, Any] = {
        name: value
        for name in section.points.__struct_fields__
        if (value := getattr(section.points, name)) is not None
    }
    if section.levels:
        overrides["levels"] = tuple(section.levels)
    if section.badges:
        overrides["badges"] = (*base.badges, *section.badges)
    return msgspec.structs.replace(base, **overrides)


# -- time zones and days ---------------------------------------------------------------------


@lru_cache(maxsize=512)
def zone(name: str, fallback: str = "UTC") -> tzinfo:
    """The IANA zone ``name``; else ``fallback``; else UTC (a device may send anything)."""
    for key in (name, fallback):
        if key:
            try:
                return ZoneInfo(key)
            except (ValueError, ZoneInfoNotFoundError):
                continue
    return UTC


def local_day(at_ms: int, tz: str, user_tz: str = "UTC") -> date:
    """The calendar day of ``at_ms`` in the zone the event reported (``tz``), falling back to
    the learner's zone: a traveller is credited by where they were."""
    return datetime.fromtimestamp(at_ms / 1000, zone(tz, user_tz)).date()


def iso_week(at_ms: int, tz: str) -> str:
    """``YYYY-Www`` of ``at_ms`` in zone ``tz``; ids of one zone sort as weeks do."""
    year, week, _ = local_day(at_ms, tz, "UTC").isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_closes_at(week_of_ms: int, tz: str, grace_ms: int) -> int:
    """Epoch ms when the ISO week holding ``week_of_ms`` (in ``tz``) closes: the next
    Monday's midnight there, plus ``grace_ms``."""
    day = local_day(week_of_ms, tz, "UTC")
    monday = day + timedelta(days=7 - day.weekday())
    midnight = datetime.combine(monday, time(), tzinfo=zone(tz))
    return int(midnight.timestamp() * 1000) + grace_ms


def credit_week(at_ms: int, awarded_ms: int, tz: str, grace_ms: int) -> str:
    """The leaderboard week of points earned at ``at_ms`` and awarded at ``awarded_ms``: the
    week they were earned in, unless that week had closed when they arrived (then the
    week they arrived in), so a closed week's totals never change."""
    if awarded_ms >= week_closes_at(at_ms, tz, grace_ms):
        return iso_week(awarded_ms, tz)
    return iso_week(at_ms, tz)


def closed_before(now_ms: int, tz: str, grace_ms: int) -> str:
    """The first ISO week still open at ``now_ms``: every week before it is final."""
    last_week = now_ms - 7 * DAY_MS
    if now_ms >= week_closes_at(last_week, tz, grace_ms):
        return iso_week(now_ms, tz)
    return iso_week(last_week, tz)


# -- state ------------------------------------------------------------------------------------


class LedgerEntry(msgspec.Struct, frozen=True):
    key: str
    points: int
    rule: str
    ref: str
    at: int
    """When it was earned (the learner's activity)."""
    week: str = ""
    awarded_at: int = 0


class EarnedBadge(msgspec.Struct, frozen=True):
    id: str
    name: str
    earned_at: int
    points: int = 0
    evidence: list[str] = []


class Certificate(msgspec.Struct, frozen=True):
    code: str
    kind: Literal["course", "path"]
    ref: str
    issued_at: int
    title: str = ""


class GamifyState(msgspec.Struct):
    """What gamification holds for one learner: activity days (from facts) and the ledger,
    badges and certificates (from decisions)."""

    days: dict[str, int] = {}
    """Local day (ISO date) → earliest activity that day, epoch ms."""
    ledger: dict[str, LedgerEntry] = {}
    badges: dict[str, EarnedBadge] = {}
    certificates: dict[str, Certificate] = {}
    """By ``course:{id}`` or ``path:{id}``."""
    level: int = 0
    """The highest level a ``level.reached`` decision announced."""
    done: set[str] = set()
    """Server memo, not a decision: ``course/lesson`` keys that were completed when the
    merge last looked, so awards are looked for only when a lesson becomes completed.
    Rebuilding without it costs one extra look per completed lesson, nothing more."""

    @property
    def points(self) -> int:
        return sum(e.points for e in self.ledger.values())


def record_activity(gstate: GamifyState, at: int, tz: str, user_tz: str) -> str:
    """Fold one learning-activity fact (its ``at`` and ``tz``) in; returns its day.
    Keeping the earliest time per day makes this commutative and idempotent."""
    day = local_day(at, tz, user_tz).isoformat()
    held = gstate.days.get(day)
    if held is None or at < held:
        gstate.days[day] = at
    return day


def apply_award(gstate: GamifyState, type_: str, body: dict[str, Any], at: int) -> bool:
    """Fold one gamification decision (feed order, feed time ``at``). A decision already
    held (same key) changes nothing. Returns False for a type or body this version does
    not know, so an older device can read a newer server's feed."""
    try:
        match type_:
            case "points.awarded":
                key = str(body["key"])
                if key not in gstate.ledger:
                    gstate.ledger[key] = LedgerEntry(
                        key,
                        int(body["points"]),
                        str(body.get("rule", "")),
                        str(body.get("ref", "")),
                        int(body.get("at", at)),
                        str(body.get("week", "")),
                        at,
                    )
            case "achievement.earned":
                badge = str(body["achievement_id"])
                if badge not in gstate.badges:
                    gstate.badges[badge] = EarnedBadge(
                        badge,
                        str(body.get("name", "")),
                        int(body.get("earned_at", at)),
                        int(body.get("points", 0)),
                        [str(x) for x in body.get("evidence", [])],
                    )
            case "level.reached":
                gstate.level = max(gstate.level, int(body["level"]))
            case "certificate.issued":
                kind: Literal["course", "path"] = "course" if "course" in body else "path"
                ref = str(body[kind])
                if f"{kind}:{ref}" not in gstate.certificates:
                    gstate.certificates[f"{kind}:{ref}"] = Certificate(
                        str(body["code"]),
                        kind,
                        ref,
                        int(body.get("issued_at", at)),
                        str(body.get("title", "")),
                    )
            case _:
                return False
    except (KeyError, TypeError, ValueError):
        return False
    return True


def gamify_fold(
    activity: Iterable[tuple[int, str]],
    decisions: Iterable[tuple[str, dict[str, Any], int]],
    *,
    user_tz: str,
) -> GamifyState:
    """Rebuild from the learner's activity facts ``(at, tz)`` (any order, duplicates fine)
    and gamification decisions ``(type, body, at)`` in feed order."""
    gstate = GamifyState()
    for at, tz in activity:
        record_activity(gstate, at, tz, user_tz)
    for type_, body, at in decisions:
        apply_award(gstate, type_, body, at)
    return gstate


# -- certificates ---------------------------------------------------------------------------

CodeFactory = Callable[[str, str], str]
"""``(kind, ref) -> code`` for a new certificate; kind is ``course`` or ``path``."""


def certificate_code(secret: bytes, user_id: str, kind: str, ref: str) -> str:
    """A verification code derived by HMAC-SHA256 from a server secret.

    Chosen over a random id because it is deterministic: a feed rebuilt or a decision
    replayed names the same code, two server instances agree, and anyone holding the
    secret can check a code against (learner, course|path) without a lookup
    (:func:`verify_certificate_code`). Rotating the secret changes codes for new
    certificates only; issued ones keep the code recorded in their decision.
    """
    message = f"waymark-certificate\0{user_id}\0{kind}\0{ref}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    text = base64.b32encode(digest[:10]).decode()  # 16 characters, no padding
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def verify_certificate_code(secret: bytes, user_id: str, kind: str, ref: str, code: str) -> bool:
    expected = certificate_code(secret, user_id, kind, ref)
    return hmac.compare_digest(expected, code.strip().upper())


# -- levels -------------------------------------------------------------------------------


class LevelView(msgspec.Struct, frozen=True):
    """``level`` 1 is reached at the first threshold; ``next_level_at`` and ``to_next`` are
    None at the top level."""

    level: int
    points: int
    floor: int
    next_level_at: int | None
    to_next: int | None
    percent: int


def level_for(points: int, thresholds: Iterable[int] = DEFAULT_LEVELS) -> LevelView:
    steps = sorted(thresholds)
    level = bisect.bisect_right(steps, points)
    floor = steps[level - 1] if level else 0
    if level < len(steps):
        ceiling = steps[level]
        percent = (points - floor) * 100 // (ceiling - floor) if ceiling > floor else 0
        return LevelView(level, points, floor, ceiling, ceiling - points, percent)
    return LevelView(level, points, floor, None, None, 100)


# -- streaks --------------------------------------------------------------------------------


class StreakView(msgspec.Struct, frozen=True):
    """``current`` counts active days of the streak still alive today (today itself is not
    missed yet); days a freeze covered keep it alive without counting."""

    current: int
    longest: int
    freezes: int
    frozen_days: list[str]
    active_today: bool
    last_active_day: str | None


def streak_of_days(
    days: Iterable[date], today: date, *, freeze_every: int = 7, max_freezes: int = 2
) -> StreakView:
    """Streaks over a set of local activity days (order and duplicates do not matter).

    A freeze is earned every ``freeze_every`` active days of one streak, at most
    ``max_freezes`` held. A gap of missed days is bridged only if the freezes held cover
    all of it (then they are spent); otherwise the streak breaks and the freezes are kept.
    """
    active = sorted(set(days))
    stock = run = longest = 0
    frozen: list[str] = []
    previous: date | None = None

    def bridge(start: date, end: date) -> bool:
        # Missed days strictly between start and end.
        nonlocal stock
        gap = (end - start).days - 1
        if gap <= 0:
            return True
        if gap <= stock:
            stock -= gap
            frozen.extend((start + timedelta(days=i)).isoformat() for i in range(1, gap + 1))
            return True
        return False

    for day in active:
        if previous is not None and not bridge(previous, day):
            run = 0
        run += 1
        longest = max(longest, run)
        if freeze_every and run % freeze_every == 0:
            stock = min(max_freezes, stock + 1)
        previous = day
    current = run if previous is not None and bridge(previous, today) else 0
    return StreakView(
        current,
        longest,
        stock,
        frozen,
        today in active,
        previous.isoformat() if previous else None,
    )


def streak(
    activity: Iterable[tuple[int, str]],
    *,
    user_tz: str,
    now_ms: int,
    rules: PointsRules | None = None,
) -> StreakView:
    """Streaks from a set of activity facts ``(at, tz)``: each is credited to its day in the
    zone it reported (``user_tz`` if none), whenever it arrived; today is ``now_ms`` in
    ``user_tz``."""
    rules = rules if rules is not None else PointsRules()
    days = [local_day(at, tz, user_tz) for at, tz in activity]
    return streak_of_days(
        days,
        local_day(now_ms, user_tz),
        freeze_every=rules.freeze_every,
        max_freezes=rules.max_freezes,
    )


def _streak_of_state(gstate: GamifyState, today: date, rules: PointsRules) -> StreakView:
    return streak_of_days(
        (date.fromisoformat(d) for d in gstate.days),
        today,
        freeze_every=rules.freeze_every,
        max_freezes=rules.max_freezes,
    )


# -- badges ---------------------------------------------------------------------------------


class Stats(NamedTuple):
    """What badge criteria look at. Counts come from the ledger, so they never go down."""

    lessons: int
    quizzes: int
    perfect: int
    courses: frozenset[str]
    paths: frozenset[str]
    competencies: frozenset[str]
    badges: frozenset[str]
    longest_streak: int
    points: int


def stats_of(state: UserState, gstate: GamifyState, streak_view: StreakView) -> Stats:
    by_rule: dict[str, set[str]] = {}
    for entry in gstate.ledger.values():
        by_rule.setdefault(entry.rule, set()).add(entry.ref)
    return Stats(
        lessons=len(by_rule.get("lesson-completed", ())),
        quizzes=len(by_rule.get("quiz-passed", ())),
        perfect=len(by_rule.get("quiz-perfect", ())),
        courses=frozenset(by_rule.get("course-completed", ())),
        paths=frozenset(by_rule.get("path-completed", ())),
        competencies=frozenset(state.competencies),
        badges=frozenset(gstate.badges),
        longest_streak=streak_view.longest,
        points=gstate.points,
    )


def _empty(criteria: BadgeCriteria) -> bool:
    return criteria == BadgeCriteria()


def check_criteria(criteria: BadgeCriteria, stats: Stats) -> list[str] | None:
    """The evidence (one line per condition met) if ``criteria`` hold, else None."""
    evidence: list[str] = []
    counts = (
        ("lessons_completed", criteria.lessons_completed, stats.lessons),
        ("quizzes_passed", criteria.quizzes_passed, stats.quizzes),
        ("perfect_quizzes", criteria.perfect_quizzes, stats.perfect),
        ("streak", criteria.streak, stats.longest_streak),
        ("courses_completed", criteria.courses_completed, len(stats.courses)),
        ("competencies_mastered", criteria.competencies_mastered, len(stats.competencies)),
        ("points", criteria.points, stats.points),
    )
    for name, need, have in counts:
        if need is not None:
            if have < need:
                return None
            evidence.append(f"{name}: {have} >= {need}")
    named = (
        ("course_completed", criteria.course_completed, stats.courses),
        ("path_completed", criteria.path_completed, stats.paths),
        ("competency", criteria.competency, stats.competencies),
        ("badge", criteria.badge, stats.badges),
    )
    for name, item, held in named:
        if item is not None:
            if item not in held:
                return None
            evidence.append(f"{name}: {item}")
    for sub in criteria.all_of:
        found = check_criteria(sub, stats)
        if found is None:
            return None
        evidence += found
    if criteria.any_of:
        for sub in criteria.any_of:
            found = check_criteria(sub, stats)
            if found is not None:
                evidence += found
                break
        else:
            return None
    return evidence


# -- the decisions --------------------------------------------------------------------------


class Award(NamedTuple):
    """One gamification decision to append to the learner's feed."""

    type: str
    body: dict[str, Any]


class _Awarder:
    def __init__(
        self,
        gstate: GamifyState,
        rules: PointsRules,
        *,
        user_tz: str,
        now_ms: int,
        at: int,
        make_code: CodeFactory,
    ) -> None:
        self.gstate, self.rules = gstate, rules
        self.user_tz, self.now_ms, self.at = user_tz, now_ms, at
        self.make_code = make_code
        self.out: list[Award] = []

    def emit(self, type_: str, **body: Any) -> None:
        apply_award(self.gstate, type_, body, self.now_ms)
        self.out.append(Award(type_, body))

    def points(self, rule: str, ref: str, points: int, at: int | None) -> None:
        key = f"points:{rule}:{ref}"
        if key in self.gstate.ledger:
            return
        earned = min(at if at is not None else self.at, self.now_ms)  # issue 11
        week = credit_week(earned, self.now_ms, self.user_tz, self.rules.week_grace_ms)
        self.emit(
            "points.awarded", key=key, points=points, rule=rule, ref=ref, at=earned, week=week
        )

    def certificate(self, kind: Literal["course", "path"], ref: str, title: str) -> None:
        if f"{kind}:{ref}" in self.gstate.certificates:
            return
        code = self.make_code(kind, ref)
        self.emit("certificate.issued", code=code, issued_at=self.at, title=title, **{kind: ref})


def awards(
    state: UserState,
    catalog: Catalog,
    gstate: GamifyState,
    *,
    user_tz: str,
    now_ms: int,
    make_code: CodeFactory,
    fact_at: int | None = None,
    fact_tz: str = "",
    activity: bool = True,
    rules: PointsRules | None = None,
    courses: Collection[str] | None = None,
    plan: str = "free",
) -> list[Award]:
    """Gamification decisions the learner's state now calls for, already folded into
    ``gstate`` (append them to the feed in this order).

    Call after :func:`sync.decide.decide` (its passes, path completions and competencies
    count here). ``fact_at``/``fact_tz``: the fact just accepted; it is recorded as
    activity for streaks when ``activity`` (see :func:`is_activity`) and times awards
    that have no better one (badges, certificates). None (a review after a catalog
    change): ``now_ms``. ``courses`` limits the look at course content to those (the
    fact's course); None looks at every course. Never revokes; never awards a key twice.
    """
    rules = rules if rules is not None else rules_for(catalog)
    if fact_at is not None:
        fact_at = min(fact_at, now_ms)  # issue 11: no time after the server's
    if fact_at is not None and activity:
        record_activity(gstate, fact_at, fact_tz, user_tz)
    awarder = _Awarder(
        gstate,
        rules,
        user_tz=user_tz,
        now_ms=now_ms,
        at=fact_at if fact_at is not None else now_ms,
        make_code=make_code,
    )
    for course in catalog.courses:
        if courses is not None and course.id not in courses:
            continue
        view = course_view(state, course, plan)
        for module in view.modules:
            for lesson in module.lessons:
                if lesson.status == "completed":
                    awarder.points(
                        "lesson-completed",
                        f"{course.id}/{lesson.id}",
                        rules.lesson_completed,
                        lesson.completed_at,
                    )
            for quiz in module.quizzes:
                _quiz_points(awarder, state, course.id, quiz.id)
            if module.status == "completed":
                awarder.points(
                    "module-completed",
                    f"{course.id}/{module.id}",
                    rules.module_completed,
                    module.completed_at,
                )
        if view.status == "completed":
            awarder.points("course-completed", course.id, rules.course_completed, view.completed_at)
            awarder.certificate("course", course.id, course.title)
    for path in catalog.paths:
        enrollment = state.enrollments.get(path.id)
        if enrollment is not None and (
            enrollment.status == "completed" or enrollment.completed_at is not None
        ):
            awarder.points("path-completed", path.id, rules.path_completed, enrollment.completed_at)
            awarder.certificate("path", path.id, path.title)
    for day in sorted(gstate.days):
        awarder.points("streak-day", day, rules.streak_day, gstate.days[day])
    _badges(awarder, state, local_day(now_ms, user_tz))
    reached = level_for(gstate.points, rules.levels)
    if reached.level > gstate.level and reached.floor > 0:  # the starting level is not news
        awarder.emit("level.reached", level=reached.level, points=gstate.points, at=awarder.at)
    return awarder.out


def _quiz_points(awarder: _Awarder, state: UserState, course: str, quiz: str) -> None:
    held = state.quizzes.get(f"{course}/{quiz}")
    if held is None:
        return
    if held.passed_at is not None:
        awarder.points("quiz-passed", f"{course}/{quiz}", awarder.rules.quiz_passed, held.passed_at)
    perfect = [r.at for r in held.results.values() if r.counted and r.score >= 1.0]
    if perfect:
        awarder.points("quiz-perfect", f"{course}/{quiz}", awarder.rules.quiz_perfect, min(perfect))


def _badges(awarder: _Awarder, state: UserState, today: date) -> None:
    gstate, rules = awarder.gstate, awarder.rules
    streak_view = _streak_of_state(gstate, today, rules)
    # Badges can need other badges (or points that badges give): go until nothing changes.
    progress = True
    while progress:
        progress = False
        stats = stats_of(state, gstate, streak_view)
        for badge in rules.badges:
            if badge.id in gstate.badges or _empty(badge.criteria):
                continue  # a badge without criteria is never earned automatically
            evidence = check_criteria(badge.criteria, stats)
            if evidence is None:
                continue
            awarder.emit(
                "achievement.earned",
                achievement_id=badge.id,
                name=badge.name,
                earned_at=awarder.at,
                points=badge.points,
                evidence=evidence,
            )
            awarder.points("badge", badge.id, badge.points, awarder.at)
            progress = True
            break  # recompute stats: this badge may satisfy the next


# -- leaderboard ----------------------------------------------------------------------------


def weekly_points(
    ledger: Iterable[LedgerEntry], *, tz: str, grace_ms: int = 2 * DAY_MS
) -> dict[str, int]:
    """Points per leaderboard week: the week recorded in each entry when it was awarded,
    else (entries without one) :func:`credit_week` from its ``at`` and ``awarded_at``."""
    totals: dict[str, int] = {}
    for entry in ledger:
        week = entry.week or credit_week(entry.at, entry.awarded_at, tz, grace_ms)
        totals[week] = totals.get(week, 0) + entry.points
    return totals


class BoardEntry(NamedTuple):
    user: str
    points: int
    opted_out: bool = False


class Ranked(msgspec.Struct, frozen=True):
    rank: int
    user: str
    points: int
    you: bool = False


class Leaderboard(msgspec.Struct, frozen=True):
    """``rows``: the top learners who take part; ``you``: the viewer's own place (also
    when they opted out: they see it, nobody else does)."""

    week: str
    rows: list[Ranked]
    you: Ranked | None


def leaderboard(
    entries: Iterable[BoardEntry], *, viewer: str, week: str = "", limit: int = 10
) -> Leaderboard:
    """Rank by points (ties share a rank, "1224"; then by user id for a stable order).
    Opted-out learners are left out of everyone else's board and do not take a rank."""
    everyone = list(entries)
    shown = sorted((e for e in everyone if not e.opted_out), key=lambda e: (-e.points, e.user))
    scores = sorted(-e.points for e in shown)
    rows = [
        Ranked(bisect.bisect_left(scores, -e.points) + 1, e.user, e.points, e.user == viewer)
        for e in shown
    ]
    own = next((e for e in everyone if e.user == viewer), None)
    you = None
    if own is not None:
        you = Ranked(bisect.bisect_left(scores, -own.points) + 1, own.user, own.points, True)
    return Leaderboard(week, rows[:limit], you)


# -- views ----------------------------------------------------------------------------------


class BadgeView(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    points: int
    earned: bool
    earned_at: int | None = None
    evidence: list[str] = []


class GamifyView(msgspec.Struct, frozen=True):
    points: int
    level: LevelView
    streak: StreakView
    badges: list[BadgeView]
    certificates: list[Certificate]
    ledger: list[LedgerEntry]
    week: str
    week_points: int


def gamify_view(
    gstate: GamifyState,
    catalog: Catalog,
    *,
    user_tz: str,
    now_ms: int,
    rules: PointsRules | None = None,
) -> GamifyView:
    """What a learner sees: points, level, streak, badges (earned and not), certificates,
    the ledger (newest first) and this week's points."""
    rules = rules if rules is not None else rules_for(catalog)
    total = gstate.points
    badges = []
    for badge in rules.badges:
        earned = gstate.badges.get(badge.id)
        badges.append(
            BadgeView(
                badge.id,
                badge.name,
                badge.description,
                badge.points,
                earned is not None,
                earned.earned_at if earned else None,
                earned.evidence if earned else [],
            )
        )
    week = iso_week(now_ms, user_tz)
    weeks = weekly_points(gstate.ledger.values(), tz=user_tz, grace_ms=rules.week_grace_ms)
    return GamifyView(
        total,
        level_for(total, rules.levels),
        _streak_of_state(gstate, local_day(now_ms, user_tz), rules),
        badges,
        sorted(gstate.certificates.values(), key=lambda c: (c.issued_at, c.kind, c.ref)),
        sorted(gstate.ledger.values(), key=lambda e: (-e.at, e.key)),
        week,
        weeks.get(week, 0),
    )
