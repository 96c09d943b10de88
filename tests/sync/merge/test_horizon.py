"""The settled horizon (``sync.merge.horizon``): a learner's state stays bounded by the catalog
while every answer stays exactly the reference fold's, late resets included."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sync.merge.batch
import tests.reference.fold
import tests.reference.views
from sync.catalog import Catalog
from sync.events import Event
from sync.gamify import GamifyState, certificate_code, rules_for
from sync.hlc import ZERO, format_hlc
from sync.merge.batch import DeviceEntry, Learner, Outcome, merge
from sync.merge.decide import Context
from sync.merge.fold import Base, Fact, UserState, fold
from sync.merge.horizon import EVERYTHING, canonical, compact, effective_hlc, needs_refold
from sync.views import learner_view, lesson_view
from tests.sync.merge import test_reference_merge as ref
from tests.sync.test_gamify import SECRET, T0, TZ

CAT_V1, CAT_V2 = ref.CATALOGS
NOW = T0 + 86_400_000
"""The server's clock: after every event here (whose times are then taken as sent)."""
make_code = functools.partial(certificate_code, SECRET, "u1")


def learner() -> Learner:
    return Learner("u1", UserState(), GamifyState(), TZ, "free")


def push(who: Learner, device: str, events: list[Event], watermark: int, cat: Catalog) -> Outcome:
    return merge(
        who,
        device,
        watermark,
        events,
        Context(cat, "free"),
        rules=rules_for(cat),
        make_code=make_code,
        now=NOW,
    )


def heartbeat(seq: int, at: int, lesson: str = "v1", skew: int = 0, **body: Any) -> Event:
    body = {"seconds": 10, "from": (seq * 7) % 90, "to": (seq * 7) % 90 + 10} | body
    return Event(
        seq,
        format_hlc(at + skew, 0),
        at,
        "lesson.progressed",
        {"course": "c1", "lesson": lesson, **body},
        TZ,
    )


def beats(seqs: Any, lesson: str = "v1", **body: Any) -> list[Fact]:
    """Device d0's heartbeats ``seqs`` as facts, one second apart."""
    out = []
    for s in seqs:
        e = heartbeat(s, T0 + s * 1000, lesson=lesson, **body)
        out.append(Fact("d0", s, e.hlc, e.at, e.type, e.body))
    return out


def stored_size(who: Learner) -> int:
    """What the store writes for the learner's row: state and gamification state."""
    return len(msgspec.json.encode(who.state)) + len(msgspec.json.encode(who.gamify))


def heartbeats(who: Learner, count: int, first: int = 1, batch: int = 100) -> int:
    """``count`` heartbeats of one device (``d1``), pushed ``batch`` at a time, each push
    given the horizon the store would (the device's own mark after its last push)."""
    seq = first
    while seq < first + count:
        n = min(batch, first + count - seq)
        events = [heartbeat(s, T0 + s * 1000) for s in range(seq, seq + n)]
        push(who, "d1", events, seq - 1, CAT_V1)
        who.horizon = events[-1].hlc
        seq += n
    return seq


def test_stored_state_after_100k_heartbeats_is_within_twice_its_size_after_100() -> None:
    who = learner()
    after = heartbeats(who, 100)
    small = stored_size(who)
    heartbeats(who, 100_000 - 100, first=after)
    large = stored_size(who)
    assert large <= 2 * small, (small, large)
    lesson = who.state.lessons["c1/v1"]
    assert lesson.seconds == 100_000 * 10  # every second counted
    # Only what is stamped at or above the horizon (the last push and the event at it).
    assert len(lesson.evidence) <= 101


def courses(state: UserState) -> Any:
    return msgspec.to_builtins(learner_view(state, CAT_V1, "free").courses)


def reference_courses(facts: list[Fact]) -> Any:
    """Progress as the frozen fold of the facts shows it (decisions are not facts)."""
    state = tests.reference.fold.fold(facts)
    return msgspec.to_builtins(tests.reference.views.learner_view(state, CAT_V1, "free").courses)


