"""sync.catalog: parsing JSON/TOML/YAML catalogs, refusing malformed ones, lookups."""

from __future__ import annotations

import json
import re
from pathlib import Path as FilePath
from typing import Any

import msgspec
import pytest

from sync.catalog import (
    FORMATS,
    Assignment,
    BadgeCriteria,
    Catalog,
    Choice,
    Competency,
    CompletionRule,
    Course,
    Lesson,
    Milestone,
    Module,
    Objective,
    Path,
    Question,
    Quiz,
    catalog_from_builtins,
    catalog_from_server,
    catalog_to_builtins,
    format_for,
    parse_catalog,
    public_catalog,
)
from sync.errors import CatalogError, WaymarkError

CATALOG_JSON = """
{
  "courses": [
    {
      "id": "py",
      "title": "Python",
      "modules": [
        {
          "id": "basics",
          "title": "Basics",
          "lessons": [
            {"id": "welcome", "title": "Welcome", "kind": "page", "completion": "viewed"},
            {"id": "install", "title": "Install", "kind": "video", "duration": 420,
             "completion": "watched:90"},
            {"id": "practice", "kind": "activity", "completion": "time:120"}
          ]
        },
        {"id": "more", "lessons": [{"id": "quiz"}]}
      ]
    },
    {"id": "js", "title": "JavaScript", "modules": [{"id": "m", "lessons": [{"id": "welcome"}]}]}
  ]
}
"""

CATALOG_TOML = """
[[courses]]
id = "py"
title = "Python"

[[courses.modules]]
id = "basics"
title = "Basics"

[[courses.modules.lessons]]
id = "welcome"
title = "Welcome"
kind = "page"
completion = "viewed"

[[courses.modules.lessons]]
id = "install"
title = "Install"
kind = "video"
duration = 420
completion = "watched:90"

[[courses.modules.lessons]]
id = "practice"
kind = "activity"
completion = "time:120"

[[courses.modules]]
id = "more"

[[courses.modules.lessons]]
id = "quiz"

[[courses]]
id = "js"
title = "JavaScript"

[[courses.modules]]
id = "m"

[[courses.modules.lessons]]
id = "welcome"
"""

CATALOG_YAML = """
courses:
  - id: py
    title: Python
    modules:
      - id: basics
        title: Basics
        lessons:
          - {id: welcome, title: Welcome, kind: page, completion: viewed}
          - id: install
            title: Install
            kind: video
            duration: 420
            completion: "watched:90"
          - id: practice
            kind: activity
            completion: "time:120"
      - id: more
        lessons:
          - id: quiz
  - id: js
    title: JavaScript
    modules:
      - id: m
        lessons: [{id: welcome}]
"""

SOURCES = {"json": CATALOG_JSON, "toml": CATALOG_TOML, "yaml": CATALOG_YAML}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_catalog(CATALOG_JSON, "json")


def one_lesson(**lesson: Any) -> str:
    """A JSON catalog with a single lesson at ``$.courses[0].modules[0].lessons[0]``."""
    return json.dumps({"courses": [{"id": "c", "modules": [{"id": "m", "lessons": [lesson]}]}]})


LESSON = "$.courses[0].modules[0].lessons[0]"


# -- the three formats --------------------------------------------------------------------


def test_json_toml_and_yaml_with_the_same_keys_parse_to_equal_catalogs() -> None:
    parsed = {fmt: parse_catalog(text, fmt) for fmt, text in SOURCES.items()}
    assert parsed["json"] == parsed["toml"] == parsed["yaml"]
    assert parsed["json"].version == parsed["toml"].version == parsed["yaml"].version
    assert set(SOURCES) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_and_text_parse_alike(fmt: str) -> None:
    text = SOURCES[fmt]
    assert parse_catalog(text.encode(), fmt) == parse_catalog(text, fmt)


def test_parsed_catalog_has_the_defaults_filled_in(catalog: Catalog) -> None:
    quiz = catalog.lesson("py", "quiz")
    assert quiz == Lesson(id="quiz", title="", kind="page", duration=0, completion="manual")
    assert catalog.courses[0].modules[1].title == ""


def test_version_is_a_short_content_hash() -> None:
    a = parse_catalog(CATALOG_JSON, "json")
    b = parse_catalog(CATALOG_YAML, "yaml")
    other = parse_catalog(one_lesson(id="l"), "json")
    assert a.version == b.version
    assert a.version != other.version
    assert len(a.version) == 16
    int(a.version, 16)


def test_an_empty_catalog_is_valid() -> None:
    assert parse_catalog("{}", "json") == Catalog()
    assert parse_catalog("", "toml") == Catalog()


# -- completion rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("manual", CompletionRule("manual")),
        ("viewed", CompletionRule("viewed")),
        ("watched:1", CompletionRule("watched", 1)),
        ("watched:100", CompletionRule("watched", 100)),
        ("time:120", CompletionRule("time", 120)),
    ],
)
def test_completion_rule_parses(text: str, rule: CompletionRule) -> None:
    assert CompletionRule.parse(text) == rule


def test_lesson_rule_is_its_parsed_completion(catalog: Catalog) -> None:
    install = catalog.lesson("py", "install")
    assert install is not None
    assert install.rule == CompletionRule("watched", 90)


# -- malformed catalogs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        pytest.param(
            one_lesson(id="l", colour="red"), LESSON, "unknown field `colour`", id="unknown-field"
        ),
        pytest.param(
            '{"courses": [], "owner": "me"}', "$", "unknown field `owner`", id="unknown-root-field"
        ),
        pytest.param(
            json.dumps({"courses": [{"id": "c", "modules": [{"id": "m", "lesons": []}]}]}),
            "$.courses[0].modules[0]",
            "unknown field `lesons`",
            id="misspelt-field",
        ),
        pytest.param(
            one_lesson(id="l", duration="ten"),
            f"{LESSON}.duration",
            "Expected `int`, got `str`",
            id="wrong-type",
        ),
        pytest.param(
            one_lesson(id="l", duration=-1), f"{LESSON}.duration", ">= 0", id="negative-duration"
        ),
        pytest.param(
            one_lesson(id="l", duration=7 * 86400 + 1),
            f"{LESSON}.duration",
            "<= 604800",
            id="duration-over-a-week",
        ),
        pytest.param(one_lesson(id="l", kind="podcast"), f"{LESSON}.kind", "podcast", id="kind"),
        pytest.param('{"courses": {"id": "c"}}', "$.courses", "Expected `array`", id="not-list"),
        pytest.param("[]", "$", "Expected `object`, got `array`", id="root-not-object"),
        pytest.param(
            json.dumps({"courses": [{"title": "no id"}]}),
            "$.courses[0]",
            "missing required field `id`",
            id="missing-id",
        ),
    ],
)
def test_malformed_catalog_is_refused_naming_the_path(text: str, path: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "json", source="courses.json")
    message = str(caught.value)
    assert message.startswith("courses.json: ")
    assert problem in message
    assert message.endswith(f" - at `{path}`")


