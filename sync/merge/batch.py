"""The merge of one device's push, as one pure function (merge v2, first step).

:func:`merge` runs the whole sequence for a batch: dedupe by ``seq`` against the device's
watermark, stop at a gap, check each event against the catalog, fold the fact, decide,
record streak activity and award. It returns an :class:`Outcome` that says everything
that follows (the feed entries to append, in order; the new watermark; the counts the ack
carries; the scopes the learner touched). The caller (the server's store) only loads the
learner's state, calls this once per batch, and persists the Outcome in one transaction.

:func:`settle` does the same for decisions the server makes on its own (a grade, a review
after a catalog change): their entries, then the awards they earn.

Both fold into the ``state`` and ``gamify`` they are given (the learner's slice, loaded for
this call): after the call those hold the changed state to store.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import msgspec

from sync.catalog import Catalog
from sync.events import (
    CLOCK_SKEW_MS,
    Body,
    Event,
    Rejection,
    ahead,
    check_event,
    credited_at,
    iso_ms,
    json_problem,
    settled_stamp,
)
from sync.gamify import CodeFactory, GamifyState, PointsRules, awards, is_activity, record_activity
from sync.hlc import ZERO
from sync.merge import projections
from sync.merge.decide import Context, Decision, decide
from sync.merge.fold import UserState, apply_body, lesson_key
from sync.merge.horizon import compact, effective_hlc
from sync.merge.outbox import DomainEvent, Seen, from_entry, from_fact, lesson_seen, observe
from sync.merge.projections import Rows
from sync.protocol.messages import EventRejection
from sync.views import lesson_done

_json = msgspec.json.Encoder()

# Facts that change a course's percent only by completing their lesson.
_HEARTBEATS = frozenset({"lesson.opened", "lesson.progressed"})


class DeviceEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """An accepted device event, to append to the feed as it came."""

    device_id: str
    event: Event
    body_json: str
    """The event's body as JSON, as the feed stores it."""
    sent_hlc: str | None = None
    """The device's own HLC when the event was merged at the settled horizon instead
    (``event.hlc`` is the HLC it was merged at: :func:`sync.merge.horizon.effective_hlc`)."""
    sent_at: int | None = None
    """The device's own ``at`` when it lay beyond the allowed skew after the server received
    the event, which was then taken at its receipt (``event.at``; :func:`sync.events.ahead`)."""


class ServerEntry(msgspec.Struct, frozen=True):
    """A decision (or a rejection) the server records in the learner's feed."""

    type: str
    body: dict[str, Any]
    hlc: str
    at: int
    tz: str


Entry = DeviceEntry | ServerEntry


class Outcome(msgspec.Struct):
    """Everything a merge decided, in the order it is to be persisted."""

    entries: list[Entry]
    watermark: int
    """The highest ``seq`` of the device now applied (the ack)."""
    accepted: int = 0
    duplicates: int = 0
    rejected: list[EventRejection] = []
    gap_at: int | None = None
    """The first seq that was not applied because the seq before it is missing."""
    scopes: set[str] = set()
    """``course:ID`` / ``path:ID`` scopes the accepted events touched."""
    events: list[DomainEvent] = []
    """Domain events for the outbox, each pointing at the entry it follows from."""
    rows: Rows = {}
    """Projection rows the merge changed, per table (:mod:`sync.merge.projections`), to upsert."""
    zero_competencies: list[str] = []
    """Competencies now at level zero: their ``user_competencies`` rows go."""


class Settled(msgspec.Struct):
    """What :func:`settle` decided: entries to append and their domain events."""

    entries: list[Entry]
    events: list[DomainEvent]
    rows: Rows = {}
    zero_competencies: list[str] = []


class Learner(msgspec.Struct):
    """The slice of one learner a merge reads and folds into."""

    user_id: str
    state: UserState
    gamify: GamifyState
    timezone: str = "UTC"
    plan: str = "free"
    seen: Seen = {}
    """The outbox's last look at this learner's progress (:mod:`sync.merge.outbox`)."""
    horizon: str = ZERO
    """The learner's settled horizon as the server knows it now (:mod:`sync.merge.horizon`)."""


def checked(event: Event, catalog: Catalog) -> tuple[Body | Rejection, str]:
    """Validate ``event`` and encode its body for the feed (msgpack may carry values, such as
    extension types, that JSON cannot hold: those bodies are rejected, not crashed on)."""
    verdict = check_event(event, catalog)
    if isinstance(verdict, Rejection):
        return verdict, ""
    if (problem := json_problem(event.body)) is not None:
        return Rejection("invalid_body", f"{event.type}: {problem}"), ""
    return verdict, _json.encode(event.body).decode()


def lesson_done_now(
    catalog: Catalog, state: UserState, course: object, lesson: object
) -> bool | None:
    """Whether the fact's lesson counts as completed now; None if the fact names none."""
    if not isinstance(course, str) or not isinstance(lesson, str):
        return None
    target = catalog.course(course)
    return None if target is None else lesson_done(state, target, lesson)


