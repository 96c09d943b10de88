"""Fault schedules: what the learners do on which devices, and which faults hit them.

Everything here is drawn from ``random.Random`` seeded by the schedule's seed, so a seed
names one schedule: :func:`make_schedule` builds the learners, devices and rounds, and
:func:`connection_plan` the faults of a device's ``n``-th WebSocket connection (keyed by
device and connection number, not by the order the proxy accepts connections in, so that
concurrent devices draw the same faults however the OS interleaves them).

Faults are placed on frames (the ``k``-th WebSocket frame in one direction of one
connection), not on wall-clock instants: a kill "while the device's push is in flight"
happens at that frame whatever the machine's load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["up", "down"]  # up: device -> server; down: server -> device
FaultKind = Literal["drop", "dup", "cut", "delay", "kill_server", "kill_db"]
FAULT_KINDS: tuple[FaultKind, ...] = ("drop", "dup", "cut", "delay", "kill_server", "kill_db")

COURSE_LESSONS = {
    "c1": ("read", "intro", "video", "lab"),
    "c2": ("a", "b"),
}
MANUAL = (("c1", "read"), ("c2", "a"))
TIMED = (("c1", "lab"), ("c1", "read"), ("c2", "b"), ("c1", "intro"))
VIDEO = ("c1", "video", 200)
QUIZ = ("c1", "q1", {"qa": ("a-yes", "a-no"), "qb": ("b-one", "b-two", "b-three")})
PATHS = {"p1": ("p1-basics", "p1-media"), "p2": ("p2-only",)}


@dataclass(frozen=True)
class Fault:
    """One fault on one frame. ``arg``: for ``cut`` the share of the frame's bytes that get
    through; for ``delay`` how long the frame (and those behind it) is held, in ms; for
    ``drop`` how long until the connection is severed after the frame was swallowed, in ms
    (a lost frame on TCP means a broken connection: without the cut, a device waiting for
    an ack would wait for its timeout)."""

    kind: FaultKind
    direction: Direction
    frame: int
    arg: float = 0.0


@dataclass(frozen=True)
class ConnectionPlan:
    """The faults of one WebSocket connection; ``compress`` False strips the device's
    permessage-deflate offer, so a duplicated frame reaches the peer intact (with
    compression, a copy decodes against a moved-on window and is garbage)."""

    faults: tuple[Fault, ...] = ()
    compress: bool = True


@dataclass(frozen=True)
class Action:
    """One step of a device's script: ``record`` an event, ``quiz`` (one whole attempt
    through ``take_quiz``) or ``sync`` (one ``sync_once``)."""

    kind: Literal["record", "quiz", "sync"]
    learner: int = 0
    type: str = ""
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kill:
    """Kill -9 the server (or the database) when ``device``'s first connection of the round
    passes frame ``frame`` going ``direction``; if it never does, at the end of the round."""

    target: Literal["server", "db"]
    device: int
    direction: Direction
    frame: int


@dataclass(frozen=True)
class Round:
    scripts: tuple[tuple[Action, ...], ...]  # one per device, run concurrently
    kills: tuple[Kill, ...] = ()


@dataclass(frozen=True)
class Schedule:
    seed: int
    learners: int
    devices: tuple[tuple[int, ...], ...]  # the learners logged in on each device
    rounds: tuple[Round, ...]
    # A device that also stays connected (``follow``) through every round, while its
    # script records and syncs: live fan-out, and two connections of one device at once.
    follower: int | None = None

    def describe(self) -> str:
        kills = [f"r{i}:{k.target}" for i, r in enumerate(self.rounds) for k in r.kills]
        actions = sum(len(s) for r in self.rounds for s in r.scripts)
        follower = "" if self.follower is None else f", device {self.follower} follows"
        return (
            f"seed {self.seed}: {self.learners} learners, devices {list(self.devices)}, "
            f"{len(self.rounds)} rounds, {actions} actions, kills {kills or 'none'}{follower}"
        )


def _event(rng: random.Random) -> tuple[str, dict[str, Any]] | None:
    """A random learning event (None: a quiz attempt instead)."""
    roll = rng.random()
    if roll < 0.30:
        course, lesson = rng.choice(TIMED)
        return "lesson.progressed", {
            "course": course,
            "lesson": lesson,
            "seconds": rng.randint(1, 90),
        }
    if roll < 0.42:
        course, lesson, duration = VIDEO
        start = rng.randrange(0, duration - 10)
        end = rng.randint(start + 1, min(duration, start + 120))
        body = {
            "course": course,
            "lesson": lesson,
            "seconds": end - start,
            "from": start,
            "to": end,
        }
        return "lesson.progressed", body
    if roll < 0.52:
        course = rng.choice(tuple(COURSE_LESSONS))
        return "lesson.opened", {"course": course, "lesson": rng.choice(COURSE_LESSONS[course])}
    if roll < 0.64:
        course, lesson = rng.choice(MANUAL)
        kind = "lesson.completed" if rng.random() < 0.7 else "lesson.uncompleted"
        return kind, {"course": course, "lesson": lesson}
    if roll < 0.80:
        return None
    path = rng.choice(tuple(PATHS))
    roll = rng.random()
    if roll < 0.5:
        return "path.enrolled", {"path": path}
    if roll < 0.75:
        return "milestone.completed", {"path": path, "milestone": rng.choice(PATHS[path])}
    kind = rng.choice(("path.paused", "path.resumed", "path.dropped"))
    return kind, {"path": path}


def quiz_answers(rng: random.Random) -> dict[str, list[str]]:
    """Answers to some of the quiz's questions (at least one), right or wrong."""
    _, _, questions = QUIZ
    chosen = [q for q in questions if rng.random() < 0.8] or [next(iter(questions))]
    return {q: rng.sample(questions[q], rng.randint(1, 2)) for q in chosen}


