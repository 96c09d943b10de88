"""Every report's numbers over the world of ``world.py`` (read its docstring first), worked
out by hand, on SQLite and PostgreSQL; scoped (an instructor of group A sees A's learners
and gets 403 for B); and each report's CSV has the same rows as its JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from server.errors import BadRequest, Forbidden, NotFound
from server.reports.common import Period
from server.reports.competency import CompetencyRow, competency_report
from server.reports.course import LessonRow, ModuleRow, course_report, module_report
from server.reports.group import GroupCourse, group_report
from server.reports.learner import CourseLine, learner_pdf, learner_report
from server.reports.path import MilestoneRow, path_report
from server.reports.scope import check_learner, report_scope
from server.reports.tables import csv_text
from server.storage.store import Store, User
from tests.server.reports.world import DAY, HOUR, NOW, SYNC_DELAY, Clock, D, build


@pytest.fixture
async def world(db_url: str):  # type: ignore[no-untyped-def]
    clock = Clock()
    store = Store.for_url(db_url, clock=clock)
    await store.open()
    users = await build(store, clock)
    yield store, users
    await store.close()


World = tuple[Store, dict[str, User]]


def _cell(name: str, value: Any) -> str:
    """What a JSON value is in the CSV (docs/reports.md, "CSV")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name.endswith("_at") and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
    return str(value)


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = _cell(key, value)
    return out


def same_rows(report: msgspec.Struct, row_type: type[msgspec.Struct], text: str) -> None:
    """The CSV parses, and its rows are the JSON's rows (through JSON, as a client gets
    them), in order."""
    rows = msgspec.json.decode(msgspec.json.encode(report))["rows"]
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed == [_flat(r) for r in rows]
    assert len(parsed) == len(rows)
    assert next(csv.reader(io.StringIO(text)))[0] == row_type.__struct_fields__[0]


async def test_course_report_site_wide(world: World) -> None:
    store, users = world
    scope = await report_scope(store, users["root"])
    report = await course_report(store, scope, "c1")
    now = report.generated_at
    # Who started c1: ada, bo, cy, dee (4); completed: cy. Percent = lessons done of 4,
    # capped at 99 until complete: ada 3/4 = 75, bo 1/4 = 25, cy 100, dee 0.
    assert (report.learners, report.completed, report.completion_rate) == (4, 1, 0.25)
    assert report.mean_percent == 50.0  # (75 + 25 + 100 + 0) / 4
    assert report.due == "2026-01-10"  # no group asked: the course's due date
    # Funnel: m1 started by all four (dee opened l1), completed by ada and cy; m2 started
    # by ada (l3) and cy, completed by cy.
    assert [(f.id, f.started, f.completed) for f in report.funnel] == [("m1", 4, 2), ("m2", 2, 1)]
    # Active weeks (a lesson started, completed or last touched in it), NOW = 2026-W02:
    # bo D30 = Sat 6 Dec (2025-W49); cy D25, D24 = 11-12 Dec (W50), D12, D11 = 24-25 Dec
    # (W52); ada D21, D20 = 15-16 Dec (W51), D10 = 26 Dec (W52), D5 = Wed 31 Dec and D2 =
    # Sat 3 Jan (2026-W01), NOW - 2 h (W02); dee D1 = Sun 4 Jan (W01).
    assert [(w.week, w.active) for w in report.weeks] == [
        ("2025-W49", 1),
        ("2025-W50", 1),
        ("2025-W51", 1),
        ("2025-W52", 2),
        ("2026-W01", 2),
        ("2026-W02", 1),
    ]
    by = {s.learner: s for s in report.summary}
    assert list(by) == ["ada", "bo", "cy", "dee"]
    ada = by["ada"]
    assert (ada.status, ada.percent, ada.lessons_completed, ada.lessons_total) == (
        "in_progress",
        75.0,
        3,
        4,
    )
    assert ada.time_spent == 360  # 300 s in l1 + 60 s in l4
    assert (ada.started_at, ada.last_activity_at) == (D(21), NOW - 2 * HOUR)
    # ada's pace: completed in the window l1 (D20, the older half: 28 to 14 days ago), l2
    # (D10) and l3 (D5) (the recent half): 3 lessons / 28 days = 0.1071 a day, 1 left.
    # Estimate: 1 / (3/28) = 28/3 days = 806,400,000 ms; fast half 2/14 a day: 7 days;
    # slow half 1/14: 14 days. 9 days 8 h after NOW is 14 Jan, after the course's due
    # date (10 Jan): at risk.
    assert ada.projected.pace == 0.1071
    assert ada.projected.projected_at == now + 806_400_000
    assert ada.projected.earliest_at == now + 7 * DAY
    assert ada.projected.latest_at == now + 14 * DAY
    assert ada.projected.outlook == "at_risk"
    # bo: last active D30 (>= 14 days): stalled; nothing in the window: no estimate.
    assert (by["bo"].projected.outlook, by["bo"].projected.projected_at) == ("stalled", None)
    assert by["cy"].projected.outlook == "completed"
    assert by["cy"].projected.pace == 0.1429  # 4 in the window / 28 days
    # dee: active yesterday, nothing completed: no estimate, at risk.
    assert by["dee"].projected.outlook == "at_risk"
    assert (report.on_track, report.at_risk, report.stalled) == (0, 2, 1)
    # Freshness: each learner's device last synced one minute after their last action.
    assert ada.freshness.devices == 1
    assert ada.freshness.last_sync_at is not None
    assert NOW - 2 * HOUR + SYNC_DELAY <= ada.freshness.last_sync_at < NOW - 2 * HOUR + 2 * 60_000
    assert by["bo"].freshness.last_sync_at is not None
    assert by["bo"].freshness.last_sync_at // 1000 == (D(30) + SYNC_DELAY) // 1000
    # Rows: learners x modules, in the catalog's order.
    rows = [(r.learner, r.module, r.status, r.percent, r.time_spent) for r in report.rows]
    assert rows == [
        ("ada", "m1", "completed", 100.0, 300),
        ("ada", "m2", "in_progress", 50.0, 60),  # l3 of l3, l4 done
        ("bo", "m1", "in_progress", 50.0, 0),
        ("bo", "m2", "not_started", 0.0, 0),
        ("cy", "m1", "completed", 100.0, 0),
        ("cy", "m2", "completed", 100.0, 0),
        ("dee", "m1", "in_progress", 0.0, 0),
        ("dee", "m2", "not_started", 0.0, 0),
    ]
    # A module's last activity is its lessons' latest: ada's m1 is l2 at D10.
    assert [r.last_activity_at for r in report.rows[:2]] == [D(10), NOW - 2 * HOUR]
    assert report.rows[0].projected == ada.projected
    assert report.rows[0].freshness == ada.freshness
    same_rows(report, ModuleRow, csv_text(ModuleRow, report.rows))


