"""The event catalog (``sync.event_catalog``): every event the outbox writes has an entry,
a version and a schema; every seed name maps; what the merge derives fits the schemas; and
``docs/events.md`` is what the code generates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sync.catalog import parse_catalog
from sync.event_catalog import (
    BY_NAME,
    CATALOG,
    NOT_PUBLISHED,
    SEED_NAMES,
    BadPattern,
    envelope,
    matching,
    render_markdown,
    schemas,
    splice,
)
from sync.gamify import GamifyState, rules_for
from sync.merge.batch import Learner, merge, settle
from sync.merge.decide import Context, grade
from sync.merge.fold import UserState
from sync.merge.outbox import TYPES, DomainEvent, from_entry
from tests.sync.test_gamify import CAT, T0, TZ, Device, complete, make_code, quiz_events

DOC = Path(__file__).parents[2] / "docs" / "events.md"
SEEDS = [
    "progress.enrollment.created",
    "progress.enrollment.status_changed",
    "progress.enrollment.completed",
    "progress.milestone.started",
    "progress.milestone.completed",
    "progress.milestone.unlocked",
    "progress.assessment.started",
    "progress.assessment.completed",
    "progress.assessment.passed",
    "progress.assessment.failed",
    "progress.path.completed",
    "progress.analytics.snapshot_created",
    "ProgressUpdated",
    "CourseCompleted",
    "QuizCompleted",
    "AssignmentSubmitted",
    "AchievementEarned",
    "CompetencyAcquired",
]


def test_every_outbox_type_is_in_the_catalog_and_nothing_else_is() -> None:
    assert set(BY_NAME) == set(TYPES)
    assert len(BY_NAME) == len(CATALOG)
    refs, components = schemas()
    for entry in CATALOG:
        assert entry.version >= 1
        assert re.fullmatch(r"(progress|gamification)(\.[a-z_]+){1,2}", entry.name), entry.name
        name = refs[entry.name]["$ref"].rsplit("/", 1)[1]
        assert components[name]["type"] == "object", entry.name
    assert set(components["Envelope"]["required"]) == {
        "id",
        "type",
        "version",
        "learner",
        "occurred_at",
        "recorded_at",
        "data",
    }


def test_every_seed_event_maps_to_a_catalog_event_or_says_why_not() -> None:
    assert list(SEED_NAMES) == SEEDS
    for seed, name in SEED_NAMES.items():
        if name is None:
            assert NOT_PUBLISHED[seed]
        else:
            assert name in BY_NAME, seed


def fits(event: DomainEvent) -> None:
    """The event's body is its catalog data: it converts, and names no undeclared field."""
    data = BY_NAME[event.type].data
    msgspec.convert(event.body, data)
    declared = {f.encode_name for f in msgspec.structs.fields(data)}
    assert set(event.body) <= declared, (event.type, set(event.body) - declared)


def test_what_a_learners_journey_derives_fits_the_schemas() -> None:
    dev = Device("d1")
    who = Learner("u1", UserState(), GamifyState(), TZ, "premium")
    ctx = Context(CAT, "premium")
    rules = rules_for(CAT)
    events = [
        dev.event("path.enrolled", T0, path="p1"),
        *quiz_events(dev, "a1", False, T0 + 1),
        *quiz_events(dev, "a2", True, T0 + 2),
        complete(dev, "c1", "l1", T0 + 3),
        complete(dev, "c2", "k1", T0 + 4),
        dev.event("lesson.uncompleted", T0 + 5, course="c1", lesson="l1"),
    ]
    out = merge(who, "d1", 0, events, ctx, rules=rules, make_code=make_code, now=T0 + 10_000)
    seen = {e.type for e in out.events}
    assert len(seen) >= 15, seen
    for event in out.events:
        fits(event)
    # An assignment submitted, then graded by an instructor (settled on its own).
    cat = parse_catalog(
        (Path(__file__).parents[1] / "fixtures" / "learning_rest.yaml").read_text(), "yaml"
    )
    ctx = Context(cat, "premium")
    submitted = Device("d2").event("assignment.submitted", T0 + 6, course="c1", assignment="essay")
    who = Learner("u2", UserState(), GamifyState(), TZ, "premium")
    rules = rules_for(cat)
    out = merge(who, "d1", 0, [submitted], ctx, rules=rules, make_code=make_code, now=T0 + 10_000)
    assert out.accepted == 1, out.rejected
    decisions = grade(
        who.state, ctx, "c1", "essay", score=80, feedback="good", graded_by="ines", at=T0 + 7
    )
    graded = settle(
        who, decisions, ctx, rules=rules, make_code=make_code, now=T0 + 7, hlc="x", courses={"c1"}
    )
    derived = out.events + graded.events
    assert {"progress.assignment.submitted", "progress.assignment.graded"} <= {
        e.type for e in derived
    }
    for event in derived:
        fits(event)


def test_each_decision_type_maps_to_events_that_fit() -> None:
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("level.reached", {"level": 2, "points": 120, "at": T0}),
        (
            "enrollment.changed",
            {"path": "p", "to": "paused", "reason": "pause", "from": "enrolled"},
        ),
    ]
    for type_, body in bodies:
        for event in from_entry(0, type_, body, T0):
            fits(event)


def test_types_patterns_select_catalog_names() -> None:
    assert matching(["*"]) == frozenset(BY_NAME)
    assert matching(["progress.assessment.*"]) == {
        "progress.assessment.started",
        "progress.assessment.completed",
        "progress.assessment.passed",
        "progress.assessment.failed",
    }
    assert matching(["gamification.level.reached", " progress.updated"]) == {
        "gamification.level.reached",
        "progress.updated",
    }
    with pytest.raises(BadPattern, match=r"'progress.quiz.\*' matches no event"):
        matching(["progress.quiz.*"])
    with pytest.raises(BadPattern):
        matching(["progress"])


def test_the_envelope_carries_the_catalog_version() -> None:
    found = envelope(
        id="u:3:0",
        type="progress.updated",
        learner_id="u",
        username="ana",
        occurred_at=1,
        recorded_at=2,
        data={"course": "c1", "percent": 25, "previous": 0, "status": "in_progress"},
    )
    assert msgspec.to_builtins(found) == {
        "id": "u:3:0",
        "type": "progress.updated",
        "version": 1,
        "learner": {"id": "u", "username": "ana"},
        "occurred_at": 1,
        "recorded_at": 2,
        "data": {"course": "c1", "percent": 25, "previous": 0, "status": "in_progress"},
    }


def test_the_checked_in_doc_is_what_the_code_generates() -> None:
    doc = DOC.read_text()
    assert splice(doc) == doc, "docs/events.md is stale: run `waymark admin events schema --write`"
    assert render_markdown() in doc + "\n"