@pytest.mark.parametrize(
    ("completion", "problem"),
    [
        ("watched:0", "0 < P <= 100"),
        ("watched:150", "0 < P <= 100"),
        ("time:0", "N > 0"),
        ("time:-1", "must be manual, viewed, watched:P or time:N"),
        ("time:1.5", "must be manual"),
        ("bogus", "must be manual"),
        ("", "must be manual"),
        ("watched", "must be manual"),
        ("watched:", "must be manual"),
        ("watched:\u00b2", "must be manual"),  # "²".isdigit() is True
        ("watched:\u0669\u0660", "must be manual"),  # Arabic-Indic "90"
        ("manual:", "must be manual"),
        ("viewed:3", "must be manual"),
        ("Manual", "must be manual"),
    ],
)
def test_bad_completion_is_refused(completion: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(one_lesson(id="l", duration=60, completion=completion), "json")
    assert problem in str(caught.value)
    assert str(caught.value).endswith(f" - at `{LESSON}`")
    with pytest.raises(ValueError, match=problem):
        CompletionRule.parse(completion)


def test_watched_without_a_duration_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"'watched:90' needs a duration - at `\$.courses\[0]"):
        parse_catalog(one_lesson(id="l", kind="video", completion="watched:90"), "json")


@pytest.mark.parametrize(
    ("catalog", "path", "problem"),
    [
        pytest.param(
            {"courses": [{"id": "c"}, {"id": "d"}, {"id": "c"}]},
            "$",
            "course id 'c' appears twice",
            id="course",
        ),
        pytest.param(
            {"courses": [{"id": "c", "modules": [{"id": "m"}, {"id": "m"}]}]},
            "$.courses[0]",
            "course 'c': module id 'm' appears twice",
            id="module",
        ),
        pytest.param(
            {"courses": [{"id": "c", "modules": [{"id": "m", "lessons": [{"id": "l"}] * 2}]}]},
            "$.courses[0]",
            "course 'c': lesson id 'l' appears twice",
            id="lesson-in-one-module",
        ),
        pytest.param(
            {
                "courses": [
                    {
                        "id": "c",
                        "modules": [
                            {"id": "m1", "lessons": [{"id": "l"}]},
                            {"id": "m2", "lessons": [{"id": "l"}]},
                        ],
                    }
                ]
            },
            "$.courses[0]",
            "course 'c': lesson id 'l' appears twice",
            id="lesson-in-two-modules",
        ),
    ],
)
def test_duplicate_ids_are_refused(catalog: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps(catalog), "json")
    assert problem in str(caught.value)
    assert str(caught.value).endswith(f" - at `{path}`")


def test_the_same_lesson_id_in_two_courses_is_fine(catalog: Catalog) -> None:
    py, js = catalog.lesson("py", "welcome"), catalog.lesson("js", "welcome")
    assert py is not None and js is not None
    assert (py.title, js.title) == ("Welcome", "")


@pytest.mark.parametrize(
    "bad_id",
    ["a/b", "", "a b", "caf\u00e9", "a\n", "a\nb", "x" * 201, "<script>", "a?b", "a#b"],
)
def test_bad_id_characters_are_refused(bad_id: str) -> None:
    with pytest.raises(
        CatalogError, match=r" - at `\$\.courses\[0]\.modules\[0]\.lessons\[0]\.id`"
    ):
        parse_catalog(one_lesson(id=bad_id), "json")
    with pytest.raises(CatalogError, match=r" - at `\$\.courses\[0]\.id`"):
        parse_catalog(json.dumps({"courses": [{"id": bad_id}]}), "json")


@pytest.mark.parametrize("good_id", ["a", "A-b_c.d:e", "0", "x" * 200])
def test_id_characters_allowed(good_id: str) -> None:
    assert parse_catalog(one_lesson(id=good_id), "json").lesson("c", good_id) is not None


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("json", '{"courses": [{"id": "c", "colour": "red"}]}'),
        ("toml", '[[courses]]\nid = "c"\ncolour = "red"\n'),
        ("yaml", "courses:\n  - id: c\n    colour: red\n"),
    ],
)
def test_every_format_names_the_path(fmt: str, text: str) -> None:
    with pytest.raises(CatalogError, match=r"unknown field `colour` - at `\$\.courses\[0]`$"):
        parse_catalog(text, fmt)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("json", '{"courses": ['),
        ("json", b"\xff\xfe"),
        ("toml", "[[courses]\n"),
        ("toml", b'id = "\xff"'),  # not UTF-8
        ("yaml", "courses: [\n"),
        ("yaml", "courses: {a: 1\n"),
    ],
)
def test_syntax_errors_are_refused_naming_the_format(fmt: str, text: str | bytes) -> None:
    with pytest.raises(CatalogError, match=f"^cat: not valid {fmt.upper()}: "):
        parse_catalog(text, fmt, source="cat")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"unknown catalog format 'xml'.*json.*toml.*yaml"):
        parse_catalog("<catalog/>", "xml")


def test_catalog_error_is_a_waymark_error() -> None:
    assert issubclass(CatalogError, WaymarkError)


# -- format_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [
        ("catalog.json", "json"),
        ("catalog.toml", "toml"),
        ("catalog.yaml", "yaml"),
        ("catalog.yml", "yaml"),
        ("CATALOG.YML", "yaml"),
        ("/srv/waymark.v2/catalog.Toml", "toml"),
    ],
)
def test_format_for_goes_by_extension(filename: str, fmt: str) -> None:
    assert format_for(filename) == fmt


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("catalog.txt", ".txt"),
        ("catalog.json.bak", ".bak"),
        ("catalog", "(none)"),
        ("yaml", "(none)"),  # a name, not an extension
        (".json", "(none)"),  # a hidden file without an extension
        ("/srv/waymark.json/catalog", "(none)"),
    ],
)
def test_format_for_refuses_unknown_extensions(filename: str, extension: str) -> None:
    with pytest.raises(CatalogError) as caught:
        format_for(filename)
    assert str(caught.value).startswith(f"{filename}: unknown catalog extension {extension} ")


# -- lookups ------------------------------------------------------------------------------


def test_course_finds_a_course_by_id(catalog: Catalog) -> None:
    course = catalog.course("py")
    assert isinstance(course, Course)
    assert course.title == "Python"
    assert catalog.course("rust") is None


