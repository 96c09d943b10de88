"""The settings object: precedence (option > environment > file > default), one-line errors
naming the source, masking, and what the rest of the server is built from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.settings import (
    FIELDS,
    MASK,
    SPECS,
    Settings,
    SettingsError,
    display,
    env_var,
    load_settings,
    mask_url,
    shown,
)
from server.storage.accounts import LoginThrottle
from sync.catalog import QuizDefaults, parse_catalog
from sync.merge.decide import Policy

ROOT = Path(__file__).resolve().parents[2]


def error(**kwargs: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in caught.value.detail
    return caught.value.detail


def test_without_anything_every_setting_is_its_default() -> None:
    loaded = load_settings(env={})
    assert loaded.settings == Settings()
    assert set(loaded.sources.values()) == {"default"}
    # The seed's values (seed 001, "Environment Variables").
    s = loaded.settings
    assert (s.free_enrollment_limit, s.premium_enrollment_limit) == (2, None)
    assert (s.free_assessment_attempt_limit, s.premium_assessment_attempt_limit) == (3, None)
    assert (s.assessment_passing_score, s.assessment_cooldown_hours) == (70, 24)


def test_an_option_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "waymark.toml"
    config.write_text('port = 7000\nhost = "0.0.0.0"\nlog_level = "debug"\nfanout = ""\n')
    loaded = load_settings(
        options={"port": 9000, "host": None},
        env={"WAYMARK_PORT": "8000", "WAYMARK_HOST": "127.0.0.2", "WAYMARK_CONFIG": str(config)},
    )
    s, sources = loaded
    assert (s.port, s.host, s.log_level) == (9000, "127.0.0.2", "debug")
    assert sources["port"] == "option --port"
    assert sources["host"] == "env WAYMARK_HOST"
    assert sources["log_level"] == f"file {config}"
    assert sources["database_url"] == "default"


def test_the_config_option_beats_waymark_config(tmp_path: Path) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text("port = 1\n")
    two.write_text("port = 2\n")
    loaded = load_settings(env={"WAYMARK_CONFIG": str(one)}, config_file=two)
    assert loaded.settings.port == 2 and loaded.sources["port"] == f"file {two}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WAYMARK_PORT": "abc"}, "WAYMARK_PORT: expected an integer from 0 to 65535, got 'abc'"),
        ({"WAYMARK_PORT": "70000"}, "WAYMARK_PORT: expected an integer from 0 to 65535"),
        ({"WAYMARK_LOG_FORMAT": "xml"}, "WAYMARK_LOG_FORMAT: expected one of json, text"),
        (
            {"WAYMARK_FREE_ASSESSMENT_ATTEMPT_LIMIT": "0"},
            "WAYMARK_FREE_ASSESSMENT_ATTEMPT_LIMIT: expected an integer from 1 to 1000000 "
            "or 'unlimited', got '0'",
        ),
        ({"WAYMARK_COMPLETION_CELEBRATIONS_ENABLED": "maybe"}, "expected true or false"),
        ({"WAYMARK_ASSESSMENT_COOLDOWN_HOURS": "-1"}, "expected a number from 0 to 8760"),
        ({"WAYMARK_PUBLIC_URL": "learn.example"}, "WAYMARK_PUBLIC_URL: 'learn.example' is not"),
        ({"WAYMARK_CORS_ORIGINS": "app.example"}, "WAYMARK_CORS_ORIGINS: 'app.example' is not"),
        (
            {"WAYMARK_FANOUT": "amqp://x"},
            "WAYMARK_FANOUT: 'amqp://x' is not a redis://, rediss:// or unix:// URL",
        ),
        ({"WAYMARK_KEYFILE": "/k.pem"}, "WAYMARK_KEYFILE: a keyfile needs a certfile too"),
        ({"WAYMARK_ENROLLMENT_COOLDOWN_HOURS": "2"}, "enrollments have no cool-down yet"),
        ({"WAYMARK_CONFIG": "/nonexistent.toml"}, "/nonexistent.toml: No such file"),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    env: dict[str, str], expected: str
) -> None:
    got = error(env=env)
    assert got.startswith(expected) if expected.startswith("WAYMARK") else expected in got


def test_a_bad_file_value_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text('port = "8000"\n')  # TOML has types: a string is not a port
    assert error(env={}, config_file=config) == (
        f"{config}: port: expected an integer from 0 to 65535, got '8000'"
    )
    config.write_text("prot = 8000\n")
    assert error(env={}, config_file=config) == (
        f"{config}: unknown setting 'prot' (see 'waymark config show')"
    )
    config.write_text("port = \n")
    assert error(env={}, config_file=config).startswith(f"{config}: not valid TOML")


def test_unlimited_is_accepted_for_limits_in_the_environment_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text('free_enrollment_limit = "unlimited"\n')
    env = {"WAYMARK_FREE_ASSESSMENT_ATTEMPT_LIMIT": "unlimited"}
    s = load_settings(env=env, config_file=config).settings
    assert s.free_enrollment_limit is None and s.free_assessment_attempt_limit is None
    assert error(env={"WAYMARK_PORT": "unlimited"}).startswith("WAYMARK_PORT: expected")


def test_lists_come_comma_separated_from_the_environment(tmp_path: Path) -> None:
    env = {"WAYMARK_CORS_ORIGINS": "https://a.example, http://b.example:3000,"}
    s = load_settings(env=env).settings
    assert s.cors_origins == ("https://a.example", "http://b.example:3000")
    config = tmp_path / "w.toml"
    config.write_text('cors_origins = ["*"]\n')
    assert load_settings(env={}, config_file=config).settings.cors_origins == ("*",)


def test_an_empty_variable_clears_an_optional_path() -> None:
    s = load_settings(env={"WAYMARK_CERTFILE": "", "WAYMARK_PUBLIC_URL": ""}).settings
    assert s.certfile is None and s.public_url is None and not s.tls


def test_the_rules_are_built_from_the_settings() -> None:
    env = {
        "WAYMARK_FREE_ENROLLMENT_LIMIT": "1",
        "WAYMARK_PREMIUM_ENROLLMENT_LIMIT": "5",
        "WAYMARK_ASSESSMENT_PASSING_SCORE": "80",
        "WAYMARK_FREE_ASSESSMENT_ATTEMPT_LIMIT": "2",
        "WAYMARK_PREMIUM_ASSESSMENT_ATTEMPT_LIMIT": "4",
        "WAYMARK_ASSESSMENT_COOLDOWN_HOURS": "1.5",
        "WAYMARK_LOGIN_FAILURES_PER_NAME": "3",
        "WAYMARK_LOGIN_WINDOW_MINUTES": "10",
    }
    s = load_settings(env=env).settings
    assert s.policy() == Policy(free_enrollment_limit=1, premium_enrollment_limit=5)
    assert s.quiz_defaults() == QuizDefaults(
        passing_score=0.8, max_attempts=4, max_attempts_free=2, cooldown_seconds=5400
    )
    assert s.login_throttle() == LoginThrottle(user_free=3, address_free=20, window_ms=600_000)
    # The defaults are the code's: a store with no settings enforces the same.
    assert Settings().policy() == Policy()
    assert Settings().login_throttle() == LoginThrottle()


CATALOG = """
courses:
  - id: c1
    modules:
      - id: m1
        lessons:
          - id: l1
            quizzes:
              - id: inner
                questions: [{id: q1, choices: [{id: a}, {id: b}], answer: [a]}]
        quizzes:
          - id: bare
            questions: [{id: q1, choices: [{id: a}, {id: b}], answer: [a]}]
          - id: set
            passing_score: 0.5
            max_attempts: 9
            max_attempts_free: null
            cooldown_seconds: 0
            questions: [{id: q1, choices: [{id: a}, {id: b}], answer: [a]}]
