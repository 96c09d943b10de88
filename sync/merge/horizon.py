"""The settled horizon: what keeps a learner's state bounded by the catalog, not by history.

A lesson's completion rules (``time:N``, ``watched:P``) count evidence stamped after the
lesson's latest reset, in stamp order. A reset can arrive late, from any device, so the
fold would have to keep every piece of evidence forever. It need not: each device stamps its
events with a hybrid logical clock that only grows, so once every active device has synced
past a point, nothing stamped below it can still arrive. That point is the learner's
*settled horizon* ``H``: the lowest "last synced HLC" over the learner's active devices (a
new device counts from its registration; one silent longer than a configured time stops
holding ``H`` back). The server computes it; this module uses it:

* :func:`effective_hlc`: a fact stamped below ``H`` (from a device that was silent too long,
  or whose clock is behind) is merged as if stamped at ``H``. The feed records that stamp
  (and the device's own), so every fold of the feed agrees.
* :func:`compact`: a lesson's evidence stamped below ``H`` is summed into its
  :class:`~sync.merge.fold.Base` (seconds, merged watched intervals, when the rule was first met)
  and dropped from the list; a later reset is stamped at or above ``H``, above all of it, so
  it cuts all of it, which a summary can say exactly.
* :func:`needs_refold`: a summary is true for the rule it was summed under; after a catalog
  change of that rule (or of the lesson's module), the learner's state is folded again from
  the feed.
* :func:`canonical`: the state summed as far as it goes, so that two states that show the
  same can be compared field by field (``waymark admin verify``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from sync.catalog import Catalog, Lesson
from sync.merge.fold import Base, UserState, union
from sync.views import effective_reset, first_met, rule_key

EVERYTHING: Final = "9999999999999-ffff"
"""A horizon above every HLC: :func:`canonical` sums everything."""


def effective_hlc(hlc: str, horizon: str) -> str:
    """The HLC a fact is merged at: its own, or the horizon if it is stamped below it."""
    return horizon if hlc < horizon else hlc


def compact(
    state: UserState, catalog: Catalog, horizon: str, keys: Iterable[str] | None = None
) -> None:
    """Sum the evidence stamped below ``horizon`` of the lessons ``keys`` (``course/lesson``;
    None: all) into their bases, in place. Lessons the catalog does not hold are left as
    they are (no rule to sum for). ``horizon`` must be one the merge has clamped to: no fact
    stamped below it is folded afterwards."""
    if horizon > state.settled:
        state.settled = horizon
    horizon = state.settled
    for key in state.lessons if keys is None else keys:
        st = state.lessons.get(key)
        if st is None:
            continue
        course, _, lesson_id = key.partition("/")
        lesson = catalog.lesson(course, lesson_id)
        module = catalog.lesson_module(course, lesson_id)
        if lesson is None or module is None:
            continue
        base = st.base
        if base is not None and _summed_otherwise(base, lesson, module):
            if not _empty(base):
                continue  # summed under another rule: needs_refold says so
            base = st.base = None  # nothing was summed: nothing to fold again
        reset = effective_reset(state, course, module, st)
        cut = 0
        while cut < len(st.evidence) and st.evidence[cut].stamp[0] < horizon:
            cut += 1
        if base is None and not cut:
            continue  # nothing to sum yet
        if base is not None and base.floor == reset and base.upto >= horizon:
            continue  # summed this far already
        if base is None or base.floor != reset:
            # A reset since (stamped above all of the old summary) cuts it all.
            base = Base(horizon, reset, module, rule_key(lesson))
        counted = [e for e in st.evidence[:cut] if reset is None or e.stamp > reset]
        met = base.met_at
        if met is None:
            met = first_met(lesson, counted, base.seconds, base.segments)
        times = [e.at for e in counted] + ([] if base.last_at is None else [base.last_at])
        summed = Base(
            max(base.upto, horizon),
            reset,
            module,
            base.rule,
            base.seconds + sum(e.seconds for e in counted),
            union(base.segments, ((e.start, e.end) for e in counted)),
            met,
            max(times) if times else None,
        )
        # Nothing summed counts as no summary: one form for the same state.
        st.base = None if _empty(summed) else summed
        del st.evidence[:cut]


def needs_refold(state: UserState, catalog: Catalog) -> bool:
    """Whether a lesson of the catalog was summed under another rule or module (a catalog
    change): then the learner's state must be folded again from the feed."""
    for key, st in state.lessons.items():
        base = st.base
        if base is None:
            continue
        course, _, lesson_id = key.partition("/")
        lesson = catalog.lesson(course, lesson_id)
        module = catalog.lesson_module(course, lesson_id)
        if lesson is not None and not _empty(base) and _summed_otherwise(base, lesson, module):
            return True
    return False


def _summed_otherwise(base: Base, lesson: Lesson, module: str | None) -> bool:
    """Whether ``base`` was summed under another rule or module than the lesson's now."""
    return base.rule != rule_key(lesson) or base.module != module


def _empty(base: Base) -> bool:
    return not base.seconds and not base.segments and base.met_at is None


def canonical(state: UserState, catalog: Catalog) -> UserState:
    """A copy of ``state`` summed as far as it goes: two states that fold the same facts
    give the same canonical state, however far each was summed before. Lessons the catalog
    no longer holds keep only what shows without a rule (their evidence is left out)."""
    out = msgspec.convert(msgspec.to_builtins(state), UserState)
    compact(out, catalog, EVERYTHING)
    for key, st in out.lessons.items():
        course, _, lesson_id = key.partition("/")
        if catalog.lesson(course, lesson_id) is None:
            st.evidence, st.base = [], None
    return out