def test_lesson_finds_a_lesson_by_course_and_id(catalog: Catalog) -> None:
    assert catalog.lesson("py", "install") == Lesson(
        "install", "Install", "video", 420, "watched:90"
    )
    assert catalog.lesson("py", "nope") is None
    assert catalog.lesson("rust", "welcome") is None
    assert catalog.lesson("js", "install") is None  # exists, but in another course


def test_lookups_answer_for_the_catalog_asked_even_after_many_catalogs() -> None:
    # The lookup index is cached per catalog object; build more than the cache holds.
    catalogs = [
        Catalog([Course("c", modules=[Module("m", lessons=[Lesson(f"l{i}")])])]) for i in range(100)
    ]
    for _ in range(2):
        for i, each in enumerate(catalogs):
            assert each.lesson("c", f"l{i}") == Lesson(f"l{i}")
            assert each.lesson("c", f"l{i + 1}") is None


# -- builtins (the catalog message) -------------------------------------------------------


def test_builtins_round_trip(catalog: Catalog) -> None:
    data = catalog_to_builtins(catalog)
    assert json.loads(json.dumps(data)) == data  # plain data
    assert catalog_from_builtins(data) == catalog


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"courses": [{"id": "a/b"}]}, "$.courses[0].id"),
        ({"courses": [{"id": "c"}, {"id": "c"}]}, "$"),
        (["not", "a", "catalog"], "$"),
    ],
)
def test_from_builtins_refuses_bad_data_naming_the_path(data: object, path: str) -> None:
    with pytest.raises(CatalogError) as caught:
        catalog_from_builtins(data)
    assert str(caught.value).startswith("catalog: ")
    assert str(caught.value).endswith(f" - at `{path}`")


# -- the learning domain: quizzes, assignments, objectives, paths, competencies -----------

