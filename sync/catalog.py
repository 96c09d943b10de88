"""The catalog: courses → modules → lessons, and each lesson's completion rule.

Load one with :func:`parse_catalog` (JSON, TOML or YAML, same keys; see ``docs/catalog.md``).
A malformed file is refused whole with :class:`~sync.errors.CatalogError` naming the location.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import date
from pathlib import PurePath
from typing import Annotated, Final, Literal

import msgspec
import msgspec.inspect

from sync.errors import CatalogError, split_validation_error

# `$(?!\n)`: see sync.hlc.HLC_PATTERN (a plain `$` accepts a trailing newline).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$(?!\n)")]
Title = Annotated[str, msgspec.Meta(max_length=500)]
LessonKind = Literal["page", "video", "activity"]
FORMATS: Final = ("json", "toml", "yaml")


class CompletionRule(msgspec.Struct, frozen=True):
    """A parsed ``completion`` value: ``manual``, ``viewed``, ``watched:P`` or ``time:N``."""

    kind: Literal["manual", "viewed", "watched", "time"]
    threshold: int = 0

    @classmethod
    def parse(cls, text: str) -> CompletionRule:
        name, sep, arg = text.partition(":")
        if name in ("manual", "viewed") and not sep:
            return cls(name)  # type: ignore[arg-type]
        # isascii(): str.isdigit() is also true for "²", which int() refuses.
        if name in ("watched", "time") and arg.isascii() and arg.isdigit():
            value = int(arg)
            if name == "watched" and not 0 < value <= 100:
                raise ValueError(f"watched:P needs 0 < P <= 100, got {text!r}")
            if name == "time" and value <= 0:
                raise ValueError(f"time:N needs N > 0 seconds, got {text!r}")
            return cls(name, value)  # type: ignore[arg-type]
        raise ValueError(f"completion must be manual, viewed, watched:P or time:N, got {text!r}")


IdList = list[Id]
Score = Annotated[float, msgspec.Meta(ge=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Grading = Literal["highest", "last", "first", "average"]
ModuleRule = Literal["all", "any", "lessons", "assessment"]


class Choice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    text: Annotated[str, msgspec.Meta(max_length=5000)] = ""


class Question(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``answer`` is a choice id or a list of them. It never leaves the server: devices get
    :func:`public_catalog`, where it is ``None`` and ``multiple`` says which of the two it
    was (so a device can offer one choice or several; see :attr:`is_multiple`)."""

    id: Id
    choices: Annotated[list[Choice], msgspec.Meta(min_length=1)]
    text: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    answer: Id | list[Id] | None = None
    points: Count = 1
    multiple: bool = False

    def __post_init__(self) -> None:
        _unique(f"question {self.id!r}: choice", [c.id for c in self.choices])
        known = {c.id for c in self.choices}
        for choice in self.correct:
            if choice not in known:
                raise ValueError(
                    f"question {self.id!r}: answer {choice!r} is not one of its choices"
                )

    @property
    def is_multiple(self) -> bool:
        """Whether the learner may pick several choices: the answer is a list (or, with
        the answer taken out, ``multiple`` says it was)."""
        return self.multiple or isinstance(self.answer, list)

    @property
    def correct(self) -> frozenset[str]:
        if self.answer is None:
            return frozenset()
        return frozenset([self.answer] if isinstance(self.answer, str) else self.answer)


class Quiz(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An assessment. ``max_attempts`` applies to everyone, ``max_attempts_free`` (if set)
    to learners on the free plan; ``None`` means unlimited."""

    id: Id
    questions: list[Question]
    title: Title = ""
    passing_score: Score = 0.7
    max_attempts: Count | None = None
    max_attempts_free: Count | None = None
    cooldown_seconds: Annotated[int, msgspec.Meta(ge=0, le=365 * 86400)] = 0
    grading: Grading = "highest"
    competencies: IdList = []

    def __post_init__(self) -> None:
        _unique(f"quiz {self.id!r}: question", [q.id for q in self.questions])
        if not self.questions:
            raise ValueError(f"quiz {self.id!r} has no questions")

    @property
    def total_points(self) -> int:
        return sum(q.points for q in self.questions)

    def attempts_allowed(self, plan: str) -> int | None:
        limits = [x for x in (self.max_attempts,) if x is not None]
        if plan == "free" and self.max_attempts_free is not None:
            limits.append(self.max_attempts_free)
        return min(limits) if limits else None


class Assignment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``text``: what the learner is asked to do (markdown), shown above the editor."""

    id: Id
    title: Title = ""
    max_score: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 100.0
    passing_score: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 60.0
    competencies: IdList = []
    text: Annotated[str, msgspec.Meta(max_length=20000)] = ""

    def __post_init__(self) -> None:
        if self.passing_score > self.max_score:
            raise ValueError(f"assignment {self.id!r}: passing_score is above max_score")


class Lesson(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    title: Title = ""
    kind: LessonKind = "page"
    duration: Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)] = 0
    completion: str = "manual"
    text: Annotated[str, msgspec.Meta(max_length=200_000)] = ""
    quizzes: list[Quiz] = []
    competencies: IdList = []

    def __post_init__(self) -> None:
        rule = CompletionRule.parse(self.completion)
        if rule.kind == "watched" and self.duration == 0:
            raise ValueError(f"lesson {self.id!r}: completion {self.completion!r} needs a duration")

    @property
    def rule(self) -> CompletionRule:
        return CompletionRule.parse(self.completion)


