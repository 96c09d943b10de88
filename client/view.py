"""The device's local view, folded once and kept: what ``status``, ``achievements`` and the
TUI show, without reading the whole feed again.

A :class:`Folded` is the fold (:func:`sync.merge.fold.fold`), the gamification state
(:func:`sync.gamify.gamify_fold`) and the learning time per day of one learner's facts (the
device entries of the feed, plus own events not yet in it and not rejected) and decisions
(the server entries of the feed, in feed order). :func:`full` builds one from every fact and
decision; :meth:`Folded.fact` and :meth:`Folded.decision` add one more, giving what
:func:`full` would give with it (the property test in ``tests/client/test_view.py``).

A fact can only be added, never taken away: the journal folds again (with :func:`full`) when
one must go (an own event rejected, a feed reset) or when :meth:`Folded.fact` returns False.
Pure: no SQL, no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from sync.events import QuizRef, Rejection, decode_body
from sync.gamify import (
    AWARD_TYPES,
    GamifyState,
    apply_award,
    is_activity,
    local_day,
    record_activity,
)
from sync.merge.fold import (
    Decision,
    Fact,
    LessonState,
    UserState,
    apply_body,
    apply_decision,
    fold,
    lesson_key,
)

log = logging.getLogger(__name__)


class Folded(msgspec.Struct):
    """One learner's view as folded so far (see the module docstring)."""

    state: UserState
    gamify: GamifyState
    seconds: dict[int, int]
    """Seconds of ``lesson.progressed`` per local day (ordinal, in :attr:`tz`)."""
    tz: str
    """The learner's zone the days are counted in; another zone needs a new fold."""
    dirty: set[str] = set()
    """Lessons (``course/lesson``) changed since the journal last wrote them: a lesson's
    state (its evidence) is what grows with the history, so each is stored apart."""

    def fact(self, fact: Fact, tz: str) -> bool:
        """Add one fact (``tz``: the zone it was recorded in). Returns False if the fact
        cannot be added in this order (a quiz attempt another device started: the fold
        keeps the device of its earliest fact), and then nothing was changed."""
        body = decode_body(fact.type, fact.body)
        if isinstance(body, QuizRef):
            quiz = self.state.quizzes.get(f"{body.course}/{body.quiz}")
            held = quiz.attempts.get(body.attempt) if quiz is not None else None
            if held is not None and held.device_id != fact.device_id:
                return False
        if not isinstance(body, Rejection):
            apply_body(self.state, (fact.hlc, fact.device_id, fact.seq), fact.at, body)
            lesson = getattr(body, "lesson", None)  # the lesson bodies, and only they
            if isinstance(lesson, str):
                self.dirty.add(lesson_key(body.course, lesson))  # type: ignore[union-attr]
        if is_activity(fact.type):
            record_activity(self.gamify, fact.at, tz, self.tz)
            seconds = fact.body.get("seconds") if fact.type == "lesson.progressed" else None
            if isinstance(seconds, int) and seconds > 0:
                day = local_day(fact.at, tz, self.tz).toordinal()
                self.seconds[day] = self.seconds.get(day, 0) + seconds
        return True

    def decision(self, type_: str, body: dict[str, Any], at: int) -> None:
        """Add the next server decision of the feed (feed order)."""
        if type_ == "event.rejected":
            return  # the journal marks the event it names rejected
        if type_ in AWARD_TYPES:
            apply_award(self.gamify, type_, body, at)
        else:
            apply_decision(self.state, type_, body, at)


def full(facts: Iterable[tuple[Fact, str]], decisions: Iterable[Decision], *, tz: str) -> Folded:
    """Fold every fact ``(fact, its zone)`` and decision (any order: sorted by user_seq)."""
    facts = list(facts)
    ordered = sorted(decisions, key=lambda d: d.user_seq)
    folded = Folded(
        _fold([f for f, _ in facts], [d for d in ordered if d.type not in AWARD_TYPES]),
        GamifyState(),
        {},
        tz,
    )
    for fact, zone in facts:
        if is_activity(fact.type):
            record_activity(folded.gamify, fact.at, zone, tz)
            seconds = fact.body.get("seconds") if fact.type == "lesson.progressed" else None
            if isinstance(seconds, int) and seconds > 0:
                day = local_day(fact.at, zone, tz).toordinal()
                folded.seconds[day] = folded.seconds.get(day, 0) + seconds
    for decision in ordered:
        if decision.type in AWARD_TYPES:
            apply_award(folded.gamify, decision.type, decision.body, decision.at)
    return folded


def _fold(facts: list[Fact], decisions: list[Decision]) -> UserState:
    try:
        return fold(facts, decisions)
    except (KeyError, TypeError, ValueError) as err:
        # A decision body this client cannot read (a broken or much newer server) must not
        # make the learner's progress unreadable: show it without that decision.
        log.warning("a server decision could not be applied (%r); skipping it", err)
    state = fold(facts)
    for decision in decisions:
        try:
            apply_decision(state, decision.type, decision.body, decision.at)
        except (KeyError, TypeError, ValueError):
            continue
    return state


_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(UserState)
_lesson_dec = msgspec.msgpack.Decoder(LessonState)
_gamify_dec = msgspec.msgpack.Decoder(GamifyState)
_seconds_dec = msgspec.msgpack.Decoder(dict[int, int])


def encode(folded: Folded) -> tuple[bytes, bytes, bytes]:
    """``(state without its lessons, gamify, seconds)`` as stored (read apart)."""
    top = msgspec.structs.replace(folded.state, lessons={})
    return _enc.encode(top), _enc.encode(folded.gamify), _enc.encode(folded.seconds)


def encode_lessons(folded: Folded, keys: Iterable[str]) -> list[tuple[str, bytes]]:
    """``(course/lesson, its state)`` of the lessons ``keys``, as stored."""
    return [(key, _enc.encode(folded.state.lessons[key])) for key in keys]


def decode_state(top: bytes, lessons: Iterable[tuple[str, bytes]]) -> UserState:
    state = _state_dec.decode(top)
    state.lessons = {key: _lesson_dec.decode(raw) for key, raw in lessons}
    return state


def decode_gamify(raw: bytes) -> GamifyState:
    return _gamify_dec.decode(raw)


def decode_seconds(raw: bytes) -> dict[int, int]:
    return _seconds_dec.decode(raw)