LEARNING: dict[str, Any] = {
    "competencies": [
        {
            "id": "syntax",
            "name": "Python syntax",
            "category": "programming",
            "level": "intermediate",
            "description": "Reads and writes plain Python.",
            "mastery": 75,
        },
        {"id": "testing"},
    ],
    "courses": [
        {
            "id": "py",
            "title": "Python",
            "competencies": ["syntax"],
            "objectives": [
                {
                    "id": "loops",
                    "title": "Write loops",
                    "lessons": ["for"],
                    "quizzes": ["for-check", "final"],
                    "assignments": ["essay"],
                    "competency": "syntax",
                }
            ],
            "modules": [
                {
                    "id": "basics",
                    "completion": "any",
                    "lessons": [
                        {
                            "id": "for",
                            "text": "# Loops\n\nUse `for x in xs:`.",
                            "competencies": ["syntax"],
                            "quizzes": [
                                {
                                    "id": "for-check",
                                    "questions": [
                                        {
                                            "id": "q1",
                                            "choices": [{"id": "a"}, {"id": "b"}],
                                            "answer": "a",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                    "quizzes": [
                        {
                            "id": "final",
                            "title": "Final quiz",
                            "passing_score": 0.8,
                            "max_attempts": 3,
                            "max_attempts_free": 1,
                            "cooldown_seconds": 60,
                            "grading": "average",
                            "competencies": ["syntax", "testing"],
                            "questions": [
                                {
                                    "id": "q1",
                                    "text": "Which are loops?",
                                    "choices": [
                                        {"id": "a", "text": "for"},
                                        {"id": "b", "text": "if"},
                                        {"id": "c", "text": "while"},
                                    ],
                                    "answer": ["a", "c"],
                                    "points": 2,
                                },
                                {
                                    "id": "q2",
                                    "choices": [{"id": "yes"}, {"id": "no"}],
                                    "answer": "yes",
                                },
                            ],
                        }
                    ],
                    "assignments": [
                        {
                            "id": "essay",
                            "title": "Essay",
                            "max_score": 10,
                            "passing_score": 6,
                            "competencies": ["testing"],
                        }
                    ],
                },
                {"id": "more", "lessons": [{"id": "extra"}]},
            ],
        },
        {"id": "js", "modules": [{"id": "m", "lessons": [{"id": "intro"}]}]},
    ],
    "paths": [
        {
            "id": "track",
            "title": "The track",
            "milestones": [
                {"id": "second", "course": "py", "module": "more", "order": 2, "title": "More"},
                {"id": "first", "course": "py", "order": 1},
                {"id": "also-second", "course": "js", "order": 2},
            ],
        }
    ],
}

LEARNING_YAML = """
competencies:
  - id: syntax
    name: Python syntax
    category: programming
    level: intermediate
    description: Reads and writes plain Python.
    mastery: 75
  - id: testing
courses:
  - id: py
    title: Python
    competencies: [syntax]
    objectives:
      - id: loops
        title: Write loops
        lessons: [for]
        quizzes: [for-check, final]
        assignments: [essay]
        competency: syntax
    modules:
      - id: basics
        completion: any
        lessons:
          - id: for
            text: "# Loops\\n\\nUse `for x in xs:`."
            competencies: [syntax]
            quizzes:
              - id: for-check
                questions:
                  - {id: q1, choices: [{id: a}, {id: b}], answer: a}
        quizzes:
          - id: final
            title: Final quiz
            passing_score: 0.8
            max_attempts: 3
            max_attempts_free: 1
            cooldown_seconds: 60
            grading: average
            competencies: [syntax, testing]
            questions:
              - id: q1
                text: Which are loops?
                choices:
                  - {id: a, text: for}
                  - {id: b, text: if}
                  - {id: c, text: while}
                answer: [a, c]
                points: 2
              - id: q2
                choices: [{id: "yes"}, {id: "no"}]
                answer: "yes"
        assignments:
          - {id: essay, title: Essay, max_score: 10, passing_score: 6, competencies: [testing]}
      - id: more
        lessons: [{id: extra}]
  - id: js
    modules: [{id: m, lessons: [{id: intro}]}]
paths:
  - id: track
    title: The track
    milestones:
      - {id: second, course: py, module: more, order: 2, title: More}
      - {id: first, course: py, order: 1}
      - {id: also-second, course: js, order: 2}
"""

LEARNING_TOML = """
[[competencies]]
id = "syntax"
name = "Python syntax"
category = "programming"
level = "intermediate"
description = "Reads and writes plain Python."
mastery = 75

[[competencies]]
id = "testing"

[[courses]]
id = "py"
title = "Python"
competencies = ["syntax"]

[[courses.objectives]]
id = "loops"
title = "Write loops"
lessons = ["for"]
quizzes = ["for-check", "final"]
assignments = ["essay"]
competency = "syntax"

[[courses.modules]]
id = "basics"
completion = "any"

[[courses.modules.lessons]]
id = "for"
text = "# Loops\\n\\nUse `for x in xs:`."
competencies = ["syntax"]

[[courses.modules.lessons.quizzes]]
id = "for-check"

[[courses.modules.lessons.quizzes.questions]]
id = "q1"
choices = [{id = "a"}, {id = "b"}]
answer = "a"

[[courses.modules.quizzes]]
id = "final"
title = "Final quiz"
passing_score = 0.8
max_attempts = 3
max_attempts_free = 1
cooldown_seconds = 60
grading = "average"
competencies = ["syntax", "testing"]

[[courses.modules.quizzes.questions]]
id = "q1"
text = "Which are loops?"
choices = [{id = "a", text = "for"}, {id = "b", text = "if"}, {id = "c", text = "while"}]
answer = ["a", "c"]
points = 2

[[courses.modules.quizzes.questions]]
id = "q2"
choices = [{id = "yes"}, {id = "no"}]
answer = "yes"

[[courses.modules.assignments]]
id = "essay"
title = "Essay"
max_score = 10
passing_score = 6
competencies = ["testing"]

[[courses.modules]]
id = "more"
lessons = [{id = "extra"}]

[[courses]]
id = "js"
modules = [{id = "m", lessons = [{id = "intro"}]}]

[[paths]]
id = "track"
title = "The track"
milestones = [
  {id = "second", course = "py", module = "more", order = 2, title = "More"},
  {id = "first", course = "py", order = 1},
  {id = "also-second", course = "js", order = 2},
]
"""

QUIZ = "$.courses[0].modules[0].quizzes[0]"


@pytest.fixture(scope="module")
def learning() -> Catalog:
    return parse_catalog(json.dumps(LEARNING), "json")


def question(qid: str = "q1", answer: object = "a", choices: str = "ab", **extra: Any) -> Any:
    """A question with one-letter choice ids."""
    return {"id": qid, "choices": [{"id": c} for c in choices], "answer": answer, **extra}


def quiz(qid: str = "q", questions: list[Any] | None = None, **extra: Any) -> Any:
    return {"id": qid, "questions": [question()] if questions is None else questions, **extra}


def one_module(**module: Any) -> dict[str, Any]:
    """A catalog with one course ``c`` and one module ``m`` holding lesson ``l``."""
    return {"courses": [{"id": "c", "modules": [{"id": "m", "lessons": [{"id": "l"}], **module}]}]}


def with_course(course: dict[str, Any], **catalog: Any) -> dict[str, Any]:
    """One course ``c``: module ``m`` with lesson ``l``, quiz ``q``, assignment ``a``."""
    base = {
        "id": "c",
        "modules": [
            {"id": "m", "lessons": [{"id": "l"}], "quizzes": [quiz()], "assignments": [{"id": "a"}]}
        ],
    }
    return {"courses": [base | course], "competencies": [{"id": "k"}], **catalog}


def test_learning_keys_parse_alike_in_the_three_formats(learning: Catalog) -> None:
    assert parse_catalog(LEARNING_YAML, "yaml") == learning
    assert parse_catalog(LEARNING_TOML, "toml") == learning
    assert parse_catalog(LEARNING_TOML, "toml").version == learning.version


def test_every_learning_key_is_read(learning: Catalog) -> None:
    assert learning.quiz("py", "final") == Quiz(
        "final",
        [
            Question(
                "q1",
                [Choice("a", "for"), Choice("b", "if"), Choice("c", "while")],
                text="Which are loops?",
                answer=["a", "c"],
                points=2,
            ),
            Question("q2", [Choice("yes"), Choice("no")], answer="yes"),
        ],
        title="Final quiz",
        passing_score=0.8,
        max_attempts=3,
        max_attempts_free=1,
        cooldown_seconds=60,
        grading="average",
        competencies=["syntax", "testing"],
    )
    assert learning.assignment("py", "essay") == Assignment(
        "essay", "Essay", max_score=10, passing_score=6, competencies=["testing"]
    )
    lesson = learning.lesson("py", "for")
    assert lesson is not None
    assert lesson.text == "# Loops\n\nUse `for x in xs:`."
    assert lesson.competencies == ["syntax"]
    assert [q.id for q in lesson.quizzes] == ["for-check"]
    course = learning.course("py")
    assert course is not None
    assert course.competencies == ["syntax"]
    assert course.objectives == [
        Objective("loops", "Write loops", ["for"], ["for-check", "final"], ["essay"], "syntax")
    ]
    assert learning.competency("syntax") == Competency(
        "syntax",
        "Python syntax",
        "programming",
        "intermediate",
        "Reads and writes plain Python.",
        75,
    )
    path = learning.path("track")
    assert path is not None
    assert path.title == "The track"
    assert path.milestones[0] == Milestone("second", "py", "more", 2, "More")


def test_question_correct_and_quiz_total_points(learning: Catalog) -> None:
    final = learning.quiz("py", "final")
    assert final is not None
    assert [q.correct for q in final.questions] == [frozenset({"a", "c"}), frozenset({"yes"})]
    assert final.total_points == 3
    assert Question("q", [Choice("a")]).correct == frozenset()


def test_learning_defaults_are_filled_in() -> None:
    data = one_module(quizzes=[quiz()], assignments=[{"id": "a"}])
    data["paths"] = [{"id": "p", "milestones": [{"id": "s", "course": "c"}]}]
    data["competencies"] = [{"id": "k"}]
    catalog = parse_catalog(json.dumps(data), "json")
    q = catalog.quiz("c", "q")
    assert q == Quiz("q", [Question("q1", [Choice("a"), Choice("b")], answer="a")])
    assert q is not None
    assert (q.title, q.passing_score, q.max_attempts, q.max_attempts_free) == ("", 0.7, None, None)
    assert (q.cooldown_seconds, q.grading, q.competencies) == (0, "highest", [])
    assert (q.questions[0].text, q.questions[0].points, q.questions[0].choices[0].text) == (
        "",
        1,
        "",
    )
    assert catalog.assignment("c", "a") == Assignment("a", "", 100.0, 60.0, [])
    module = catalog.module("c", "m")
    assert module is not None and module.completion == "all"
    assert catalog.lesson("c", "l") == Lesson("l", text="", quizzes=[], competencies=[])
    course = catalog.course("c")
    assert course is not None and (course.competencies, course.objectives) == ([], [])
    assert catalog.paths == [Path("p", [Milestone("s", "c", None, 0, "")], "")]
    assert catalog.competencies == [Competency("k", "", "", "beginner", "", 80)]
    assert Objective("o") == Objective("o", "", [], [], [], None)
    assert Catalog().paths == []
    assert Catalog().competencies == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(one_module(quizzes=[quiz(questions=[question(answer=["b"])])]), id="list-1"),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(answer=["a", "b", "c"], choices="abc")])]),
            id="every-choice-correct",
        ),
        *(
            pytest.param(one_module(quizzes=[quiz(grading=g)]), id=f"grading-{g}")
            for g in ("highest", "last", "first", "average")
        ),
        *(
            pytest.param(one_module(completion=rule), id=f"module-{rule}")
            for rule in ("all", "any", "lessons", "assessment")
        ),
        *(
            pytest.param({"competencies": [{"id": "k", "level": level}]}, id=f"level-{level}")
            for level in ("beginner", "intermediate", "advanced")
        ),
        pytest.param({"competencies": [{"id": "k", "mastery": 1}]}, id="mastery-1"),
        pytest.param({"competencies": [{"id": "k", "mastery": 100}]}, id="mastery-100"),
        pytest.param(one_module(quizzes=[quiz(passing_score=0)]), id="quiz-pass-0"),
        pytest.param(one_module(quizzes=[quiz(passing_score=1)]), id="quiz-pass-1"),
        pytest.param(one_module(quizzes=[quiz(max_attempts=1, cooldown_seconds=0)]), id="one-go"),
        pytest.param(
            one_module(quizzes=[quiz(max_attempts=2, max_attempts_free=5)]), id="free-above-all"
        ),
        pytest.param(
            one_module(quizzes=[quiz(cooldown_seconds=365 * 86400)]), id="cooldown-a-year"
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "max_score": 5, "passing_score": 5}]),
            id="assignment-pass-at-max",
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "max_score": 0.5, "passing_score": 0}]),
            id="assignment-fractional-max",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "quizzes": [quiz("q1")]}], quizzes=[quiz("q2")]),
            id="lesson-and-module-quizzes",
        ),
        pytest.param(
            {
                "courses": [
                    {"id": "c", "modules": [{"id": "m", "quizzes": [quiz()]}]},
                    {"id": "d", "modules": [{"id": "m", "quizzes": [quiz()]}]},
                ]
            },
            id="same-quiz-id-in-two-courses",
        ),
        pytest.param(
            with_course(
                {
                    "modules": [{"id": "m", "lessons": [{"id": "l", "quizzes": [quiz("lq")]}]}],
                    "objectives": [{"id": "o", "quizzes": ["lq"], "lessons": ["l"]}],
                }
            ),
            id="objective-names-a-lesson-quiz",
        ),
        pytest.param(with_course({"objectives": [{"id": "o"}]}), id="empty-objective"),
        pytest.param(
            with_course(
                {},
                paths=[
                    {
                        "id": "p",
                        "milestones": [
                            {"id": "s1", "course": "c", "module": "m", "order": -1},
                            {"id": "s2", "course": "c"},
                        ],
                    }
                ],
            ),
            id="milestones-of-module-and-course",
        ),
    ],
)
def test_learning_shapes_are_accepted(data: dict[str, Any]) -> None:
    catalog = parse_catalog(json.dumps(data), "json")
    assert catalog_from_builtins(catalog_to_builtins(catalog)) == catalog