"""


def test_a_quiz_takes_the_settings_only_for_the_fields_its_catalog_leaves_out() -> None:
    defaults = QuizDefaults(
        passing_score=0.8, max_attempts=4, max_attempts_free=2, cooldown_seconds=60
    )
    catalog = parse_catalog(CATALOG, "yaml", quiz_defaults=defaults)
    bare, inner, given = (catalog.quiz("c1", q) for q in ("bare", "inner", "set"))
    assert bare is not None and inner is not None and given is not None
    for quiz in (bare, inner):
        assert (quiz.passing_score, quiz.max_attempts, quiz.max_attempts_free) == (0.8, 4, 2)
        assert quiz.cooldown_seconds == 60
    assert (given.passing_score, given.max_attempts, given.max_attempts_free) == (0.5, 9, None)
    assert given.cooldown_seconds == 0
    # Free learners get the lower of the two limits, premium ones the general limit.
    assert (bare.attempts_allowed("free"), bare.attempts_allowed("premium")) == (2, 4)
    # Without settings, a quiz keeps the code's defaults; the versions differ, so a device
    # holding the old catalog is sent the new one.
    plain = parse_catalog(CATALOG, "yaml")
    assert parse_catalog(CATALOG, "yaml", quiz_defaults=QuizDefaults()) == plain
    assert plain.version != catalog.version


def test_the_same_defaults_apply_in_every_catalog_format() -> None:
    json_text = (
        '{"courses": [{"id": "c1", "modules": [{"id": "m1", "quizzes": [{"id": "q",'
        ' "questions": [{"id": "x", "choices": [{"id": "a"}], "answer": ["a"]}]}]}]}]}'
    )
    toml_text = (
        '[[courses]]\nid = "c1"\n[[courses.modules]]\nid = "m1"\n'
        '[[courses.modules.quizzes]]\nid = "q"\n'
        '[[courses.modules.quizzes.questions]]\nid = "x"\nanswer = ["a"]\n'
        '[[courses.modules.quizzes.questions.choices]]\nid = "a"\n'
    )
    defaults = QuizDefaults(max_attempts_free=3)
    for text, fmt in ((json_text, "json"), (toml_text, "toml")):
        quiz = parse_catalog(text, fmt, quiz_defaults=defaults).quiz("c1", "q")
        assert quiz is not None and quiz.max_attempts_free == 3, fmt


def test_a_bad_catalog_is_refused_the_same_with_or_without_defaults() -> None:
    bad = CATALOG.replace("passing_score: 0.5", "passing_score: 5")
    messages = set()
    for defaults in (None, QuizDefaults()):
        with pytest.raises(Exception) as caught:
            parse_catalog(bad, "yaml", source="c.yaml", quiz_defaults=defaults)
        messages.add(str(caught.value))
    assert len(messages) == 1
    assert "$.courses[0].modules[0].quizzes[1].passing_score" in messages.pop()


def test_secrets_are_masked_when_shown() -> None:
    env = {
        "WAYMARK_METRICS_TOKEN": "s3cret",
        "WAYMARK_DATABASE_URL": "postgresql://waymark:hunter2@db.internal:5432/waymark",
        "WAYMARK_FANOUT": "redis://:pw@cache:6379/0",
    }
    rows = {str(r["name"]): r for r in shown(load_settings(env=env))}
    assert rows["metrics_token"]["value"] == MASK
    assert rows["database_url"]["value"] == f"postgresql://waymark:{MASK}@db.internal:5432/waymark"
    assert rows["fanout"]["value"] == f"redis://:{MASK}@cache:6379/0"
    text = repr(rows)
    assert "s3cret" not in text and "hunter2" not in text and ":pw@" not in text
    assert rows["metrics_token"]["source"] == "env WAYMARK_METRICS_TOKEN"
    assert mask_url("sqlite:///waymark.db") == "sqlite:///waymark.db"
    assert display(rows["premium_enrollment_limit"]) == "unlimited"
    assert display(rows["certfile"]) == "(none)"


def test_every_setting_is_described_and_in_the_operations_table() -> None:
    assert set(SPECS) == set(FIELDS)
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs[docs.index("## Configuration") :]
    for name in FIELDS:
        row = re.search(rf"^\| `{env_var(name)}` \|.*$", section, re.MULTILINE)
        assert row is not None, f"{env_var(name)} is missing from docs/operations.md"
        option = SPECS[name].option
        if option is not None:
            assert f"`{option}`" in row.group(0), name
        if SPECS[name].used_by:
            assert "(" in row.group(0) and "used" in row.group(0), name
