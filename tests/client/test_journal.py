"""The journal: durable, gap-free recording, local validation, and the folded view."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from client.errors import BadEventArgs, JournalError, NotLoggedIn, UnknownUser
from client.journal import MIGRATIONS, SCHEMA_VERSION, Journal
from sync.catalog import Catalog
from sync.hlc import parse_hlc
from sync.protocol.messages import EventRejection, FeedEntry
from sync.views import LearnerView, LessonView, QuizView, learner_view
from tests.client.conftest import CATALOG, T0, account, entry

READ = {"course": "c1", "lesson": "read"}
VIDEO = {"course": "c1", "lesson": "video"}


def lesson(view: LearnerView, lesson_id: str) -> LessonView:
    return next(x for x in view.courses[0].modules[0].lessons if x.id == lesson_id)


async def test_recorded_events_survive_reopening_with_gap_free_seqs(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path) as journal:
        alice = await journal.add_account(account("alice"))
        for i in range(3):
            await journal.record(alice, "lesson.opened", READ, now_ms=T0 + i, tz="UTC")
    async with await Journal.open(tmp_path) as journal:
        alice = await journal.account("alice")
        # The wall clock went back: the persisted HLC still moves forward.
        await journal.record(alice, "lesson.completed", READ, now_ms=T0 - 5, tz="UTC")
        events = await journal.pending("d-alice", 0)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.type for e in events][-1] == "lesson.completed"
    hlcs = [e.hlc for e in events]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == 4


async def test_a_recorded_event_is_committed_before_record_returns(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path) as journal:
        alice = await journal.add_account(account("alice"))
        await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="Europe/Paris")
        other = sqlite3.connect(tmp_path / "journal.db")
        try:
            rows = other.execute("SELECT device_id, seq, tz, status FROM events").fetchall()
            (mode,) = other.execute("PRAGMA journal_mode").fetchone()
        finally:
            other.close()
    assert rows == [("d-alice", 1, "Europe/Paris", "pending")]
    assert mode == "wal"


async def test_two_learners_on_one_device_have_separate_seq_streams(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    bob = await journal.add_account(account("bob"))
    for who in (alice, bob, alice, alice, bob):
        await journal.record(who, "lesson.opened", READ, now_ms=T0, tz="UTC")
    assert [e.seq for e in await journal.pending("d-alice", 0)] == [1, 2, 3]
    assert [e.seq for e in await journal.pending("d-bob", 0)] == [1, 2]
    assert [e.seq for e in await journal.pending("d-alice", 1, limit=1)] == [2]


async def test_record_refuses_what_the_cached_catalog_rejects_and_writes_nothing(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    bad = [
        ("lesson.opened", {"course": "c1", "lesson": "nope"}, "no lesson 'nope' in course 'c1'"),
        ("lesson.opened", {"course": "c9", "lesson": "read"}, "no course 'c9'"),
        ("lesson.opened", {"course": "c1"}, "missing required field `lesson`"),
        ("lesson.progressed", {**VIDEO, "position": 999}, "past the lesson's duration"),
        ("lesson.progressed", {**VIDEO, "seconds": -1}, "Expected `int` >= 0"),
    ]
    for type_, body, message in bad:
        with pytest.raises(BadEventArgs, match=message) as caught:
            await journal.record(alice, type_, body, now_ms=T0, tz="UTC")
        assert "\n" not in str(caught.value)
    assert await journal.pending("d-alice", 0) == []
    assert (await journal.account()).next_seq == 1


async def test_record_without_a_catalog_checks_only_the_schema(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    with pytest.raises(BadEventArgs, match="missing required field `course`"):
        await journal.record(alice, "lesson.completed", {"lesson": "x"}, now_ms=T0, tz="UTC")
    kept = await journal.record(
        alice, "lesson.completed", {"course": "zz", "lesson": "x"}, now_ms=T0, tz="UTC"
    )
    assert kept.seq == 1


async def test_record_keeps_unknown_event_types_for_the_server_to_judge(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    kept = await journal.record(alice, "badge.polished", {"badge": "b1"}, now_ms=T0, tz="UTC")
    assert (kept.seq, kept.type) == (1, "badge.polished")
    assert await journal.pending_count(alice.user_id) == 1


async def test_record_refuses_a_clock_outside_the_plausible_range(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    with pytest.raises(BadEventArgs, match="not epoch milliseconds in 2000-2200"):
        await journal.record(alice, "lesson.opened", READ, now_ms=0, tz="UTC")


async def test_clock_stays_ahead_of_every_feed_entry_it_has_seen(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    ahead = entry(1, hlc=f"{T0 + 60_000:013d}-0007")
    await journal.apply_feed(alice.user_id, [ahead], now_ms=T0)
    event = await journal.record(alice, "lesson.uncompleted", READ, now_ms=T0, tz="UTC")
    assert event.hlc > ahead.hlc
    assert parse_hlc(event.hlc)[0] == T0 + 60_000


async def test_view_counts_an_own_event_once_when_the_feed_echoes_it(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    mine = await journal.record(
        alice, "lesson.progressed", {**VIDEO, "seconds": 30}, now_ms=T0, tz="UTC"
    )
    echo = entry(
        1, "lesson.progressed", body=mine.body, hlc=mine.hlc, device_id="d-alice", seq=mine.seq
    )
    phone = entry(2, "lesson.progressed", body={**VIDEO, "seconds": 12})
    await journal.apply_feed(alice.user_id, [echo, phone], now_ms=T0)
    await journal.mark_acked("d-alice", 1)
    video = lesson(await journal.view(alice), "video")
    assert video.seconds == 42
    assert video.status == "in_progress"


async def test_view_includes_own_pending_events(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    await journal.record(alice, "lesson.completed", READ, now_ms=T0, tz="UTC")
    view = await journal.view(alice)
    assert lesson(view, "read").status == "completed"
    assert (view.courses[0].percent, view.courses[0].modules[0].status) == (50, "in_progress")


async def test_a_rejected_feed_entry_marks_the_event_and_drops_it_from_the_view(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    await journal.record(alice, "lesson.completed", READ, now_ms=T0, tz="UTC")
    await journal.mark_acked("d-alice", 1)
    verdict = {"device_id": "d-alice", "seq": 1, "type": "lesson.completed"}
    verdict |= {"code": "invalid_value", "reason": "not allowed"}
    rejected = entry(1, "event.rejected", origin="server", body=verdict, device_id=None, seq=None)
    await journal.apply_feed(alice.user_id, [rejected], now_ms=T0)
    assert lesson(await journal.view(alice), "read").status == "not_started"
    [event] = await journal.rejected(alice.user_id)
    assert (event.seq, event.type, event.code, event.reason) == (
        1,
        "lesson.completed",
        "invalid_value",
        "not allowed",
    )


async def test_an_ack_with_rejections_marks_those_events_only(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    for _ in range(3):
        await journal.record(alice, "x.unknown", {}, now_ms=T0, tz="UTC")
    await journal.mark_acked("d-alice", 2, [EventRejection(2, "unknown_type", "no such type")])
    assert [(r.seq, r.code) for r in await journal.rejected(alice.user_id)] == [(2, "unknown_type")]
    assert await journal.pending_count(alice.user_id) == 1
    assert (await journal.account()).acked_seq == 2


async def test_apply_feed_is_idempotent_and_returns_only_new_entries(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    assert len(await journal.apply_feed(alice.user_id, [entry(1), entry(2)], now_ms=T0)) == 2
    again = await journal.apply_feed(alice.user_id, [entry(2), entry(3)], now_ms=T0)
    assert [e.user_seq for e in again] == [3]
    assert (await journal.account()).cursor == 3


async def test_a_server_holding_more_than_the_journal_moves_next_seq_past_it(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.mark_acked("d-alice", 7)  # e.g. the journal was restored from a backup
    event = await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
    assert event.seq == 8


async def test_a_server_holding_less_than_it_acked_gets_those_events_again(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    for _ in range(3):
        await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
    await journal.mark_acked("d-alice", 3)
    await journal.mark_acked("d-alice", 1)  # e.g. the server was restored from a backup
    assert await journal.pending_count(alice.user_id) == 2


async def test_logging_in_again_moves_unacked_events_to_the_new_device(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    for _ in range(3):
        await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
    await journal.mark_acked("d-alice", 1)
    await journal.apply_feed(alice.user_id, [entry(1), entry(2)], now_ms=T0)
    again = await journal.add_account(account("alice", device_id="d-alice-2"))
    assert (again.next_seq, again.acked_seq, again.cursor) == (3, 0, 2)
    assert [e.seq for e in await journal.pending("d-alice-2", 0)] == [1, 2]
    assert [e.seq for e in await journal.pending("d-alice", 0)] == [1]


async def test_choosing_a_learner(journal: Journal) -> None:
    with pytest.raises(NotLoggedIn, match="waymark login"):
        await journal.account()
    await journal.add_account(account("alice"))
    await journal.add_account(account("bob"))
    assert (await journal.account()).username == "alice"  # the first login is the default
    assert (await journal.account("bob")).username == "bob"
    with pytest.raises(UnknownUser, match=r"'carol' is not logged in .*alice, bob"):
        await journal.account("carol")
    await journal.add_account(account("carol"), make_default=True)
    assert (await journal.account()).username == "carol"
    assert [a.username for a in await journal.choose(["bob"])] == ["bob"]


async def test_several_learners_and_no_default_need_a_name(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path) as journal:
        await journal.add_account(account("alice"))
        await journal.add_account(account("bob"))
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("UPDATE accounts SET is_default = 0")
    db.close()
    async with await Journal.open(tmp_path) as journal:
        with pytest.raises(UnknownUser, match=r"several learners .*alice, bob"):
            await journal.account()


async def test_a_home_that_is_a_file_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(JournalError, match="cannot open the journal"):
        await Journal.open(tmp_path / "file")


async def test_a_journal_that_is_not_a_database_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "journal.db").write_bytes(b"x" * 4096)
    with pytest.raises(JournalError, match="not a database"):
        await Journal.open(tmp_path)


async def test_a_journal_from_a_newer_waymark_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "journal.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(JournalError, match=r"newer waymark \(schema 99\)"):
        await Journal.open(tmp_path)


# -- quizzes, paths and decisions ---------------------------------------------------------

QUIZ = {"course": "c2", "quiz": "q1", "attempt": "a1"}


async def offline_attempt(journal: Journal, answers: dict[str, list[str]]) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    await journal.record_many(
        alice,
        [
            ("quiz.started", QUIZ),
            *(("quiz.answered", {**QUIZ, "question": q, "choices": c}) for q, c in answers.items()),
            ("quiz.submitted", QUIZ),
        ],
        now_ms=T0,
        tz="UTC",
    )


def quiz_of(view: LearnerView) -> QuizView:
    [quiz] = view.courses[1].modules[0].quizzes
    return quiz


def decision(user_seq: int, type: str, body: dict[str, Any]) -> FeedEntry:
    return entry(user_seq, type, origin="server", body=body, device_id=None, seq=None)


async def test_an_attempt_not_scored_yet_shows_submitted_without_number_or_counted(
    journal: Journal,
) -> None:
    await offline_attempt(journal, {"one": ["a"], "two": ["x", "z"]})
    quiz = quiz_of(await journal.view(await journal.account()))
    assert (quiz.status, quiz.passed, quiz.best_score, quiz.attempts_left) == (
        "submitted",
        False,
        None,
        2,  # a free learner's limit
    )
    [attempt] = quiz.attempts
    assert (attempt.id, attempt.status, attempt.submitted_at) == ("a1", "submitted", T0)
    assert (attempt.number, attempt.score, attempt.passed, attempt.counted) == (None,) * 4


async def test_a_quiz_scored_entry_gives_the_attempt_its_number_score_and_counted(
    journal: Journal,
) -> None:
    await offline_attempt(journal, {"one": ["a"], "two": ["x"]})
    alice = await journal.account()
    scored = {**QUIZ, "number": 1, "score": 0.5, "passed": False, "counted": True}
    scored |= {"reason": "", "at": T0, "correct": 1, "questions": 2}
    await journal.apply_feed(alice.user_id, [decision(1, "quiz.scored", scored)], now_ms=T0)
    quiz = quiz_of(await journal.view(alice))
    [attempt] = quiz.attempts
    assert (attempt.status, attempt.number, attempt.score, attempt.passed, attempt.counted) == (
        "scored",
        1,
        0.5,
        False,
        True,
    )
    assert (quiz.status, quiz.best_score, quiz.attempts_left) == ("failed", 0.5, 1)
    assert quiz.cooldown_until == T0 + 60_000


async def test_a_quiz_passed_entry_passes_the_quiz(journal: Journal) -> None:
    await offline_attempt(journal, {"one": ["a"], "two": ["x", "z"]})
    alice = await journal.account()
    scored = {**QUIZ, "number": 1, "score": 1.0, "passed": True, "counted": True, "at": T0}
    passed = {"course": "c2", "quiz": "q1", "score": 1.0, "grading": "highest"}
    entries = [decision(1, "quiz.scored", scored), decision(2, "quiz.passed", passed)]
    await journal.apply_feed(alice.user_id, entries, now_ms=T0)
    view = await journal.view(alice)
    assert (quiz_of(view).status, quiz_of(view).passed) == ("passed", True)
    assert view.summary.completed_quizzes == 1


async def test_a_milestone_unlocked_entry_shows_the_milestone_available(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    await journal.record(alice, "path.enrolled", {"path": "p1"}, now_ms=T0, tz="UTC")
    [path] = (await journal.view(alice)).paths
    assert (path.status, [m.status for m in path.milestones]) == ("not_enrolled", ["locked"] * 2)
    enrolled = {"path": "p1", "from": None, "to": "enrolled", "reason": ""}
    unlocked = {"path": "p1", "milestone": "first"}
    entries = [
        decision(1, "enrollment.changed", enrolled),
        decision(2, "milestone.unlocked", unlocked),
    ]
    await journal.apply_feed(alice.user_id, entries, now_ms=T0)
    [path] = (await journal.view(alice)).paths
    assert path.status == "enrolled"
    assert [(m.id, m.status) for m in path.milestones] == [
        ("first", "available"),
        ("second", "locked"),
    ]
    await journal.record(alice, "lesson.opened", READ, now_ms=T0 + 1, tz="UTC")
    [path] = (await journal.view(alice)).paths
    assert path.milestones[0].status == "in_progress"  # its course was started


async def test_a_competency_acquired_entry_masters_the_competency(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    entries = [decision(1, "competency.acquired", {"competency": "reading"})]
    await journal.apply_feed(alice.user_id, entries, now_ms=T0)
    [skill] = (await journal.view(alice)).competencies
    assert (skill.id, skill.status, skill.acquired_at) == ("reading", "mastered", T0 + 1)


async def test_a_decision_this_client_cannot_read_is_skipped_not_fatal(journal: Journal) -> None:
    await offline_attempt(journal, {"one": ["a"]})
    alice = await journal.account()
    broken = decision(1, "quiz.scored", {"course": "c2"})  # no quiz, no attempt
    unknown = decision(2, "trophy.awarded", {"trophy": "gold"})  # from a newer server
    unlocked = decision(3, "milestone.unlocked", {"path": "p1", "milestone": "first"})
    await journal.apply_feed(alice.user_id, [broken, unknown, unlocked], now_ms=T0)
    view = await journal.view(alice)
    assert quiz_of(view).attempts[0].status == "submitted"
    assert view.paths[0].milestones[0].status == "available"


async def test_the_view_follows_the_learners_plan(journal: Journal) -> None:
    await offline_attempt(journal, {"one": ["a"]})
    alice = await journal.account()
    assert alice.plan == "free" and quiz_of(await journal.view(alice)).attempts_left == 2
    await journal.set_plan(alice.user_id, "premium")
    assert (await journal.account()).plan == "premium"
    assert quiz_of(await journal.view(alice)).attempts_left == 3


async def test_the_view_without_a_catalog_is_empty(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.record(alice, "lesson.completed", READ, now_ms=T0, tz="UTC")
    view = await journal.view(alice)
    assert (view.courses, view.paths, view.competencies) == ([], [], [])
    assert view.summary.total_courses == 0


async def test_record_many_writes_every_event_or_none(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    bad = {**QUIZ, "question": "one", "choices": ["nope"]}
    with pytest.raises(BadEventArgs, match="question 'one' has no choice 'nope'"):
        await journal.record_many(
            alice, [("quiz.started", QUIZ), ("quiz.answered", bad)], now_ms=T0, tz="UTC"
        )
    assert await journal.pending("d-alice", 0) == []
    events = await journal.record_many(
        alice, [("quiz.started", QUIZ), ("quiz.submitted", QUIZ)], now_ms=T0, tz="UTC"
    )
    assert [e.seq for e in events] == [1, 2] and events[0].hlc < events[1].hlc
    assert await journal.pending("d-alice", 0) == events


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        ("quiz.started", QUIZ),
        ("quiz.answered", {**QUIZ, "question": "two", "choices": ["x", "z"]}),
        ("quiz.submitted", QUIZ),
        ("assignment.saved", {"course": "c2", "assignment": "essay", "text": "draft"}),
        ("assignment.submitted", {"course": "c2", "assignment": "essay", "url": "https://x"}),
        ("path.enrolled", {"path": "p1"}),
        ("path.paused", {"path": "p1"}),
        ("path.resumed", {"path": "p1"}),
        ("path.dropped", {"path": "p1"}),
        ("milestone.started", {"path": "p1", "milestone": "first"}),
        ("milestone.completed", {"path": "p1", "milestone": "first"}),
        ("milestone.reset", {"path": "p1", "milestone": "second"}),
        ("course.reset", {"course": "c1"}),
    ],
)
async def test_record_accepts_every_new_event_type(
    journal: Journal, type_: str, body: dict[str, Any]
) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    event = await journal.record(alice, type_, body, now_ms=T0, tz="UTC")
    assert (event.seq, event.type, event.body) == (1, type_, body)


@pytest.mark.parametrize(
    ("type_", "body", "message"),
    [
        ("quiz.started", {**QUIZ, "quiz": "zz"}, "no quiz 'zz' in course 'c2'"),
        ("quiz.answered", {**QUIZ, "question": "zz", "choices": ["a"]}, "no question 'zz'"),
        ("quiz.answered", {**QUIZ, "question": "one", "choices": []}, "no choice given"),
        ("assignment.saved", {"course": "c2", "assignment": "zz"}, "no assignment 'zz'"),
        ("path.enrolled", {"path": "zz"}, "no path 'zz'"),
        ("milestone.started", {"path": "p1", "milestone": "zz"}, "no milestone 'zz'"),
        ("course.reset", {"course": "zz"}, "no course 'zz'"),
    ],
)
async def test_record_refuses_new_event_types_the_catalog_rejects(
    journal: Journal, type_: str, body: dict[str, Any], message: str
) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    with pytest.raises(BadEventArgs, match=message):
        await journal.record(alice, type_, body, now_ms=T0, tz="UTC")
    assert await journal.pending_count(alice.user_id) == 0


# -- tokens and logout ----------------------------------------------------------------------


async def test_tokens_are_renewed_once_even_when_two_ask(journal: Journal) -> None:
    alice = await journal.add_account(account("alice", refresh_token="r1"))
    asked: list[str] = []

    async def exchange(refresh_token: str) -> tuple[str, str]:
        asked.append(refresh_token)
        return f"t{len(asked) + 1}", f"r{len(asked) + 1}"

    renewed = await journal.refresh_tokens(alice, exchange)
    assert (renewed.token, renewed.refresh_token) == ("t2", "r2")
    # Another reader of the old tokens gets the renewed ones, not a second exchange.
    assert await journal.refresh_tokens(alice, exchange) == renewed
    assert asked == ["r1"]
    assert (await journal.account()).token == "t2"


async def test_a_logout_forgets_the_learner_and_keeps_pending_events_for_the_next_login(
    journal: Journal,
) -> None:
    alice = await journal.add_account(account("alice"))
    bob = await journal.add_account(account("bob"))
    for n, lesson in enumerate(("read", "video", "read")):
        body = {"course": "c1", "lesson": lesson}
        await journal.record(alice, "lesson.opened", body, now_ms=T0 + n, tz="UTC")
    await journal.mark_acked(alice.device_id, 1)
    await journal.forget_account(await journal.account("alice"))
    assert [a.username for a in await journal.accounts()] == ["bob"]
    assert (await journal.account()).is_default  # bob is the default now
    again = await journal.add_account(
        msgspec.structs.replace(account("alice"), device_id="d-alice-2")
    )
    assert again.next_seq == 3
    pending = await journal.pending("d-alice-2", 0)
    assert [(e.seq, e.at) for e in pending] == [(1, T0 + 1), (2, T0 + 2)]
    assert await journal.pending_count(bob.user_id) == 0


# -- schema migrations --------------------------------------------------------------------


async def test_a_journal_of_schema_1_opens_and_gains_the_plan_column(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "journal.db") as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute(
            "INSERT INTO accounts (user_id, username, device_id, token, server_url, timezone, "
            "role, cursor, acked_seq, next_seq, is_default) "
            "VALUES ('u-alice', 'alice', 'd-alice', 't', 'http://s', 'UTC', 'learner', 4, 2, 3, 1)"
        )
        db.execute("PRAGMA user_version = 1")
    db.close()
    async with await Journal.open(tmp_path) as journal:
        alice = await journal.account()
        assert (alice.username, alice.cursor, alice.next_seq, alice.plan) == ("alice", 4, 3, "free")
        assert alice.refresh_token == ""  # logged in before tokens were refreshed
        await journal.set_plan(alice.user_id, "premium")
    async with await Journal.open(tmp_path) as journal:  # migrated once, not again
        assert (await journal.account()).plan == "premium"
    with sqlite3.connect(tmp_path / "journal.db") as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    db.close()
    assert version == SCHEMA_VERSION == 5


async def test_a_new_journal_has_the_latest_schema(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path) as journal:
        alice = await journal.add_account(account("alice", plan="premium"))
        assert (await journal.account()).plan == alice.plan == "premium"
    with sqlite3.connect(tmp_path / "journal.db") as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    db.close()
    assert version == SCHEMA_VERSION


async def test_a_record_by_another_process_wakes_watch_without_reading_the_events(
    tmp_path: Path,
) -> None:
    # Two connections to one file, as `waymark sync --follow` and `waymark record` hold.
    async with await Journal.open(tmp_path) as follower, await Journal.open(tmp_path) as other:
        alice = await other.add_account(account("alice"))
        woken = follower.watch(others=True)
        statements: list[str] = []
        await follower._db.set_trace_callback(statements.append)
        await other.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
        await asyncio.wait_for(woken.wait(), timeout=60)  # a safety net, not a wait
        await follower._db.set_trace_callback(None)
        assert statements and all(s == "PRAGMA data_version" for s in statements)
        assert [e.seq for e in await follower.pending("d-alice", 0)] == [1]


async def test_watch_is_not_woken_by_the_journals_own_writes(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    woken = journal.watch(others=True)
    await journal.apply_feed(alice.user_id, [entry(1)], now_ms=T0)
    await journal.mark_acked("d-alice", 0)
    loop, looked, looks = asyncio.get_running_loop(), asyncio.Event(), []

    def trace(statement: str) -> None:  # runs on the connection's thread
        looks.append(statement)
        if looks.count("PRAGMA data_version") == 2:  # the checker looked since those writes
            loop.call_soon_threadsafe(looked.set)

    await journal._db.set_trace_callback(trace)
    await asyncio.wait_for(looked.wait(), timeout=60)  # a safety net, not a wait
    assert not woken.is_set()
    await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
    assert woken.is_set()


async def test_status_reads_the_materialized_view_not_the_feed(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
    await journal.apply_feed(alice.user_id, [entry(i) for i in range(1, 51)], now_ms=T0)
    await journal.record(alice, "lesson.completed", READ, now_ms=T0 + 99, tz="UTC")
    first = await journal.view(alice)
    statements: list[str] = []
    await journal._db.set_trace_callback(statements.append)
    again = await journal.view(alice)
    achievements = await journal.achievements(alice, now_ms=T0)
    await journal.time_per_day(alice, days=7, now_ms=T0)
    await journal._db.set_trace_callback(None)
    assert again == first and lesson(first, "read").status == "completed"
    assert achievements.streak.current == 1
    assert not [s for s in statements if "FROM feed" in s or "FROM events AS" in s]
    assert not [s for s in statements if "SELECT body FROM catalog" in s]  # decoded once
    assert (
        first
        == await journal.view(alice)
        == learner_view((await journal.refold(alice)).state, CATALOG)
    )


async def test_a_new_catalog_version_rebuilds_the_view_once(journal: Journal) -> None:
    alice = await journal.add_account(account("alice"))
    await journal.store_catalog(alice.server_url, "v1", CATALOG)
    await journal.record(alice, "lesson.opened", READ, now_ms=T0, tz="UTC")
    assert lesson(await journal.view(alice), "read").title == "Reading"
    renamed = msgspec.json.decode(
        msgspec.json.encode(CATALOG).replace(b'"Reading"', b'"Reading, again"'), type=Catalog
    )
    await journal.store_catalog(alice.server_url, "v2", renamed)
    assert lesson(await journal.view(alice), "read").title == "Reading, again"