MODULE = "$.courses[0].modules[0]"


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        # duplicate ids
        pytest.param(
            {
                "courses": [
                    {
                        "id": "c",
                        "modules": [
                            {"id": "m1", "quizzes": [quiz()]},
                            {"id": "m2", "quizzes": [quiz()]},
                        ],
                    }
                ]
            },
            "$.courses[0]",
            "course 'c': quiz id 'q' appears twice",
            id="quiz-in-two-modules",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "quizzes": [quiz()]}], quizzes=[quiz()]),
            "$.courses[0]",
            "course 'c': quiz id 'q' appears twice",
            id="quiz-in-module-and-lesson",
        ),
        pytest.param(
            {
                "courses": [
                    {
                        "id": "c",
                        "modules": [
                            {"id": "m1", "lessons": [{"id": "l1", "quizzes": [quiz()]}]},
                            {"id": "m2", "lessons": [{"id": "l2", "quizzes": [quiz()]}]},
                        ],
                    }
                ]
            },
            "$.courses[0]",
            "course 'c': quiz id 'q' appears twice",
            id="quiz-in-two-lessons",
        ),
        pytest.param(
            {
                "courses": [
                    {
                        "id": "c",
                        "modules": [
                            {"id": "m1", "assignments": [{"id": "a"}]},
                            {"id": "m2", "assignments": [{"id": "a"}]},
                        ],
                    }
                ]
            },
            "$.courses[0]",
            "course 'c': assignment id 'a' appears twice",
            id="assignment-in-two-modules",
        ),
        pytest.param(
            with_course({"objectives": [{"id": "o"}, {"id": "o"}]}),
            "$.courses[0]",
            "course 'c': objective id 'o' appears twice",
            id="objective",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(), question()])]),
            QUIZ,
            "quiz 'q': question id 'q1' appears twice",
            id="question",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(choices="aba")])]),
            f"{QUIZ}.questions[0]",
            "question 'q1': choice id 'a' appears twice",
            id="choice",
        ),
        pytest.param(
            with_course({}, paths=[{"id": "p", "milestones": [{"id": "s", "course": "c"}]}] * 2),
            "$",
            "path id 'p' appears twice",
            id="path",
        ),
        pytest.param(
            {"competencies": [{"id": "k"}, {"id": "k"}]},
            "$",
            "competency id 'k' appears twice",
            id="competency",
        ),
        pytest.param(
            with_course({}, paths=[{"id": "p", "milestones": [{"id": "s", "course": "c"}] * 2}]),
            "$.paths[0]",
            "path 'p': milestone id 's' appears twice",
            id="milestone",
        ),
        # questions
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(choices="")])]),
            f"{QUIZ}.questions[0].choices",
            "Expected `array` of length >= 1",
            id="question-without-choices",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[{"id": "q1", "answer": "a"}])]),
            f"{QUIZ}.questions[0]",
            "missing required field `choices`",
            id="question-choices-missing",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(answer="z")])]),
            f"{QUIZ}.questions[0]",
            "question 'q1': answer 'z' is not one of its choices",
            id="answer-not-a-choice",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(answer=["a", "z"])])]),
            f"{QUIZ}.questions[0]",
            "question 'q1': answer 'z' is not one of its choices",
            id="one-answer-not-a-choice",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "quizzes": [quiz(questions=[question(answer="z")])]}]),
            "$.courses[0].modules[0].lessons[0].quizzes[0].questions[0]",
            "question 'q1': answer 'z' is not one of its choices",
            id="lesson-quiz-answer-not-a-choice",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(answer=1)])]),
            f"{QUIZ}.questions[0].answer",
            "got `int`",
            id="answer-a-number",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[question(points=0)])]),
            f"{QUIZ}.questions[0].points",
            ">= 1",
            id="no-points",
        ),
        # quizzes
        pytest.param(
            one_module(quizzes=[quiz(passing_score=1.5)]),
            f"{QUIZ}.passing_score",
            "<= 1",
            id="quiz-pass-above-1",
        ),
        pytest.param(
            one_module(quizzes=[quiz(passing_score=-0.1)]),
            f"{QUIZ}.passing_score",
            ">= 0",
            id="quiz-pass-below-0",
        ),
        pytest.param(
            one_module(quizzes=[quiz(passing_score=70)]),
            f"{QUIZ}.passing_score",
            "<= 1",
            id="quiz-pass-as-percent",
        ),
        pytest.param(
            one_module(quizzes=[quiz(questions=[])]), QUIZ, "quiz 'q' has no questions", id="empty"
        ),
        pytest.param(
            one_module(quizzes=[{"id": "q"}]),
            QUIZ,
            "missing required field `questions`",
            id="questions-missing",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "quizzes": [quiz(questions=[])]}]),
            "$.courses[0].modules[0].lessons[0].quizzes[0]",
            "quiz 'q' has no questions",
            id="empty-lesson-quiz",
        ),
        pytest.param(
            one_module(quizzes=[quiz(grading="best")]),
            f"{QUIZ}.grading",
            "Invalid enum value 'best'",
            id="grading",
        ),
        pytest.param(
            one_module(quizzes=[quiz(max_attempts=0)]), f"{QUIZ}.max_attempts", ">= 1", id="max-0"
        ),
        pytest.param(
            one_module(quizzes=[quiz(max_attempts_free=0)]),
            f"{QUIZ}.max_attempts_free",
            ">= 1",
            id="max-free-0",
        ),
        pytest.param(
            one_module(quizzes=[quiz(cooldown_seconds=-1)]),
            f"{QUIZ}.cooldown_seconds",
            ">= 0",
            id="negative-cooldown",
        ),
        pytest.param(
            one_module(quizzes=[quiz(pass_mark=0.5)]),
            QUIZ,
            "unknown field `pass_mark`",
            id="quiz-unknown-field",
        ),
        # assignments
        pytest.param(
            one_module(assignments=[{"id": "a", "max_score": 50, "passing_score": 70}]),
            f"{MODULE}.assignments[0]",
            "assignment 'a': passing_score is above max_score",
            id="assignment-pass-above-max",
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "passing_score": 100.5}]),
            f"{MODULE}.assignments[0]",
            "assignment 'a': passing_score is above max_score",
            id="assignment-pass-above-default-max",
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "max_score": 0, "passing_score": 0}]),
            f"{MODULE}.assignments[0].max_score",
            "> 0",
            id="assignment-max-0",
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "passing_score": -1}]),
            f"{MODULE}.assignments[0].passing_score",
            ">= 0",
            id="assignment-negative-pass",
        ),
        # modules
        pytest.param(
            one_module(completion="most"),
            f"{MODULE}.completion",
            "Invalid enum value 'most'",
            id="module-completion",
        ),
        # objectives
        *(
            pytest.param(
                with_course({"objectives": [{"id": "o", key: [kind[0], "nope"]}]}),
                "$.courses[0]",
                f"course 'c': objective 'o' names no {kind} 'nope'",
                id=f"objective-{kind}",
            )
            for kind, key in (
                ("lesson", "lessons"),
                ("quiz", "quizzes"),
                ("assignment", "assignments"),
            )
        ),
        pytest.param(
            {
                "courses": [
                    {"id": "c", "objectives": [{"id": "o", "lessons": ["elsewhere"]}]},
                    {"id": "d", "modules": [{"id": "m", "lessons": [{"id": "elsewhere"}]}]},
                ]
            },
            "$.courses[0]",
            "course 'c': objective 'o' names no lesson 'elsewhere'",
            id="objective-lesson-of-another-course",
        ),
        # paths and milestones
        pytest.param(
            with_course({}, paths=[{"id": "p", "milestones": [{"id": "s", "course": "nope"}]}]),
            "$",
            "path 'p': milestone 's' names no course 'nope'",
            id="milestone-course",
        ),
        pytest.param(
            with_course(
                {}, paths=[{"id": "p", "milestones": [{"id": "s", "course": "c", "module": "x"}]}]
            ),
            "$",
            "path 'p': milestone 's' names no module 'x' in course 'c'",
            id="milestone-module",
        ),
        pytest.param(
            {
                "courses": [{"id": "c"}, {"id": "d", "modules": [{"id": "m"}]}],
                "paths": [{"id": "p", "milestones": [{"id": "s", "course": "c", "module": "m"}]}],
            },
            "$",
            "path 'p': milestone 's' names no module 'm' in course 'c'",
            id="milestone-module-of-another-course",
        ),
        pytest.param(
            with_course({}, paths=[{"id": "p", "milestones": []}]),
            "$.paths[0]",
            "path 'p' has no milestones",
            id="path-without-milestones",
        ),
        pytest.param(
            with_course({}, paths=[{"id": "p"}]),
            "$.paths[0]",
            "missing required field `milestones`",
            id="path-milestones-missing",
        ),
        pytest.param(
            with_course({}, paths=[{"id": "p", "milestones": [{"id": "s"}]}]),
            "$.paths[0].milestones[0]",
            "missing required field `course`",
            id="milestone-course-missing",
        ),
        # competencies
        pytest.param(
            with_course({"competencies": ["k", "nope"]}),
            "$",
            "course 'c' names no competency 'nope'",
            id="course-competency",
        ),
        pytest.param(
            with_course({"objectives": [{"id": "o", "competency": "nope"}]}),
            "$",
            "course 'c' names no competency 'nope'",
            id="objective-competency",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "competencies": ["nope"]}]),
            "$",
            "course 'c' names no competency 'nope'",
            id="lesson-competency",
        ),
        pytest.param(
            one_module(quizzes=[quiz(competencies=["nope"])]),
            "$",
            "course 'c' names no competency 'nope'",
            id="quiz-competency",
        ),
        pytest.param(
            one_module(lessons=[{"id": "l", "quizzes": [quiz(competencies=["nope"])]}]),
            "$",
            "course 'c' names no competency 'nope'",
            id="lesson-quiz-competency",
        ),
        pytest.param(
            one_module(assignments=[{"id": "a", "competencies": ["nope"]}]),
            "$",
            "course 'c' names no competency 'nope'",
            id="assignment-competency",
        ),
        pytest.param(
            {"competencies": [{"id": "k", "level": "expert"}]},
            "$.competencies[0].level",
            "Invalid enum value 'expert'",
            id="competency-level",
        ),
        pytest.param(
            {"competencies": [{"id": "k", "mastery": 0}]},
            "$.competencies[0].mastery",
            ">= 1",
            id="mastery-0",
        ),
        pytest.param(
            {"competencies": [{"id": "k", "mastery": 101}]},
            "$.competencies[0].mastery",
            "<= 100",
            id="mastery-101",
        ),
        pytest.param(
            {"competencies": [{"id": "k", "mastery": 0.8}]},
            "$.competencies[0].mastery",
            "Expected `int`, got `float`",
            id="mastery-a-fraction",
        ),
    ],
)
def test_bad_learning_content_is_refused_naming_the_path(
    data: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps(data), "json", source="courses.json")
    message = str(caught.value)
    assert message.startswith("courses.json: ")
    assert problem in message
    assert message.endswith(f" - at `{path}`")