def test_a_late_uncompletion_and_a_late_reset_cut_summed_evidence_exactly() -> None:
    """d0 (clock an hour ahead) watches v1 to completion; d1, which synced only once at the
    start, uncompletes and then resets the course: both stamped after part of d0's evidence
    and before the rest. The horizon (d1's mark) sums d0's evidence below d1's mark only,
    so what came after still counts, exactly as the reference fold says."""
    hour = 3_600_000
    d0 = [heartbeat(s, T0 + s * 60_000, skew=hour) for s in range(1, 40)]
    d1 = [
        Event(1, format_hlc(T0, 0), T0, "lesson.opened", {"course": "c1", "lesson": "v1"}, TZ),
        Event(
            2,
            format_hlc(T0 + hour + 600_000, 0),
            T0 + 600_000,
            "lesson.uncompleted",
            {"course": "c1", "lesson": "v1"},
            TZ,
        ),
        Event(
            3,
            format_hlc(T0 + hour + 1_500_000, 0),
            T0 + 1_500_000,
            "course.reset",
            {"course": "c1"},
            TZ,
        ),
    ]
    who = learner()
    push(who, "d1", d1[:1], 0, CAT_V1)
    marks = {"d1": d1[0].hlc}
    for start in range(0, len(d0), 5):  # d0 pushes often; d1's mark holds the horizon
        who.horizon = min(marks.values())
        batch = d0[start : start + 5]
        push(who, "d0", batch, start, CAT_V1)
        marks["d0"] = batch[-1].hlc
    summed = who.state.lessons["c1/v1"]
    assert summed.base is None or summed.base.seconds == 0  # d1 holds the horizon at T0
    # d1 comes back: its uncompletion and reset are late for d0's evidence, not for H.
    who.horizon = min(marks.values())
    push(who, "d1", d1[1:], 1, CAT_V1)
    facts = [Fact("d0", e.seq, e.hlc, e.at, e.type, e.body) for e in d0]
    facts += [Fact("d1", e.seq, e.hlc, e.at, e.type, e.body) for e in d1]
    assert courses(who.state) == reference_courses(facts)
    # Now d1 has synced past all of it: the horizon moves, the evidence is summed, and the
    # reset still cuts what it cut.
    later = Event(
        4,
        format_hlc(T0 + 3 * hour, 0),
        T0 + 3 * hour,
        "lesson.opened",
        {"course": "c1", "lesson": "t1"},
        TZ,
    )
    push(who, "d1", [later], 3, CAT_V1)
    facts.append(Fact("d1", 4, later.hlc, later.at, later.type, later.body))
    marks["d1"] = later.hlc
    who.horizon = min(marks.values())
    more = [heartbeat(s, T0 + s * 60_000, skew=hour) for s in range(40, 45)]
    push(who, "d0", more, len(d0), CAT_V1)
    facts += [Fact("d0", e.seq, e.hlc, e.at, e.type, e.body) for e in more]
    base = who.state.lessons["c1/v1"].base
    assert base is not None and base.seconds > 0 and base.floor is not None
    assert courses(who.state) == reference_courses(facts)


def test_a_fact_stamped_below_the_horizon_is_merged_at_the_horizon() -> None:
    """A device silent too long (it no longer holds the horizon back) comes back with an
    old event: it is merged as if stamped at the horizon, and its entry says both."""
    who = learner()
    push(who, "d0", [heartbeat(s, T0 + s * 1000) for s in range(1, 4)], 0, CAT_V1)
    who.horizon = format_hlc(T0 + 3000, 0)
    push(who, "d0", [heartbeat(4, T0 + 4000)], 3, CAT_V1)
    old = Event(
        1,
        format_hlc(T0 - 5000, 0),
        T0 - 5000,
        "lesson.uncompleted",
        {"course": "c1", "lesson": "v1"},
        TZ,
    )
    out = push(who, "d9", [old], 0, CAT_V1)
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry)
    assert (entry.event.hlc, entry.sent_hlc) == (format_hlc(T0 + 3000, 0), old.hlc)
    assert who.state.lessons["c1/v1"].uncompleted == (entry.event.hlc, "d9", 1)
    # Every fold of the feed (which records the stamp it was merged at) agrees.
    facts = beats(range(1, 5))
    facts.append(Fact("d9", 1, entry.event.hlc, old.at, old.type, old.body))
    assert canonical(who.state, CAT_V1) == canonical(fold(facts), CAT_V1)
    assert effective_hlc("1", "2") == "2" and effective_hlc("3", "2") == "3"


