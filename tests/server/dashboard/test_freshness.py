"""Freshness in words and states, at the thresholds' edges."""

from __future__ import annotations

from server.dashboard.freshness import DAY_MS, HOUR_MS, MINUTE_MS, ago, iso, local_time, state_of

NOW = 1_763_790_000_000


def test_states_change_at_an_hour_and_a_day() -> None:
    assert state_of(None, NOW) == "never"
    assert state_of(NOW - HOUR_MS + 1, NOW) == "fresh"
    assert state_of(NOW - HOUR_MS, NOW) == "recent"
    assert state_of(NOW - DAY_MS + 1, NOW) == "recent"
    assert state_of(NOW - DAY_MS, NOW) == "stale"


def test_ago_in_words() -> None:
    assert ago(None, NOW) == "never"
    assert ago(NOW + 5_000, NOW) == "just now"  # a clock behind counts as now
    assert ago(NOW - MINUTE_MS + 1, NOW) == "just now"
    assert ago(NOW - 5 * MINUTE_MS, NOW) == "5 min ago"
    assert ago(NOW - 3 * HOUR_MS, NOW) == "3 h ago"
    assert ago(NOW - DAY_MS, NOW) == "1 day ago"
    assert ago(NOW - 9 * DAY_MS, NOW) == "9 days ago"


def test_times_in_utc_and_the_viewer_s_zone() -> None:
    assert iso(NOW) == "2025-11-22T05:40:00Z"
    assert local_time(NOW, "Europe/Paris") == "2025-11-22 06:40 CET"
    assert local_time(NOW, "No/Such_Zone") == "2025-11-22 05:40 UTC"
