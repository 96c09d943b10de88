"""sync.catalog: parsing JSON/TOML/YAML catalogs, refusing malformed ones, lookups."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync.catalog import (
    FORMATS,
    Catalog,
    CompletionRule,
    Course,
    Lesson,
    Module,
    catalog_from_builtins,
    catalog_to_builtins,
    format_for,
    parse_catalog,
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