async def test_course_report_of_a_group_and_a_date_range(world: World) -> None:
    store, users = world
    ivy = users["ivy"]
    # ivy created A: without a group she sees A's learners (ada, bo), with the course's due.
    mine = await course_report(store, await report_scope(store, ivy), "c1")
    assert [s.learner for s in mine.summary] == ["ada", "bo"]
    assert (mine.learners, mine.completed, mine.completion_rate) == (2, 0, 0.0)
    assert mine.mean_percent == 50.0  # (75 + 25) / 2
    assert mine.summary[0].projected.outlook == "at_risk"
    # Group A's own due date (20 Jan) is after ada's estimate (14 Jan): on track.
    of_a = await course_report(store, await report_scope(store, ivy, group="A"), "c1")
    assert of_a.group == "A" and of_a.due == "2026-01-20"
    assert (of_a.on_track, of_a.at_risk, of_a.stalled) == (1, 0, 1)
    assert [(f.id, f.started, f.completed) for f in of_a.funnel] == [("m1", 2, 1), ("m2", 1, 0)]
    with pytest.raises(Forbidden):
        await report_scope(store, ivy, group="B")
    # 20-31 Dec: active then are ada (l2 on 26 Dec, l3 on 31 Dec) and cy (24, 25 Dec);
    # bo (6 Dec) and dee (4 Jan) are not. Weeks count only times in the range.
    period = Period.parse("2025-12-20", "2025-12-31")
    ranged = await course_report(store, await report_scope(store, users["root"]), "c1", period)
    assert [s.learner for s in ranged.summary] == ["ada", "cy"]
    assert (ranged.learners, ranged.completed, ranged.completion_rate) == (2, 1, 0.5)
    assert ranged.mean_percent == 87.5  # (75 + 100) / 2
    assert [(w.week, w.active) for w in ranged.weeks] == [("2025-W52", 2), ("2026-W01", 1)]
    assert [(f.id, f.started, f.completed) for f in ranged.funnel] == [
        ("m1", 2, 2),
        ("m2", 2, 1),
    ]