def newly_done(learner: Learner, course: str, lesson: str, done_now: bool) -> bool:
    """Whether the fact's lesson is completed now and was not at the last look of awards
    (remembered in ``learner.gamify.done``)."""
    key, done = f"{course}/{lesson}", learner.gamify.done
    if done_now:
        if key in done:
            return False
        done.add(key)
        return True
    done.discard(key)
    return False


def _award(
    out: Outcome | Settled,
    learner: Learner,
    ctx: Context,
    rules: PointsRules,
    make_code: CodeFactory,
    now: int,
    stamp: tuple[str, int, str],
    *,
    fact_at: int | None,
    fact_tz: str = "",
    courses: Collection[str] | None,
) -> None:
    found = awards(
        learner.state,
        ctx.catalog,
        learner.gamify,
        user_tz=learner.timezone,
        now_ms=now,
        make_code=make_code,
        fact_at=fact_at,
        fact_tz=fact_tz,
        activity=False,  # the merge records activity (it needs to know of a new day)
        rules=rules,
        courses=courses,
        plan=learner.plan,
    )
    at = stamp[1]
    for item in found:
        out.events += from_entry(len(out.entries), item.type, item.body, at)
        out.entries.append(ServerEntry(item.type, item.body, *stamp))


def merge(
    learner: Learner,
    device_id: str,
    watermark: int,
    batch: Sequence[Event],
    ctx: Context,
    *,
    rules: PointsRules,
    make_code: CodeFactory,
    now: int,
    skew_ms: int = CLOCK_SKEW_MS,
) -> Outcome:
    """Merge ``batch`` (one device's events, in ``seq`` order) into ``learner``.

    ``watermark`` is the device's highest applied ``seq``; ``now`` the server's time (ms),
    when it received the batch: rejections and awards' issue times, and the bound of every
    fact's time (``docs/protocol.md``, "Time"): an ``at`` more than ``skew_ms`` after it is
    taken as ``now`` (an ``event.clamped`` entry says so), and streak days, leaderboard
    weeks and cool-downs never count a fact later than ``now``.
    """
    out = Outcome([], watermark)
    horizon = max(learner.horizon, learner.state.settled)
    lessons: set[str] = set()
    changed: set[str] = set()  # courses whose every row may have changed
    wide = False  # whether paths and competencies may have
    for event in batch:
        if event.seq <= out.watermark:
            out.duplicates += 1
            continue
        if event.seq != out.watermark + 1:
            out.gap_at = event.seq
            break
        out.watermark = event.seq
        verdict, body_json = checked(event, ctx.catalog)
        if isinstance(verdict, Rejection):
            out.rejected.append(EventRejection(event.seq, verdict.code, verdict.reason))
            body = {
                "device_id": device_id,
                "seq": event.seq,
                "type": event.type,
                "code": verdict.code,
                "reason": verdict.reason,
            }
            settled = settled_stamp(event, now, skew_ms)
            out.entries.append(ServerEntry("event.rejected", body, *settled))
            continue
        out.accepted += 1
        fact = len(out.entries)
        changes: dict[str, Any] = {}
        merged_at = effective_hlc(event.hlc, horizon)
        sent = None if merged_at == event.hlc else event.hlc
        if sent is not None:  # late: merged as if stamped at the horizon
            changes["hlc"] = merged_at
        clock_ahead = ahead(event.at, now, skew_ms)
        sent_at = None if clock_ahead is None else event.at
        if sent_at is not None:  # the device's clock is wrong: the fact is kept, at receipt
            changes["at"] = now
        if changes:
            event = msgspec.structs.replace(event, **changes)
        out.entries.append(DeviceEntry(device_id, event, body_json, sent, sent_at))
        if clock_ahead is not None:
            note = {
                "device_id": device_id,
                "seq": event.seq,
                "type": event.type,
                "sent_at": sent_at,
                "reason": f"{clock_ahead}: taken as received at {iso_ms(now)}",
            }
            out.entries.append(ServerEntry("event.clamped", note, event.hlc, now, event.tz))
        credited = credited_at(event.at, now)
        out.events += from_fact(fact, event.type, event.body, event.at, learner.state)
        course = getattr(verdict, "course", None)
        lesson = getattr(verdict, "lesson", None)
        for name, value in (("course", course), ("path", getattr(verdict, "path", None))):
            if isinstance(value, str):
                out.scopes.add(f"{name}:{value}")
        stamp = (event.hlc, device_id, event.seq)
        key = (
            lesson_key(course, lesson)
            if isinstance(course, str) and isinstance(lesson, str)
            else ""
        )
        before = learner.state.lessons.get(key)
        first_at = None if before is None else before.first_at
        done_before = before is not None and bool(
            lesson_done_now(ctx.catalog, learner.state, course, lesson)
        )
        apply_body(learner.state, stamp, event.at, verdict)
        if key:
            lessons.add(key)
            after = learner.state.lessons.get(key)
            # A lesson started (or started earlier): its module's and course's rows change.
            if before is None or (after is not None and after.first_at != first_at):
                changed.add(str(course))
        # Looked at once, for decide, the outbox and awards alike (the costly part of a
        # heartbeat); a lesson fact's decisions never change its lesson's completion.
        done_now = lesson_done_now(ctx.catalog, learner.state, course, lesson)
        decisions = decide(
            learner.state,
            verdict,
            stamp,
            event.at,
            ctx,
            lesson_done=None if done_now is None else done_now and not done_before,
            received=now,
        )
        fact_stamp = (event.hlc, event.at, event.tz)
        for d in decisions:
            out.events += from_entry(len(out.entries), d.type, d.body, event.at)
            out.entries.append(ServerEntry(d.type, d.body, *fact_stamp))
        if decisions:
            wide = True
            changed.update(decided_courses(decisions))
        new_day = False
        if is_activity(event.type):
            days = len(learner.gamify.days)
            record_activity(learner.gamify, credited, event.tz, learner.timezone)
            new_day = len(learner.gamify.days) > days
        if isinstance(course, str) and (
            decisions
            or event.type not in _HEARTBEATS
            or (done_now is not None and done_now != lesson_seen(learner.seen, course, str(lesson)))
        ):
            changed.add(course)
            out.events += observe(
                learner.state,
                ctx.catalog,
                ctx.plan,
                learner.seen,
                course,
                index=fact,
                at=event.at,
                lesson=lesson if isinstance(lesson, str) else None,
            )
        # Awards look at course views, the costly part of a merge: only when something may
        # have earned one (a decision, a first activity that day, a lesson that became
        # completed).
        if (
            decisions
            or new_day
            or (done_now is not None and newly_done(learner, str(course), str(lesson), done_now))
        ):
            _award(
                out,
                learner,
                ctx,
                rules,
                make_code,
                now,
                fact_stamp,
                fact_at=credited,
                fact_tz=event.tz,
                courses={course} if isinstance(course, str) else set(),
            )
    # Evidence below the horizon is summed for good (it bounds the state, not the answers).
    compact(learner.state, ctx.catalog, horizon, lessons)
    out.rows, out.zero_competencies = _rows(learner, ctx, changed, lessons, wide=wide)
    return out


