"""How progress is worded and rounded on screen (:mod:`tui.present`)."""

from __future__ import annotations

import pytest

from tui.present import completion_words, percent, span


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, 0), (6.2, 6), (89.5, 89), (89.96, 89), (90, 90), (100, 100), (0.29 * 100, 29), (-1, 0)],
)
def test_percents_round_down_everywhere(value: float, shown: int) -> None:
    assert percent(value) == shown


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("manual", "completes when you mark it complete"),
        ("viewed", "completes when opened"),
        ("watched:90", "completes at 90% watched"),
        ("watched:100", "completes at 100% watched"),
        ("time:45", "completes after 45 s in the lesson"),
        ("time:300", "completes after 5 min in the lesson"),
        ("time:5400", "completes after 1 h 30 min in the lesson"),
        ("time:150", "completes after 2 min 30 s in the lesson"),
        ("scroll:50", "completes when scroll:50"),  # a newer catalog's rule, as it is
    ],
)
def test_every_completion_rule_reads_in_words(rule: str, words: str) -> None:
    assert completion_words(rule) == words


def test_span_of_nothing_is_zero_seconds() -> None:
    assert span(0) == "0 s"
