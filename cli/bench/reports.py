"""The ``reports`` scenario's data: a course of many lessons with one quiz, and learners
whose progress and attempts go through the real merge (so the projections the reports
read are the merge's own rows), and the raw baseline the reports are measured against.

Each learner ``i`` completes a share of the lessons that varies with ``i`` (so the
course's funnel and percentages spread), spends 60 s on each, and makes
``attempts // learners`` quiz attempts whose answers vary with the learner, the attempt
and the question (so every question has its own facility).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from cli.bench.database import Tick, _one_hash
from server.storage.store import Store
from sync.catalog import Catalog, parse_catalog
from sync.events import Event
from sync.hlc import HybridClock

COURSE: Final = "bench-course"
QUIZ: Final = "bench-quiz"
MODULES: Final = 5
QUESTIONS: Final = 5
CHOICES: Final = ("a", "b", "c")
START_MS: Final = 1_763_790_000_000
DAY_MS: Final = 86_400_000
SEED_CONCURRENCY: Final = 8
"""Learners merged at once while seeding."""


@dataclass(frozen=True)
class Seeded:
    """What the timed part needs: the staff device's bearer token."""

    token: str
    learners: int
    attempts: int


def report_catalog(lessons: int) -> Catalog:
    """One course of ``lessons`` manual lessons in :data:`MODULES` modules, and a quiz of
    :data:`QUESTIONS` questions (answer ``a``) in the last module, with no attempt limit
    and no cool-down."""
    per = max(1, lessons // MODULES)
    modules: list[dict[str, Any]] = []
    for m in range(MODULES):
        ids = range(m * per, lessons if m == MODULES - 1 else (m + 1) * per)
        modules.append(
            {
                "id": f"m{m}",
                "title": f"Module {m}",
                "lessons": [
                    {"id": f"l{n}", "title": f"Lesson {n}", "kind": "page", "completion": "manual"}
                    for n in ids
                ],
            }
        )
    modules[-1]["quizzes"] = [
        {
            "id": QUIZ,
            "title": "Bench quiz",
            "passing_score": 0.6,
            "questions": [
                {
                    "id": f"q{q}",
                    "text": f"Question {q}",
                    "choices": [{"id": c, "text": c.upper()} for c in CHOICES],
                    "answer": "a",
                }
                for q in range(QUESTIONS)
            ],
        }
    ]
    doc = {"courses": [{"id": COURSE, "title": "Bench course", "modules": modules}]}
    return parse_catalog(yaml.safe_dump(doc), "yaml")


def learner_events(index: int, lessons: int, attempts: int) -> list[Event]:
    """Learner ``index``'s device events, one a minute from a day of their own."""
    clock = HybridClock()
    events: list[Event] = []
    at = START_MS + (index % 28) * DAY_MS

    def add(kind: str, body: dict[str, Any]) -> None:
        nonlocal at
        at += 60_000
        events.append(Event(len(events) + 1, clock.tick(at), at, kind, body, "UTC"))

    done = (index * 7) % (lessons + 1)
    for n in range(done):
        lesson = {"course": COURSE, "lesson": f"l{n}"}
        add("lesson.progressed", {**lesson, "seconds": 60})
        add("lesson.completed", lesson)
    for a in range(attempts):
        ref = {"course": COURSE, "quiz": QUIZ, "attempt": f"b{index}-{a}"}
        add("quiz.started", ref)
        for q in range(QUESTIONS):
            # Question q is answered right by a share of attempts falling with q.
            pick = "a" if (index + 3 * a + q) % (q + 2) else CHOICES[1 + (index + q) % 2]
            add("quiz.answered", {**ref, "question": f"q{q}", "choices": [pick]})
        add("quiz.submitted", ref)
    return events


async def seed_reports(url: str, learners: int, lessons: int, attempts: int, tick: Tick) -> Seeded:
    """Migrate, load :func:`report_catalog`, create ``learners`` learners (``r{i}``) and
    merge each one's events as one push of their device (``tick`` per learner), and an
    admin with a device for the timed requests."""
    store = Store.for_url(url)
    await store.open()
    try:
        await store.load_catalog(report_catalog(lessons))
        each = attempts // max(1, learners)
        limit = asyncio.Semaphore(SEED_CONCURRENCY)

        async def one(i: int) -> None:
            async with limit:
                user = await store.create_user(f"r{i}", "bench")
                device, _ = await store.register_device(user.id, f"r{i}-0")
                await _merge_all(store, device.id, learner_events(i, lessons, each))
                tick(1)

        with _one_hash():
            await asyncio.gather(*(one(i) for i in range(learners)))
            admin = await store.create_user("bench-admin", "bench", role="admin")
        _, token = await store.register_device(admin.id, "bench-admin-0")
        return Seeded(token, learners, each * learners)
    finally:
        await store.close()


async def _merge_all(store: Store, device_id: str, events: Sequence[Event]) -> None:
    from sync.protocol.messages import MAX_BATCH

    for i in range(0, len(events), MAX_BATCH):
        await store.merge(device_id, events[i : i + MAX_BATCH])


BASELINE_SQL: Final = {
    "course": (
        "SELECT m.module_id, COUNT(*), AVG(m.percent_complete), SUM(c.time_spent)"
        " FROM module_progress m JOIN (SELECT user_id, SUM(time_spent) AS time_spent"
        " FROM lesson_progress WHERE course_id = ? GROUP BY user_id) c"
        " ON c.user_id = m.user_id WHERE m.course_id = ? GROUP BY m.module_id"
    ),
    "quiz": (
        "SELECT COUNT(*), AVG(score), SUM(CASE WHEN passed THEN 1 ELSE 0 END)"
        " FROM quiz_attempts WHERE course_id = ? AND quiz_id = ?"
    ),
}
"""The raw baseline: one plain aggregate over the same projection rows each report reads
(what a hand-written SQL report would cost at the least)."""


async def baseline_ms(url: str, which: str, runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` runs of :data:`BASELINE_SQL` ``[which]``."""
    store = Store.for_url(url)
    await store.open()
    try:
        args = (COURSE, COURSE) if which == "course" else (COURSE, QUIZ)
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            await store.engine.fetch(BASELINE_SQL[which], *args)
            out.append((time.perf_counter() - start) * 1000)
        return out
    finally:
        await store.close()


# -- the scenario ------------------------------------------------------------------------

REQUESTS: Final = 20
"""Timed requests of each report per run (after one untimed warm-up)."""


def report_paths() -> dict[str, str]:
    """Report name → the REST path the scenario times."""
    return {
        "course": f"/v1/reports/courses/{COURSE}",
        "quiz": f"/v1/reports/courses/{COURSE}/quizzes/{QUIZ}",
    }


def _get_ms(url: str, token: str) -> tuple[float, int]:
    """Milliseconds to GET ``url`` and read its whole body, and the body's size."""
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        size = len(response.read())
    return (time.perf_counter() - start) * 1000, size


async def reports_scenario(bench: Any) -> list[Any]:
    """``reports``: a course report and a quiz report over ``--report-learners`` learners
    of a ``--report-lessons``-lesson course with ``--report-attempts`` quiz attempts, each
    asked :data:`REQUESTS` times of a real server; baseline: :data:`BASELINE_SQL` on the
    same database."""
    from cli.bench.scenarios import Result, percentiles
    from cli.bench.wire import BenchError

    opts = bench.options
    results = {name: Result(f"report-{name}", 1) for name in report_paths()}
    for result in results.values():
        result.fields = {
            "learners": opts.report_learners,
            "lessons": opts.report_lessons,
            "attempts": opts.report_attempts,
            "requests": REQUESTS,
        }
    async with bench.database() as target:
        label = bench.label("reports", 1, f"merging {opts.report_learners:,} learners")
        with bench.phase(label, opts.report_learners) as tick:
            seeded = await seed_reports(
                target.url, opts.report_learners, opts.report_lessons, opts.report_attempts, tick
            )
        async with bench.server(target.url) as server:
            for run in bench.runs():
                for name, path in report_paths().items():
                    result = results[name]
                    try:
                        await asyncio.to_thread(_get_ms, server.url + path, seeded.token)
                        samples = [
                            await asyncio.to_thread(_get_ms, server.url + path, seeded.token)
                            for _ in range(REQUESTS)
                        ]
                    except OSError as err:
                        raise BenchError(f"bench: GET {path}: {err}") from err
                    ms = [s[0] for s in samples]
                    base = await baseline_ms(target.url, name, REQUESTS)
                    for key, value in percentiles([m / 1000 for m in ms]).items():
                        result.add(result.latency, key, value)
                    result.add(result.extra, "bytes", float(samples[-1][1]))
                    result.add(result.extra, "baseline_p50_ms", sorted(base)[len(base) // 2])
                    result.e2e.append(1000 / sorted(ms)[len(ms) // 2])
                    result.base.append(1000 / sorted(base)[len(base) // 2])
                    result.events = seeded.attempts if name == "quiz" else seeded.learners
                    what = "attempts" if name == "quiz" else "learners"
                    bench.done(
                        f"report-{name} run {run}: p50 {sorted(ms)[len(ms) // 2]:,.0f} ms"
                        f" over {result.events:,} {what}"
                    )
    return list(results.values())