def decided_courses(decisions: Sequence[Decision]) -> set[str]:
    """The courses decisions change the progress of (their ``course``, or the course of
    the content a milestone reset starts over)."""
    out: set[str] = set()
    for d in decisions:
        course = d.body.get("course")
        if isinstance(course, str):
            out.add(course)
        scope = d.body.get("scope")
        if isinstance(scope, str):
            out.add(scope.partition("/")[0])
    return out


def _rows(
    learner: Learner, ctx: Context, courses: set[str], lessons: set[str], *, wide: bool
) -> tuple[Rows, list[str]]:
    """The projection rows a merge changed: every row of ``courses``, the rows of the other
    ``lessons`` (heartbeats), and the learner-wide rows when any course or decision may
    have changed them."""
    rows = projections.empty()
    state, catalog = learner.state, ctx.catalog
    projections.course_rows(state, catalog, ctx.plan, learner.user_id, courses, rows)
    beats = (
        projections.lesson_row(state, catalog, learner.user_id, key)
        for key in sorted(lessons)
        if key.partition("/")[0] not in courses
    )
    rows["lesson_progress"] += [row for row in beats if row is not None]
    zero: list[str] = []
    if courses or wide:
        zero = projections.learner_rows(state, catalog, ctx.plan, learner.user_id, rows)
    return {t: r for t, r in rows.items() if r}, zero


def settle(
    learner: Learner,
    decisions: Sequence[Decision],
    ctx: Context,
    *,
    rules: PointsRules,
    make_code: CodeFactory,
    now: int,
    hlc: str,
    courses: Collection[str] | None,
) -> Settled:
    """Entries for decisions the server made on its own (already folded into
    ``learner.state`` by :mod:`sync.merge.decide`), stamped ``now``, then the awards they earn,
    and their domain events (``courses``: those the decisions are about; None: all)."""
    stamp = (hlc, now, "")
    out = Settled([], [])
    for d in decisions:
        out.events += from_entry(len(out.entries), d.type, d.body, now)
        out.entries.append(ServerEntry(d.type, d.body, *stamp))
    looked = set(courses) if courses is not None else {c.id for c in ctx.catalog.courses}
    if out.entries:
        for course in sorted(looked):
            out.events += observe(
                learner.state, ctx.catalog, ctx.plan, learner.seen, course, index=0, at=now
            )
    _award(out, learner, ctx, rules, make_code, now, stamp, fact_at=None, courses=courses)
    if out.entries:
        out.rows, out.zero_competencies = _rows(learner, ctx, looked, set(), wide=True)
    return out
