"""``server.metrics``: what a merge adds to the counters, the decisions counted as
enrollments and submissions, the learners stuck on a milestone (SQL over the projection
tables, on both engines), the pools' connections in use, the metrics token, and several
apps' metrics side by side in one process."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from litestar.exceptions import NotAuthorizedException

from server.errors import StoreUnavailable
from server.metrics import Metrics, decided, stuck_learners
from server.storage.merge import MergeResult
from server.storage.store import Store
from sync.catalog import parse_catalog
from sync.protocol.messages import EventRejection, FeedEntry

T0 = 1_763_790_000_000
DAY = 86_400_000
CATALOG = Path(__file__).parent.parent / "fixtures" / "learning_rest.yaml"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1
        return self.now


def decision(type_: str, **body: Any) -> FeedEntry:
    return FeedEntry(1, "server", type_, body, "0000000000000-0000", T0)


def test_decided_counts_enrollments_and_submissions_from_the_feed_entries() -> None:
    entries = [
        FeedEntry(1, "device", "path.enrolled", {"path": "p"}, "0000000000000-0000", T0),
        decision("enrollment.changed", path="p", to="enrolled", reason="enroll"),
        decision("enrollment.changed", path="p", to="in_progress", reason="started"),
        decision("enrollment.refused", path="q", action="enroll", reason="limit"),
        decision("enrollment.refused", path="q", action="resume", reason="dropped"),
        decision("quiz.scored", counted=True),
        decision("quiz.scored", counted=False, reason="cool-down"),
        decision("event.rejected", type="quiz.submitted", code="unknown_quiz"),
        decision("event.rejected", type="path.enrolled", code="unknown_path"),
        decision("event.rejected", type="lesson.opened", code="unknown_lesson"),
    ]
    assert decided(entries) == ({"ok": 1, "failed": 2}, {"ok": 1, "failed": 2})
    assert decided([]) == ({}, {})


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_merge_adds_its_counts_and_logs_one_line_without_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics("sqlite")
    result = MergeResult(
        acked_seq=5,
        accepted=3,
        duplicates=1,
        rejected=[EventRejection(5, "unknown_type", "no such type")],
        feed_head=9,
        entries=[decision("quiz.scored", counted=True, answers={"x": ["secret-answer"]})],
    )
    with caplog.at_level(logging.INFO, logger="waymark.merge"):
        metrics.merged("u1", "d1", result, 0.012)
    assert sample(metrics, "waymark_events_total", outcome="accepted", code="") == 3
    assert sample(metrics, "waymark_events_total", outcome="duplicate", code="") == 1
    assert sample(metrics, "waymark_events_total", outcome="rejected", code="unknown_type") == 1
    assert sample(metrics, "waymark_merge_duration_seconds_count", engine="sqlite") == 1
    assert sample(metrics, "waymark_merge_duration_seconds_sum", engine="sqlite") == 0.012
    assert sample(metrics, "waymark_assessment_submissions_total", outcome="ok") == 1
    assert sample(metrics, "waymark_enrollments_total", outcome="ok") == 0
    [record] = caplog.records
    assert record.fields == {  # type: ignore[attr-defined]
        "learner": "u1",
        "device": "d1",
        "accepted": 3,
        "duplicates": 1,
        "rejected": 1,
        "duration_ms": 12.0,
    }
    assert "secret-answer" not in caplog.text


def test_two_apps_metrics_live_side_by_side() -> None:
    one, two = Metrics("sqlite"), Metrics("postgresql")
    one.login_failed("wrong_password")
    one.limited("login")
    assert sample(one, "waymark_logins_failed_total", reason="wrong_password") == 1
    assert sample(two, "waymark_logins_failed_total", reason="wrong_password") == 0
    assert sample(one, "waymark_rate_limited_total", scope="login") == 1
    assert sample(two, "waymark_rate_limited_total", scope="push") == 0
    assert b"waymark_store_errors_total" in two.text()


def test_the_metrics_token_is_asked_for_only_when_set() -> None:
    Metrics("sqlite").authorize(None)
    guarded = Metrics("sqlite", token="s3cret")
    guarded.authorize("Bearer s3cret")
    guarded.authorize("bearer s3cret")
    for header in (None, "", "Bearer", "Bearer wrong", "Basic s3cret", "s3cret"):
        with pytest.raises(NotAuthorizedException):
            guarded.authorize(header)


@pytest.fixture
async def learning(db_url: str):  # type: ignore[no-untyped-def]
    clock = Clock()
    store = Store.for_url(db_url, clock=clock)
    await store.open()
    await store.load_catalog(parse_catalog(CATALOG.read_text(), "yaml"))
    yield store, clock
    await store.close()


async def test_a_learner_is_stuck_when_the_current_milestone_was_unlocked_over_7_days_ago(
    learning: tuple[Store, Clock],
) -> None:
    store, clock = learning
    ann = await store.create_user("ann", "pw")
    bob = await store.create_user("bob", "pw")
    await store.record_action(ann.id, "path.enrolled", {"path": "track"})
    await store.record_action(bob.id, "path.enrolled", {"path": "track"})
    start = clock.now
    assert await stuck_learners(store, start + 7 * DAY - 10) == 0
    assert await stuck_learners(store, start + 7 * DAY + 10) == 2
    # Ann completes the first milestone (module m1) on day 5: her second starts then.
    clock.now = start + 5 * DAY
    await store.record_action(ann.id, "lesson.completed", {"course": "c1", "lesson": "read"})
    video = {"course": "c1", "lesson": "video", "from": 0, "to": 100}
    await store.record_action(ann.id, "lesson.progressed", video)
    assert await stuck_learners(store, start + 8 * DAY) == 1  # bob only
    assert await stuck_learners(store, start + 13 * DAY) == 2
    # A learner who paused the path is not stuck on it.
    await store.record_action(bob.id, "path.paused", {"path": "track"})
    assert await stuck_learners(store, start + 13 * DAY) == 1


async def test_the_pools_say_what_is_checked_out(store: Store) -> None:
    idle = store.engine.in_use()
    assert idle and all(n == 0 for n in idle.values())
    async with store.engine.transaction() as txn:
        await txn.execute("SELECT 1")
        busy = store.engine.in_use()
    assert sum(busy.values()) == 1
    assert sum(store.engine.in_use().values()) == 0


async def test_database_errors_that_fail_a_request_are_counted() -> None:
    metrics = Metrics("postgresql")
    scope: Any = {"type": "http", "path": "/v1/me/progress"}
    await metrics.after_exception(StoreUnavailable("PostgreSQL is unavailable"), scope)
    await metrics.after_exception(sqlite3.OperationalError("disk I/O error"), scope)
    await metrics.after_exception(NotAuthorizedException("no token"), scope)
    assert sample(metrics, "waymark_store_errors_total", engine="postgresql") == 2