# -- answers: required in a file, never sent to a device ----------------------------------


def unanswered(answer: Any) -> dict[str, Any]:
    """Question 3 of quiz 1 of module 2 of course 1 has ``answer`` (the rest are answered)."""
    questions = [question(f"q{i}") for i in range(3)] + [question("q3", answer=answer)]
    return {
        "courses": [
            {"id": "a", "modules": [{"id": "m", "quizzes": [quiz()]}]},
            {
                "id": "b",
                "modules": [
                    {"id": "m0"},
                    {"id": "m1", "quizzes": [quiz("q-m1")]},
                    {"id": "m2", "quizzes": [quiz("first"), quiz("second", questions)]},
                ],
            },
        ]
    }


@pytest.mark.parametrize("answer", [None, []], ids=["null", "empty-list"])
def test_a_question_without_an_answer_is_refused_naming_its_exact_path(answer: Any) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps(unanswered(answer)), "json", source="courses.json")
    assert str(caught.value) == (
        "courses.json: question 'q3' of quiz 'second' has no answer"
        " - at `$.courses[1].modules[2].quizzes[1].questions[3]`"
    )


def test_a_question_with_its_answer_left_out_is_refused_in_every_format() -> None:
    yaml = "courses:\n  - id: c\n    modules:\n      - id: m\n        quizzes:\n"
    yaml += "          - id: q\n            questions: [{id: x, choices: [{id: a}]}]\n"
    toml = '[[courses]]\nid = "c"\n[[courses.modules]]\nid = "m"\n[[courses.modules.quizzes]]\n'
    toml += 'id = "q"\nquestions = [{id = "x", choices = [{id = "a"}]}]\n'
    data = one_module(quizzes=[quiz(questions=[{"id": "x", "choices": [{"id": "a"}]}])])
    where = " - at `$.courses[0].modules[0].quizzes[0].questions[0]`"
    for fmt, text in (("yaml", yaml), ("toml", toml), ("json", json.dumps(data))):
        with pytest.raises(CatalogError) as caught:
            parse_catalog(text, fmt, source="cat")
        assert str(caught.value) == f"cat: question 'x' of quiz 'q' has no answer{where}"