def test_the_horizon_never_goes_back() -> None:
    who = learner()
    who.horizon = format_hlc(T0 + 9000, 0)
    push(who, "d0", [heartbeat(1, T0 + 10_000)], 0, CAT_V1)
    assert who.state.settled == format_hlc(T0 + 9000, 0)
    who.horizon = ZERO  # e.g. every device silent too long: the state remembers
    out = push(who, "d1", [heartbeat(1, T0)], 0, CAT_V1)
    entry = out.entries[0]
    assert isinstance(entry, DeviceEntry) and entry.event.hlc == format_hlc(T0 + 9000, 0)


def test_summing_is_confluent_and_canonical_sums_everything() -> None:
    """Summing to H1 then H2 gives what summing to H2 at once gives; canonical() of a
    summed state and of the unsummed fold of the same facts are equal."""
    facts = beats(range(1, 30))
    facts.append(Fact("d1", 1, format_hlc(T0 + 12_500, 0), T0, "course.reset", {"course": "c1"}))
    once, twice = fold(facts), fold(facts)
    compact(once, CAT_V1, format_hlc(T0 + 20_000, 0))
    compact(twice, CAT_V1, format_hlc(T0 + 8000, 0))
    compact(twice, CAT_V1, format_hlc(T0 + 20_000, 0))
    assert once == twice
    assert canonical(once, CAT_V1) == canonical(fold(facts), CAT_V1)
    assert canonical(once, CAT_V1).lessons["c1/v1"].evidence == []
    assert canonical(once, CAT_V1).settled == EVERYTHING
    # A lesson the catalog no longer holds shows nothing of its evidence.
    gone = fold(beats([1], "l2", seconds=5))
    compact(gone, CAT_V2, EVERYTHING)
    assert gone.lessons["c1/l2"].evidence  # not summed: no rule to sum for
    assert canonical(gone, CAT_V2).lessons["c1/l2"].evidence == []


def test_a_changed_rule_or_module_needs_a_refold_and_is_not_summed_further() -> None:
    facts = [*beats([1, 3], "v1"), *beats([2, 4], "t1")]
    state = fold(facts)
    compact(state, CAT_V1, format_hlc(T0 + 3500, 0))
    assert not needs_refold(state, CAT_V1)
    assert needs_refold(state, CAT_V2)  # v1's duration and threshold, t1's threshold
    before = msgspec.to_builtins(state)
    compact(state, CAT_V2, EVERYTHING)
    assert msgspec.to_builtins(state)["lessons"] == before["lessons"]
    # An empty summary under an old rule is simply dropped: nothing to fold again.
    empty = UserState()
    empty.lessons["c1/v1"] = msgspec.structs.replace(
        state.lessons["c1/v1"], base=Base(ZERO, None, "m2", "old|0"), evidence=[]
    )
    assert not needs_refold(empty, CAT_V1)
    compact(empty, CAT_V1, EVERYTHING)
    assert empty.lessons["c1/v1"].base is None


def test_a_summary_under_another_rule_still_shows_what_it_can() -> None:
    """Until the store folds again (it does so after every catalog change), a lesson
    summed under an old rule is complete if its sums meet the new rule."""
    facts = beats(range(1, 4), "t1", seconds=50)
    state = fold(facts)
    compact(state, CAT_V1, EVERYTHING)  # time:120: met at the third
    base = state.lessons["c1/t1"].base
    assert base is not None and base.met_at == T0 + 3000
    lesson_v2 = CAT_V2.lesson("c1", "t1")  # time:60: met at the second
    assert lesson_v2 is not None
    assert lesson_view(lesson_v2, state.lessons["c1/t1"]).completed_at == T0 + 3000
    refolded = fold(facts)
    assert lesson_view(lesson_v2, refolded.lessons["c1/t1"]).completed_at == T0 + 2000