def _script(rng: random.Random, learners: tuple[int, ...]) -> tuple[Action, ...]:
    steps: list[Action] = []
    for _ in range(rng.randint(0, 4)):
        learner = rng.choice(learners)
        event = _event(rng)
        if event is None:
            steps.append(Action("quiz", learner, body={"answers": quiz_answers(rng)}))
        else:
            steps.append(Action("record", learner, event[0], event[1]))
        if rng.random() < 0.3:
            steps.append(Action("sync"))
    if rng.random() < 0.85:
        steps.append(Action("sync"))
    return tuple(steps)


def make_schedule(seed: int, *, can_kill_db: bool) -> Schedule:
    """The schedule named ``seed``: 2-3 learners on 2-5 devices (one may be a shared kiosk
    with two learners), 2-4 rounds; a round kills the server (and, with ``can_kill_db``,
    the database) now and then; in half of them one device also follows."""
    rng = random.Random(f"waymark-chaos/{seed}")
    learners = rng.randint(2, 3)
    devices: list[tuple[int, ...]] = [(i,) for i in range(learners)]
    for _ in range(rng.randint(0, 1)):
        devices.append((rng.randrange(learners),))
    if rng.random() < 0.3:
        devices.append(tuple(sorted(rng.sample(range(learners), 2))))
    rounds = []
    for _ in range(rng.randint(2, 4)):
        scripts = tuple(_script(rng, d) for d in devices)
        kills = []
        if rng.random() < 0.2:
            kills.append(_kill(rng, "server", len(devices)))
        if can_kill_db and rng.random() < 0.15:
            kills.append(_kill(rng, "db", len(devices)))
        rounds.append(Round(scripts, tuple(kills)))
    # Drawn apart, so that adding it left every other part of a seed's schedule as it was.
    other = random.Random(f"waymark-chaos/{seed}/follower")
    follower = other.randrange(len(devices)) if other.random() < 0.5 else None
    return Schedule(seed, learners, tuple(devices), tuple(rounds), follower)


def _kill(rng: random.Random, target: Literal["server", "db"], devices: int) -> Kill:
    direction: Direction = rng.choice(("up", "down"))
    return Kill(target, rng.randrange(devices), direction, rng.randint(0, 4))


def connection_plan(seed: int, device: int, number: int) -> ConnectionPlan:
    """The faults of device ``device``'s ``number``-th WebSocket connection."""
    rng = random.Random(f"waymark-chaos/{seed}/device-{device}/connection-{number}")
    compress = rng.random() < 0.5
    if rng.random() < 0.35:
        return ConnectionPlan((), compress)
    faults = []
    for _ in range(rng.randint(1, 2)):
        kind: FaultKind = rng.choice(("drop", "dup", "cut", "delay"))
        direction: Direction = rng.choice(("up", "down"))
        frame = rng.randint(0, 5)
        arg = {
            "drop": rng.uniform(5, 80),
            "dup": 0.0,
            "cut": rng.uniform(0.05, 0.95),
            "delay": rng.uniform(1, 120),
        }[kind]
        faults.append(Fault(kind, direction, frame, arg))
    return ConnectionPlan(tuple(faults), compress)