async def test_module_drill_down(world: World) -> None:
    store, users = world
    report = await module_report(store, await report_scope(store, users["root"]), "c1", "m2")
    # l3: ada and cy completed it; l4: ada opened it (in progress), cy completed it.
    assert [(f.id, f.started, f.completed) for f in report.funnel] == [
        ("l3", 2, 2),
        ("l4", 2, 1),
    ]
    assert (report.learners, report.completed) == (4, 1)  # 4 started c1; cy completed m2
    rows = [(r.learner, r.lesson, r.status, r.time_spent) for r in report.rows]
    assert rows == [
        ("ada", "l3", "completed", 0),
        ("ada", "l4", "in_progress", 60),
        ("bo", "l3", "not_started", 0),
        ("bo", "l4", "not_started", 0),
        ("cy", "l3", "completed", 0),
        ("cy", "l4", "completed", 0),
        ("dee", "l3", "not_started", 0),
        ("dee", "l4", "not_started", 0),
    ]
    assert (report.rows[1].started_at, report.rows[1].last_activity_at) == (D(2), NOW - 2 * HOUR)
    assert report.rows[4].completed_at == D(12)
    same_rows(report, LessonRow, csv_text(LessonRow, report.rows))
    with pytest.raises(NotFound):
        await module_report(store, await report_scope(store, users["root"]), "c1", "nope")


async def test_path_report(world: World) -> None:
    store, users = world
    report = await path_report(store, await report_scope(store, users["root"]), "p1")
    # Enrolled: bo (D31), cy (D26), ada (D22); cy completed both milestones.
    assert (report.enrolled, report.completed, report.completion_rate) == (3, 1, 0.3333)
    assert {c.status: c.learners for c in report.enrollments} == {
        "enrolled": 0,
        "in_progress": 2,
        "completed": 1,
        "paused": 0,
        "dropped": 0,
    }
    # s1 (m1) unlocks at enrollment, s2 (m2) when s1 completes. Velocity, from unlocking to
    # completion: s1 ada D22 -> D10 (l2) = 12 days, cy D26 -> D24 = 2 days: mean 7.0;
    # s2 cy D24 -> D11 = 13 days (ada's is not completed).
    assert [
        (f.id, f.unlocked, f.started, f.completed, f.mean_days_to_complete) for f in report.funnel
    ] == [("s1", 3, 3, 2, 7.0), ("s2", 2, 2, 1, 13.0)]
    # Stuck (7 days): bo, in progress on s1, last active D30. ada's s2 was touched 2 h ago.
    assert [(s.learner, s.milestone, s.idle_days, s.last_activity_at) for s in report.stuck] == [
        ("bo", "s1", 30, D(30))
    ]
    assert report.stuck[0].freshness.devices == 1
    longer = await path_report(store, await report_scope(store, users["root"]), "p1", 31)
    assert longer.stuck == []  # 30 days idle is not 31
    rows = [(r.learner, r.milestone, r.status, r.unlocked_at, r.completed_at) for r in report.rows]
    assert rows == [
        ("ada", "s1", "completed", D(22), D(10)),
        ("ada", "s2", "in_progress", D(10), None),
        ("bo", "s1", "in_progress", D(31), None),
        ("bo", "s2", "locked", None, None),
        ("cy", "s1", "completed", D(26), D(24)),
        ("cy", "s2", "completed", D(24), D(11)),
    ]
    same_rows(report, MilestoneRow, csv_text(MilestoneRow, report.rows))
    # ian teaches B (cy only): one enrollment, completed; nobody stuck.
    of_b = await path_report(store, await report_scope(store, users["ian"]), "p1")
    assert (of_b.enrolled, of_b.completed, of_b.stuck) == (1, 1, [])
    with pytest.raises(BadRequest):
        await path_report(store, await report_scope(store, users["root"]), "p1", 0)
    with pytest.raises(NotFound):
        await path_report(store, await report_scope(store, users["root"]), "nope")


async def test_competency_report(world: World) -> None:
    store, users = world
    report = await competency_report(store, await report_scope(store, users["root"]))
    # "know" has two pieces of evidence: lesson l1 and objective o1 (l1 + l2). ada and cy
    # did both (level 100, mastered at 60); bo did l1 only (50, not mastered); dee none.
    assert [(r.learner, r.level, r.status, r.mastered) for r in report.rows] == [
        ("ada", 100, "mastered", True),
        ("bo", 50, "in_progress", False),
        ("cy", 100, "mastered", True),
        ("dee", 0, "not_started", False),
    ]
    [know] = report.competencies
    # 4 learners, 3 above zero, 2 mastered: 2/4 = 0.5; mean level (100+50+100+0)/4 = 62.5.
    assert (know.learners, know.started, know.mastered, know.mastery_rate, know.mean_level) == (
        4,
        3,
        2,
        0.5,
        62.5,
    )
    [o1] = report.objectives
    # o1 over the 4 learners who started c1: ada and cy mastered it.
    assert (o1.started, o1.mastered, o1.mastery_rate) == (4, 2, 0.5)
    same_rows(report, CompetencyRow, csv_text(CompetencyRow, report.rows))
    of_a = await competency_report(store, await report_scope(store, users["ivy"], group="A"))
    [know] = of_a.competencies
    # ada 100 (mastered), bo 50: 1/2 mastered, mean 75.
    assert (know.learners, know.mastered, know.mastery_rate, know.mean_level) == (2, 1, 0.5, 75.0)
    assert [(o.started, o.mastered) for o in of_a.objectives] == [(2, 1)]