def test_an_unanswered_lesson_quiz_is_refused_naming_its_exact_path() -> None:
    lessons = [{"id": "l0"}, {"id": "l1", "quizzes": [quiz("lq", [question(answer=None)])]}]
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps(one_module(lessons=lessons)), "json")
    assert str(caught.value) == (
        "catalog: question 'q1' of quiz 'lq' has no answer"
        " - at `$.courses[0].modules[0].lessons[1].quizzes[0].questions[0]`"
    )


def test_public_catalog_removes_every_answer_and_nothing_else(learning: Catalog) -> None:
    expected: Any = catalog_to_builtins(learning)
    answers = []
    for course in expected["courses"]:
        for module in course["modules"]:
            for q in module["quizzes"] + [q for x in module["lessons"] for q in x["quizzes"]]:
                for each in q["questions"]:
                    answers.append(each["answer"])
                    # Only whether it was one choice or several stays.
                    each["multiple"] = isinstance(each["answer"], list)
                    each["answer"] = None
    assert answers == [["a", "c"], "yes", "a"]  # module quiz first, then the lesson's

    public = public_catalog(learning)
    assert catalog_to_builtins(public) == expected
    assert b'"answer":null' in msgspec.json.encode(public)
    assert b'"answer":"' not in msgspec.json.encode(public)
    assert b'"answer":[' not in msgspec.json.encode(public)
    # The server's own catalog keeps its answers.
    final = learning.quiz("py", "final")
    assert final is not None and final.questions[0].answer == ["a", "c"]


def test_a_device_can_load_the_public_catalog_but_a_file_must_have_answers(
    learning: Catalog,
) -> None:
    data = catalog_to_builtins(public_catalog(learning))
    assert catalog_from_builtins(data) == public_catalog(learning)
    with pytest.raises(CatalogError, match="has no answer"):
        parse_catalog(json.dumps(data), "json")


def test_public_catalog_of_a_catalog_without_quizzes_is_the_same(catalog: Catalog) -> None:
    assert public_catalog(catalog) == catalog
    assert public_catalog(Catalog()) == Catalog()


# -- attempts, paths, lookups -------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_attempts", "max_attempts_free", "plan", "allowed"),
    [
        (None, None, "free", None),
        (None, None, "pro", None),
        (3, None, "free", 3),
        (3, None, "pro", 3),
        (3, 1, "free", 1),
        (3, 1, "pro", 3),
        (None, 2, "free", 2),
        (None, 2, "pro", None),
        (None, 2, "", None),
        (2, 5, "free", 2),  # the free-plan limit never raises the general one
    ],
)
def test_attempts_allowed_depends_on_the_plan(
    max_attempts: int | None, max_attempts_free: int | None, plan: str, allowed: int | None
) -> None:
    q = Quiz(
        "q",
        [Question("x", [Choice("a")], answer="a")],
        max_attempts=max_attempts,
        max_attempts_free=max_attempts_free,
    )
    assert q.attempts_allowed(plan) == allowed


def test_path_ordered_sorts_by_order_then_as_listed(learning: Catalog) -> None:
    path = learning.path("track")
    assert path is not None
    assert [m.id for m in path.ordered] == ["first", "second", "also-second"]
    assert [m.id for m in path.milestones] == ["second", "first", "also-second"]  # untouched
    steps = [Milestone(f"s{i}", "c", order=order) for i, order in enumerate([0, -5, 0, 3, -5])]
    assert [m.id for m in Path("p", steps).ordered] == ["s1", "s4", "s0", "s2", "s3"]