class Module(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``completion``: ``all`` (lessons and every assessment passed: the default, seed story
    7.1), ``any`` (lessons or assessments), ``lessons`` or ``assessment``."""

    id: Id
    title: Title = ""
    lessons: list[Lesson] = []
    quizzes: list[Quiz] = []
    assignments: list[Assignment] = []
    completion: ModuleRule = "all"

    @property
    def all_quizzes(self) -> list[Quiz]:
        """The module's quizzes, then those inside its lessons."""
        return [*self.quizzes, *(q for lesson in self.lessons for q in lesson.quizzes)]


class Objective(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A learning objective of a course: mastered when every listed item is done."""

    id: Id
    title: Title = ""
    lessons: IdList = []
    quizzes: IdList = []
    assignments: IdList = []
    competency: Id | None = None


DueDate = Annotated[
    str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$(?!\n)")
]
"""A calendar day, ``YYYY-MM-DD`` (checked to exist when the course is parsed)."""


class Course(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``due``: when learners should have completed the course (``YYYY-MM-DD``, optional):
    reports measure predicted completion against it (``docs/reports.md``); a group's own
    due date wins over it."""

    id: Id
    title: Title = ""
    modules: list[Module] = []
    competencies: IdList = []
    objectives: list[Objective] = []
    due: DueDate | None = None

    def __post_init__(self) -> None:
        if self.due is not None:
            try:
                date.fromisoformat(self.due)
            except ValueError:
                raise ValueError(f"course {self.id!r}: due {self.due!r} is not a date") from None
        _unique(f"course {self.id!r}: module", [m.id for m in self.modules])
        _unique(f"course {self.id!r}: lesson", [x.id for m in self.modules for x in m.lessons])
        quizzes = [q.id for m in self.modules for q in m.all_quizzes]
        assignments = [a.id for m in self.modules for a in m.assignments]
        _unique(f"course {self.id!r}: quiz", quizzes)
        _unique(f"course {self.id!r}: assignment", assignments)
        _unique(f"course {self.id!r}: objective", [o.id for o in self.objectives])
        lessons = {x.id for m in self.modules for x in m.lessons}
        for objective in self.objectives:
            for kind, ids, known in (
                ("lesson", objective.lessons, lessons),
                ("quiz", objective.quizzes, set(quizzes)),
                ("assignment", objective.assignments, set(assignments)),
            ):
                for item in ids:
                    if item not in known:
                        raise ValueError(
                            f"course {self.id!r}: objective {objective.id!r} "
                            f"names no {kind} {item!r}"
                        )


class Milestone(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A step of a path: a whole course, or one module of it (``module`` set)."""

    id: Id
    course: Id
    module: Id | None = None
    order: int = 0
    title: Title = ""


class Path(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    milestones: list[Milestone]
    title: Title = ""

    def __post_init__(self) -> None:
        _unique(f"path {self.id!r}: milestone", [m.id for m in self.milestones])
        if not self.milestones:
            raise ValueError(f"path {self.id!r} has no milestones")

    @property
    def ordered(self) -> list[Milestone]:
        """Milestones in unlocking order: by ``order``, then as listed."""
        return sorted(self.milestones, key=lambda m: m.order)


class Competency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A skill. Its level (0 to 100) is the share of its evidence a learner has done; it is
    mastered at ``mastery``."""

    id: Id
    name: Title = ""
    category: Title = ""
    level: Literal["beginner", "intermediate", "advanced"] = "beginner"
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    mastery: Annotated[int, msgspec.Meta(ge=1, le=100)] = 80


# -- gamification (optional; see sync.gamify) ------------------------------------------------

Points = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class BadgeCriteria(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When a badge is earned: every condition set here holds, every one of ``all`` holds,
    and (if ``any`` is not empty) at least one of ``any`` holds. Counts are "at least"."""

    all_of: list[BadgeCriteria] = msgspec.field(default_factory=list, name="all")
    any_of: list[BadgeCriteria] = msgspec.field(default_factory=list, name="any")
    lessons_completed: Count | None = None
    quizzes_passed: Count | None = None
    perfect_quizzes: Count | None = None
    streak: Count | None = None
    """Longest streak, in days."""
    courses_completed: Count | None = None
    course_completed: Id | None = None
    path_completed: Id | None = None
    competencies_mastered: Count | None = None
    competency: Id | None = None
    """A named competency mastered."""
    badge: Id | None = None
    """Another badge earned first."""
    points: Count | None = None


class Badge(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An achievement (seed: Achievement). Earned once; ``points`` go to the ledger."""

    id: Id
    name: Title = ""
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    points: Points = 0
    criteria: BadgeCriteria = BadgeCriteria()
    category: Title = ""
    image_url: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class PointsTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Points per rule; an unset rule keeps the server's default (sync.gamify.PointsRules)."""

    lesson_completed: Points | None = None
    quiz_passed: Points | None = None
    quiz_perfect: Points | None = None
    module_completed: Points | None = None
    course_completed: Points | None = None
    path_completed: Points | None = None
    streak_day: Points | None = None


class Gamification(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The catalog's ``gamification:`` section. ``levels``: points needed for level 1, 2, …
    (ascending; empty keeps the default)."""

    points: PointsTable = PointsTable()
    levels: list[Annotated[int, msgspec.Meta(ge=0, le=2**53)]] = []
    badges: list[Badge] = []

    def __post_init__(self) -> None:
        _unique("badge", [b.id for b in self.badges])
        if any(b <= a for a, b in zip(self.levels, self.levels[1:], strict=False)):
            raise ValueError(f"levels must be strictly ascending, got {self.levels}")
        known = {b.id for b in self.badges}
        for badge in self.badges:
            stack = [badge.criteria]
            while stack:
                rule = stack.pop()
                if rule.badge is not None and rule.badge not in known:
                    raise ValueError(f"badge {badge.id!r} names no badge {rule.badge!r}")
                if rule.badge == badge.id:
                    raise ValueError(f"badge {badge.id!r} needs itself")
                stack += [*rule.all_of, *rule.any_of]


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    courses: list[Course] = []
    paths: list[Path] = []
    competencies: list[Competency] = []
    gamification: Gamification = msgspec.field(default_factory=Gamification)

    def __post_init__(self) -> None:
        _unique("course", [c.id for c in self.courses])
        _unique("path", [p.id for p in self.paths])
        _unique("competency", [c.id for c in self.competencies])
        modules = {(c.id, m.id) for c in self.courses for m in c.modules}
        courses = {c.id for c in self.courses}
        for path in self.paths:
            for step in path.milestones:
                if step.course not in courses:
                    raise ValueError(
                        f"path {path.id!r}: milestone {step.id!r} names no course {step.course!r}"
                    )
                if step.module is not None and (step.course, step.module) not in modules:
                    raise ValueError(
                        f"path {path.id!r}: milestone {step.id!r} names no module {step.module!r} "
                        f"in course {step.course!r}"
                    )
        known = {c.id for c in self.competencies}
        for course in self.courses:
            refs = [
                *course.competencies,
                *(o.competency for o in course.objectives if o.competency),
            ]
            for module in course.modules:
                refs += [c for x in module.lessons for c in x.competencies]
                refs += [c for q in module.all_quizzes for c in q.competencies]
                refs += [c for a in module.assignments for c in a.competencies]
            for ref in refs:
                if ref not in known:
                    raise ValueError(f"course {course.id!r} names no competency {ref!r}")

    @property
    def version(self) -> str:
        """A content hash: equal catalogs have equal versions. Worked out once per catalog
        (every device's hello compares it: 10,000 reconnecting devices must not each hash
        the whole catalog)."""
        index = _index(self)
        if index.version is None:
            index.version = hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]
        return index.version

    def course(self, course_id: str) -> Course | None:
        return _index(self).courses.get(course_id)

    def lesson(self, course_id: str, lesson_id: str) -> Lesson | None:
        return _index(self).lessons.get((course_id, lesson_id))

    def quiz(self, course_id: str, quiz_id: str) -> Quiz | None:
        return _index(self).quizzes.get((course_id, quiz_id))

    def assignment(self, course_id: str, assignment_id: str) -> Assignment | None:
        return _index(self).assignments.get((course_id, assignment_id))

    def lesson_module(self, course_id: str, lesson_id: str) -> str | None:
        """The id of the module that holds the lesson."""
        return _index(self).lesson_modules.get((course_id, lesson_id))

    def module(self, course_id: str, module_id: str) -> Module | None:
        return _index(self).modules.get((course_id, module_id))

    def path(self, path_id: str) -> Path | None:
        return _index(self).paths.get(path_id)

    def competency(self, competency_id: str) -> Competency | None:
        return _index(self).competencies.get(competency_id)


class _Index:
    def __init__(self, catalog: Catalog) -> None:
        self.version: str | None = None
        self.courses = {c.id: c for c in catalog.courses}
        self.modules = {(c.id, m.id): m for c in catalog.courses for m in c.modules}
        self.lessons = {
            (c.id, lesson.id): lesson
            for c in catalog.courses
            for m in c.modules
            for lesson in m.lessons
        }
        self.lesson_modules = {
            (c.id, lesson.id): m.id
            for c in catalog.courses
            for m in c.modules
            for lesson in m.lessons
        }
        self.quizzes = {
            (c.id, q.id): q for c in catalog.courses for m in c.modules for q in m.all_quizzes
        }
        self.assignments = {
            (c.id, a.id): a for c in catalog.courses for m in c.modules for a in m.assignments
        }
        self.paths = {p.id: p for p in catalog.paths}
        self.competencies = {c.id: c for c in catalog.competencies}


_INDEXES: dict[int, tuple[Catalog, _Index]] = {}


def _index(catalog: Catalog) -> _Index:
    # Catalogs are frozen, so an index built once stays true; keyed by id() with the
    # catalog kept alive beside it so the id cannot be reused while cached.
    hit = _INDEXES.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        if len(_INDEXES) > 64:
            _INDEXES.clear()
        hit = (catalog, _Index(catalog))
        _INDEXES[id(catalog)] = hit
    return hit[1]


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} id {item!r} appears twice")
        seen.add(item)


class QuizDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """What a quiz gets for a field its catalog file leaves out: the server's settings
    (pass mark, attempt limits, cool-down; ``docs/operations.md``). The defaults of this
    class are :class:`Quiz`'s own. :func:`parse_catalog` fills them in before validating,
    so the catalog stored, and sent to devices, carries the resolved values and the server
    and every device decide alike; a field the file sets always wins."""

    passing_score: Score = 0.7
    max_attempts: Count | None = None
    """Counted attempts for everyone (so also the premium plan's limit)."""
    max_attempts_free: Count | None = None
    """Counted attempts for free learners (the lower of this and ``max_attempts``)."""
    cooldown_seconds: Annotated[int, msgspec.Meta(ge=0, le=365 * 86400)] = 0

    def fill(self, raw: object) -> None:
        """Set the omitted quiz fields of an undecoded catalog ``raw`` in place (anything
        malformed is left for validation to report)."""
        given = msgspec.structs.asdict(self)
        for quiz in _raw_quizzes(raw):
            for name, value in given.items():
                quiz.setdefault(name, value)


def _raw_quizzes(raw: object) -> list[dict[str, object]]:
    def items(parent: object, key: str) -> list[dict[str, object]]:
        found = parent.get(key) if isinstance(parent, dict) else None
        return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []

    quizzes = []
    for course in items(raw, "courses"):
        for module in items(course, "modules"):
            quizzes += items(module, "quizzes")
            for lesson in items(module, "lessons"):
                quizzes += items(lesson, "quizzes")
    return quizzes


def parse_catalog(
    data: bytes | str,
    fmt: str,
    *,
    source: str = "catalog",
    quiz_defaults: QuizDefaults | None = None,
) -> Catalog:
    """Decode and validate a catalog in ``fmt`` (``json``, ``toml`` or ``yaml``); a quiz
    field the file leaves out takes its value from ``quiz_defaults`` (the server's settings)
    when given, else :class:`Quiz`'s default.

    Raises :class:`CatalogError` with ``source``, the ``$.path`` and the problem.
    """
    raw = data.encode() if isinstance(data, str) else data
    if fmt not in FORMATS:
        raise CatalogError(f"{source}: unknown catalog format {fmt!r} (use one of {FORMATS})")
    try:
        if quiz_defaults is None:
            if fmt == "json":
                return _answered(msgspec.json.decode(raw, type=Catalog), source)
            if fmt == "toml":
                return _answered(msgspec.toml.decode(raw, type=Catalog), source)
            return _answered(msgspec.yaml.decode(raw, type=Catalog), source)
        # Decoded untyped first: only then can an omitted field be told from a given one.
        if fmt == "json":
            tree = msgspec.json.decode(raw)
        elif fmt == "toml":
            tree = msgspec.toml.decode(raw)
        else:
            tree = msgspec.yaml.decode(raw)
        quiz_defaults.fill(tree)
        return _answered(msgspec.convert(tree, Catalog, str_keys=True), source)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        raise CatalogError(f"{source}: {problem} - at `{path}`") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        # msgspec.toml.decode() decodes bytes as UTF-8 itself and lets UnicodeDecodeError out.
        raise CatalogError(f"{source}: not valid {fmt.upper()}: {err}") from None


def _answered(catalog: Catalog, source: str) -> Catalog:
    """A catalog file must give every question its answer (devices get it without)."""
    for c, course in enumerate(catalog.courses):
        for m, module in enumerate(course.modules):
            places = [(f"quizzes[{i}]", q) for i, q in enumerate(module.quizzes)]
            places += [
                (f"lessons[{i}].quizzes[{j}]", q)
                for i, lesson in enumerate(module.lessons)
                for j, q in enumerate(lesson.quizzes)
            ]
            for where, quiz in places:
                for k, question in enumerate(quiz.questions):
                    if not question.correct:
                        raise CatalogError(
                            f"{source}: question {question.id!r} of quiz {quiz.id!r} has no answer"
                            f" - at `$.courses[{c}].modules[{m}].{where}.questions[{k}]`"
                        )
    return catalog


def public_catalog(catalog: Catalog) -> Catalog:
    """``catalog`` without quiz answers: the only form that may reach a learner's device."""

    def quiz(q: Quiz) -> Quiz:
        return msgspec.structs.replace(
            q,
            questions=[
                msgspec.structs.replace(x, answer=None, multiple=x.is_multiple) for x in q.questions
            ],
        )

    def module(m: Module) -> Module:
        lessons = [
            msgspec.structs.replace(x, quizzes=[quiz(q) for q in x.quizzes]) for x in m.lessons
        ]
        return msgspec.structs.replace(m, lessons=lessons, quizzes=[quiz(q) for q in m.quizzes])

    courses = [
        msgspec.structs.replace(c, modules=[module(m) for m in c.modules]) for c in catalog.courses
    ]
    return msgspec.structs.replace(catalog, courses=courses)


def format_for(filename: str) -> str:
    """Return the catalog format for a file name by its extension."""
    # PurePath: a name without an extension ("yaml", "catalog") has none, not itself.
    suffix = PurePath(filename).suffix
    fmt = {".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}.get(suffix.lower())
    if fmt is None:
        raise CatalogError(
            f"{filename}: unknown catalog extension {suffix or '(none)'} (json, toml, yaml)"
        )
    return fmt


def catalog_to_builtins(catalog: Catalog) -> dict[str, object]:
    """Plain data of ``catalog``; send devices ``catalog_to_builtins(public_catalog(c))``."""
    out = msgspec.to_builtins(catalog)
    assert isinstance(out, dict)
    return out


def catalog_from_builtins(data: object) -> Catalog:
    """Inverse of :func:`catalog_to_builtins`; raises :class:`CatalogError`."""
    try:
        return msgspec.convert(data, Catalog)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        raise CatalogError(f"catalog: {problem} - at `{path}`") from None


def _known_only(value: object, info: msgspec.inspect.Type) -> object:
    """``value`` without the object keys ``info`` (a struct type, possibly nested in lists,
    dicts and unions) does not know."""
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        return {k: _known_only(v, fields[k]) for k, v in value.items() if k in fields}
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [_known_only(v, info.item_type) for v in value]
    if isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        return {k: _known_only(v, info.value_type) for k, v in value.items()}
    if isinstance(info, msgspec.inspect.UnionType) and isinstance(value, dict):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType):
                return _known_only(value, member)
    if isinstance(info, msgspec.inspect.Metadata):
        return _known_only(value, info.type)
    return value


def catalog_from_server(data: object) -> Catalog:
    """A catalog a server sent, read by a device: fields this version does not know (a
    newer server's) are left out instead of refusing the whole catalog, so an older
    device keeps working. Everything it does know is validated as usual; raises
    :class:`CatalogError`."""
    return catalog_from_builtins(_known_only(data, _catalog_info()))


@functools.cache
def _catalog_info() -> msgspec.inspect.Type:
    # Built at the first catalog from a server, not at import: it resolves every
    # annotation of the catalog's structs (~8 ms), which each `waymark` command would pay.
    return msgspec.inspect.type_info(Catalog)