# Long histories of two or three devices on the lesson rules, pushed a few events at a
# time (so the horizon moves often), with catalog changes the store answers by a refold.
small_push = st.tuples(
    st.just("push"), st.integers(0, 2), st.integers(0, 3), st.integers(1, 4), st.none()
)
dense = st.builds(
    ref.History,
    st.sampled_from(["free"]),
    st.sampled_from([TZ]),
    ref.journals(ref.LESSON_STATE, [("c1", "v1"), ("c1", "t1")], (6, 30)),
    st.lists(
        st.tuples(
            st.sampled_from([60_000, ref.HOUR]),
            st.one_of(small_push, small_push, st.just(("catalog",))),
        ),
        min_size=10,
        max_size=40,
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(dense)
def test_long_histories_summed_as_they_go_are_exactly_the_reference_folds(
    history: ref.History,
) -> None:
    ref.assert_same(ref.run(history, ref.LIVE), ref.run(history, ref.FROZEN))


def test_the_dense_histories_sum_evidence_and_fold_again(monkeypatch: Any) -> None:
    """The strategy above reaches what it is for: evidence summed below the horizon, rules
    met inside a summary, and refolds after catalog changes."""
    reached = {"summed": 0, "met": 0, "refolds": 0}

    def spy(state: UserState, catalog: Catalog, horizon: str, keys: Any = None) -> None:
        compact(state, catalog, horizon, keys)
        bases = [s.base for s in state.lessons.values() if s.base is not None]
        reached["summed"] += any(b.seconds for b in bases)
        reached["met"] += any(b.met_at is not None for b in bases)

    def refold(server: ref.Server, catalog: Catalog) -> None:
        before = server.refolds
        ref._live_refold(server, catalog)
        reached["refolds"] += server.refolds - before

    monkeypatch.setattr(sync.merge.batch, "compact", spy)
    live = ref.Impl(**{**ref.LIVE.__dict__, "after_catalog": refold})

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,  # the same histories every run: what they reach is fixed
    )
    @given(dense)
    def run(history: ref.History) -> None:
        ref.run(history, live)

    run()
    assert reached["summed"] > 0 and reached["met"] > 0 and reached["refolds"] > 0, reached


def test_one_lesson_that_cannot_be_summed_does_not_stop_the_others() -> None:
    """A lesson the catalog no longer holds, or one without a summary, is passed over:
    the lessons after it are still summed or checked (the dict's order puts it first)."""
    state = fold([*beats([1], "l2", seconds=5), *beats([2, 3], "t1", seconds=50)])
    compact(state, CAT_V2, EVERYTHING)  # l2 is not in v2; t1 is
    base = state.lessons["c1/t1"].base
    assert base is not None and base.seconds == 100
    # Seconds alone (no watched intervals) are a summary too: under another rule, refold.
    fresh = fold([*beats([1], "l1", seconds=5), *beats([2], "t1", seconds=50)])
    compact(fresh, CAT_V1, format_hlc(T0 + 2500, 0))
    fresh.lessons["c1/l1"].base = None
    t1 = fresh.lessons["c1/t1"].base
    assert t1 is not None and t1.seconds == 50
    fresh.lessons["c1/t1"].base = msgspec.structs.replace(t1, segments=[], rule="old|0")
    assert list(fresh.lessons) == ["c1/l1", "c1/t1"]
    assert needs_refold(fresh, CAT_V1)


def test_summing_passes_over_lessons_with_nothing_to_sum_or_another_rule() -> None:
    # l1 has no evidence below the horizon; t1 was summed under v1's rule (v2 changed it);
    # v1 comes after both in the state and must still be summed.
    state = fold([*beats([9], "l1"), *beats([1], "t1", seconds=50), *beats([2, 3], "v1")])
    compact(state, CAT_V1, format_hlc(T0 + 1500, 0))  # sums t1 only
    state.lessons = {k: state.lessons[k] for k in ("c1/l1", "c1/t1", "c1/v1")}
    compact(state, CAT_V2, format_hlc(T0 + 5000, 0))
    v1 = state.lessons["c1/v1"].base
    assert v1 is not None and v1.seconds == 20


def test_a_module_reset_bounds_what_is_summed() -> None:
    """Evidence before a module's content started over is not summed; after it, it is."""
    state = fold(beats(range(1, 9)))  # v1 is in module m2
    state.resets["c1/m2"] = (format_hlc(T0 + 4500, 0), "d1", 1)
    compact(state, CAT_V1, format_hlc(T0 + 7500, 0))
    base = state.lessons["c1/v1"].base
    assert base is not None and base.seconds == 30  # seqs 5, 6, 7
    assert base.floor == (format_hlc(T0 + 4500, 0), "d1", 1)


def test_evidence_stamped_at_the_horizon_stays_a_list() -> None:
    """A late fact is merged at the horizon exactly, and ties break by device: evidence at
    the horizon must stay exact, so only what is strictly below it is summed."""
    who = learner()
    at = format_hlc(T0 + 3000, 0)
    push(who, "d0", [heartbeat(s, T0 + s * 1000) for s in range(1, 4)], 0, CAT_V1)
    who.horizon = at  # d0's seq 3 is stamped exactly at it
    late = Event(
        1, format_hlc(T0, 0), T0, "lesson.uncompleted", {"course": "c1", "lesson": "v1"}, TZ
    )
    push(who, "a9", [late], 0, CAT_V1)  # merged at (at, "a9", 1): before d0's seq 3
    assert [e.stamp for e in who.state.lessons["c1/v1"].evidence] == [(at, "d0", 3)]
    facts = [*beats(range(1, 4)), Fact("a9", 1, at, T0, late.type, late.body)]
    assert courses(who.state) == reference_courses(facts)


def test_canonical_keeps_what_the_catalog_holds() -> None:
    state = fold(beats(range(1, 5)))
    summed = canonical(state, CAT_V1).lessons["c1/v1"]
    assert summed.base is not None and summed.base.seconds == 40


def test_a_rule_met_in_a_summary_stays_met_when_more_is_summed() -> None:
    state = fold(beats(range(1, 7), "t1", seconds=50))  # time:120: met at the third
    compact(state, CAT_V1, format_hlc(T0 + 3500, 0))
    compact(state, CAT_V1, format_hlc(T0 + 6500, 0))
    base = state.lessons["c1/t1"].base
    assert base is not None and (base.met_at, base.seconds) == (T0 + 3000, 300)


def test_a_reset_after_a_summary_replaces_it_even_with_nothing_new() -> None:
    """Summed, then a course reset above all of it, at the same horizon: the summary
    counts nothing any more, so there is none (one form for the same state)."""
    state = fold(beats(range(1, 4), "t1", seconds=50))
    horizon = format_hlc(T0 + 3500, 0)
    compact(state, CAT_V1, horizon)
    assert state.lessons["c1/t1"].base is not None
    state.resets["c1"] = (format_hlc(T0 + 3600, 0), "d1", 1)
    compact(state, CAT_V1, horizon)
    assert state.lessons["c1/t1"].base is None
    # Lessons already summed this far are passed over, not a stop: v1 after t1 is summed.
    both = fold([*beats([1], "t1", seconds=50), *beats([2, 3], "v1")])
    later = format_hlc(T0 + 5000, 0)
    compact(both, CAT_V1, later, ["c1/t1"])  # t1 is summed to the horizon first
    compact(both, CAT_V1, later, ["c1/t1", "c1/v1"])
    v1 = both.lessons["c1/v1"].base
    assert v1 is not None and v1.seconds == 20