def test_quiz_finds_module_and_lesson_quizzes_by_course(learning: Catalog) -> None:
    final, check = learning.quiz("py", "final"), learning.quiz("py", "for-check")
    assert final is not None and final.title == "Final quiz"
    assert check is not None and [q.id for q in check.questions] == ["q1"]
    assert learning.quiz("py", "nope") is None
    assert learning.quiz("js", "final") is None
    assert learning.quiz("rust", "final") is None


def test_module_all_quizzes_lists_its_own_then_its_lessons(learning: Catalog) -> None:
    module = learning.module("py", "basics")
    assert module is not None
    assert [q.id for q in module.all_quizzes] == ["final", "for-check"]


def test_assignment_module_path_and_competency_lookups(learning: Catalog) -> None:
    essay = learning.assignment("py", "essay")
    assert essay is not None and essay.max_score == 10
    assert learning.assignment("js", "essay") is None
    assert learning.assignment("py", "final") is None  # a quiz, not an assignment

    basics = learning.module("py", "basics")
    assert basics is not None and basics.completion == "any"
    assert learning.module("js", "basics") is None
    assert learning.module("py", "m") is None  # module "m" is in course js
    assert learning.module("py", "for") is None  # a lesson, not a module

    assert learning.path("track") is learning.paths[0]
    assert learning.path("py") is None

    syntax = learning.competency("syntax")
    assert syntax is not None and syntax.mastery == 75
    assert learning.competency("nope") is None


def test_structs_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="answer 'z' is not one of its choices"):
        Question("x", [Choice("a")], answer="z")
    with pytest.raises(ValueError, match="has no questions"):
        Quiz("q", [])
    with pytest.raises(ValueError, match="passing_score is above max_score"):
        Assignment("a", max_score=10, passing_score=11)
    with pytest.raises(ValueError, match="has no milestones"):
        Path("p", [])
    with pytest.raises(ValueError, match="names no course"):
        Catalog(paths=[Path("p", [Milestone("s", "c")])])
    with pytest.raises(ValueError, match="names no competency"):
        Catalog([Course("c", competencies=["k"])])
    with pytest.raises(ValueError, match="objective 'o' names no quiz 'q'"):
        Course("c", objectives=[Objective("o", quizzes=["q"])])


# -- docs/catalog.md ----------------------------------------------------------------------


def test_the_docs_example_is_the_same_catalog_in_the_three_formats() -> None:
    doc = (FilePath(__file__).parents[2] / "docs" / "catalog.md").read_text()
    blocks = dict(re.findall(r"```(yaml|toml|json)\n(.*?)\n```", doc, re.DOTALL))
    assert set(blocks) == set(FORMATS)
    parsed = [parse_catalog(text, fmt, source=f"docs {fmt}") for fmt, text in blocks.items()]
    assert parsed[0] == parsed[1] == parsed[2]
    example = parsed[0]
    assert example.quiz("kitchen-safety", "safety-check") is not None
    assert example.assignment("kitchen-safety", "risk-assessment") is not None
    assert example.paths and example.competencies and example.courses[0].objectives


def test_the_demo_catalog_parses_and_keeps_the_ids_the_demo_uses() -> None:
    demo = FilePath(__file__).parents[2] / "cli" / "demo_catalog.yaml"
    catalog = parse_catalog(demo.read_bytes(), format_for(demo.name), source=demo.name)
    for lesson in ("welcome", "installing-python", "first-program", "control-flow"):
        assert catalog.lesson("python-foundations", lesson) is not None
    getting_started = catalog.module("python-foundations", "getting-started")
    # Completes with its lessons alone under `completion: all`: it has no assessment.
    assert getting_started is not None and getting_started.completion == "all"
    assert not getting_started.all_quizzes and not getting_started.assignments
    quiz = catalog.quiz("python-foundations", "syntax-check")
    assert quiz is not None and (quiz.max_attempts, quiz.cooldown_seconds) == (3, 60)
    track = catalog.path("python-data-track")
    assert track is not None
    assert [(m.course, m.module) for m in track.ordered] == [
        ("python-foundations", None),
        ("data-literacy", None),
    ]


def test_a_device_reads_a_newer_servers_catalog_without_the_fields_it_does_not_know() -> None:
    known = parse_catalog(
        """
courses:
  - id: c1
    title: One
    modules:
      - id: m1
        lessons: [{id: l1, completion: viewed}]
        quizzes:
          - id: q1
            questions: [{id: x, choices: [{id: a}, {id: b}], answer: a}]
gamification:
  badges: [{id: b1, criteria: {lessons_completed: 1}}]
""",
        "yaml",
    )
    newer = catalog_to_builtins(known)
    newer["hologram_rooms"] = [{"id": "h1"}]  # whole new sections
    newer["courses"][0]["modules"][0]["lessons"][0]["narrator"] = "Ada"  # new fields, nested
    newer["courses"][0]["modules"][0]["quizzes"][0]["questions"][0]["choices"][0]["hint"] = "?"
    newer["gamification"]["badges"][0]["criteria"]["any"] = [{"moon_landings": 1}]
    with pytest.raises(CatalogError):  # the server's own strict reading refuses it
        catalog_from_builtins(newer)
    read = catalog_from_server(newer)
    assert read.courses == known.courses
    assert read.gamification.badges[0].criteria.any_of == [BadgeCriteria()]
    # What it does know is still checked.
    newer["courses"][0]["modules"][0]["lessons"][0]["completion"] = 42
    with pytest.raises(CatalogError, match="completion"):
        catalog_from_server(newer)


def test_a_course_may_have_a_due_date() -> None:
    catalog = parse_catalog('courses: [{id: c, due: "2026-06-30"}, {id: d}]', "yaml")
    assert [c.due for c in catalog.courses] == ["2026-06-30", None]
    assert parse_catalog('[[courses]]\nid = "c"\ndue = "2026-06-30"\n', "toml").courses[0].due == (
        "2026-06-30"
    )


@pytest.mark.parametrize(
    ("due", "problem"),
    [
        ("2026-02-30", "course 'c': due '2026-02-30' is not a date - at `$.courses[0]`"),
        ("2026-6-30", "Expected `str` matching regex"),
        ("30/06/2026", "Expected `str` matching regex"),
        ("2026-06-30\n", "Expected `str` matching regex"),
    ],
)
def test_a_due_date_that_is_no_day_is_refused(due: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps({"courses": [{"id": "c", "due": due}]}), "json")
    assert problem in str(caught.value)