async def test_group_report(world: World) -> None:
    store, users = world
    report = await group_report(store, await report_scope(store, users["ivy"], group="A"))
    assert (report.group, report.due, report.week, report.members) == (
        "A",
        "2026-01-20",
        "2026-W02",
        2,
    )
    c1, c2 = report.rows
    # c1: ada 75 %, bo 25 %, neither completed; this week (from Mon 5 Jan 00:00) only ada
    # was active (2 h ago); ada on track for 20 Jan, bo stalled.
    assert (c1.learners, c1.completed, c1.completion_rate, c1.mean_percent) == (2, 0, 0.0, 50.0)
    assert (c1.active_this_week, c1.on_track, c1.at_risk, c1.stalled) == (1, 1, 0, 1)
    # c2: only ada, completed (k1 and q1 passed) on D3: 100 %, not active this week.
    assert (c2.learners, c2.completed, c2.completion_rate, c2.mean_percent) == (1, 1, 1.0, 100.0)
    assert (c2.active_this_week, c2.on_track, c2.at_risk, c2.stalled) == (0, 0, 0, 0)
    same_rows(report, GroupCourse, csv_text(GroupCourse, report.rows))
    with pytest.raises(Forbidden):
        await report_scope(store, users["ian"], group="A")


async def test_learner_report(world: World) -> None:
    store, users = world
    ada = users["ada"]
    report = await learner_report(store, ada)
    assert report.groups == ["A"]
    # Lesson time by ISO week: 300 s on D21 (Mon 15 Dec, 2025-W51), 60 s 2 h before NOW.
    assert [(w.week, w.seconds) for w in report.weeks] == [("2025-W51", 300), ("2026-W02", 60)]
    # q1: two scored attempts, 0 then 1: best 1.0, passed.
    assert [(q.quiz, q.attempts, q.best_score, q.passed) for q in report.assessments] == [
        ("q1", 2, 1.0, True)
    ]
    # c2 completed when the second attempt was scored (submitted at D3 + 22 s): a certificate.
    assert [(c.kind, c.ref, c.issued_at) for c in report.certificates] == [
        ("course", "c2", D(3) + 22_000)
    ]
    assert report.badges == []
    c1, c2 = report.rows
    # The earliest due date of her groups (A: 20 Jan) wins over the course's: on track.
    assert (c1.course, c1.percent, c1.time_spent, c1.projected.outlook) == (
        "c1",
        75.0,
        360,
        "on_track",
    )
    assert c1.projected.due == "2026-01-20"
    assert (c2.course, c2.status, c2.percent, c2.projected.outlook) == (
        "c2",
        "completed",
        100.0,
        "completed",
    )
    assert report.freshness.devices == 1
    same_rows(report, CourseLine, csv_text(CourseLine, report.rows))
    assert learner_pdf(report).startswith(b"%PDF")
    # Who may see it: ada herself, an admin, ivy (A); not ian (B) nor another learner.
    for viewer in ("ada", "root", "ivy"):
        await check_learner(store, users[viewer], ada)
    for viewer in ("ian", "bo"):
        with pytest.raises(Forbidden):
            await check_learner(store, users[viewer], ada)


async def test_bad_parameters(world: World) -> None:
    store, users = world
    with pytest.raises(NotFound):
        await course_report(store, await report_scope(store, users["root"]), "nope")
    for since, until in [("2025-13-01", None), ("yesterday", None), (None, "2026-1-5")]:
        with pytest.raises(BadRequest):
            Period.parse(since, until)
    # A since after its until is an empty range.
    empty = Period.parse("2026-01-02", "2026-01-01")
    report = await course_report(store, await report_scope(store, users["root"]), "c1", empty)
    assert (report.learners, report.rows, report.weeks) == (0, [], [])
    with pytest.raises(Forbidden):
        await report_scope(store, users["ada"])
