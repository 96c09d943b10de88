"""Predicted completion (server/reports/predict.py), by hand-worked numbers."""

from __future__ import annotations

from server.reports.predict import DAY_MS, Pace, predict

NOW = 1_767_614_400_000  # 2026-01-05T12:00:00Z


def test_the_pace_of_the_window_gives_the_date_and_its_halves_the_range():
    # 10 lessons, 4 done, all in the window: 1 in its older half, 3 in the recent half.
    pace = Pace(total=10, completed=4, first_half=1, second_half=3, last_activity_at=NOW - DAY_MS)
    got = predict(pace, NOW)
    # pace: 4 lessons / 28 days = 0.142857... -> 0.1429; 6 remaining.
    # estimate: 6 / (4/28) = 42 days. fast half: 3 / 14 days -> 6 * 14 / 3 = 28 days;
    # slow half: 1 / 14 days -> 6 * 14 / 1 = 84 days.
    assert got.pace == 0.1429
    assert got.projected_at == NOW + 42 * DAY_MS
    assert got.earliest_at == NOW + 28 * DAY_MS
    assert got.latest_at == NOW + 84 * DAY_MS
    assert got.outlook == "on_track"  # no due date, an estimate


def test_uneven_division_rounds_up_to_the_millisecond():
    # 1 remaining at 3 per 28 days: 28/3 days = 9 days 8 hours = 806,400,000 ms exactly;
    # at 3 per 7 days (a made-up half): 7/3 days = 201,600,000 ms.
    pace = Pace(4, 3, 1, 2, NOW)
    got = predict(pace, NOW)
    assert got.projected_at == NOW + 806_400_000
    assert got.earliest_at == NOW + 7 * DAY_MS  # 1 / (2/14): 7 days
    assert got.latest_at == NOW + 14 * DAY_MS  # 1 / (1/14): 14 days
    # 2 remaining at 3 per 28 days: 56/3 days = 1,612,800,000 ms exactly.
    assert predict(Pace(5, 3, 1, 2, NOW), NOW).projected_at == NOW + 1_612_800_000
    # 1 remaining at 7 per 28 days: 4 days; 1 per 14 days in the slow half; 6 per 14 fast:
    # 14/6 days = 201,600,000 ms.
    assert predict(Pace(8, 7, 1, 6, NOW), NOW).earliest_at == NOW + 201_600_000


def test_against_a_due_date():
    pace = Pace(4, 3, 1, 2, NOW - 2 * DAY_MS)  # estimate NOW + 9 days 8 h: 2026-01-14 20:00
    assert predict(pace, NOW, "2026-01-13").outlook == "at_risk"
    assert predict(pace, NOW, "2026-01-14").outlook == "on_track"  # the day counts whole
    assert predict(pace, NOW, "2026-01-14").due == "2026-01-14"
    # The due day counts whole: an estimate at 23:59:59.999 of it is on track.
    end_of_14th = 1_768_435_199_999
    on_the_day = Pace(4, 3, 1, 2, NOW)
    assert predict(on_the_day, end_of_14th - 806_400_000, "2026-01-14").outlook == "on_track"
    assert predict(on_the_day, end_of_14th - 806_400_000 + 1, "2026-01-14").outlook == "at_risk"


def test_stalled_after_fourteen_idle_days_and_at_risk_without_an_estimate():
    # Active 13.99 days ago, nothing completed in the window: no estimate, so at risk.
    active = Pace(4, 1, 0, 0, NOW - 14 * DAY_MS + 1)
    got = predict(active, NOW)
    assert (got.outlook, got.projected_at, got.pace) == ("at_risk", None, 0.0)
    # 14 days to the millisecond: stalled, whatever the due date.
    assert predict(Pace(4, 1, 0, 0, NOW - 14 * DAY_MS), NOW, "2030-01-01").outlook == "stalled"
    assert predict(Pace(4, 0, 0, 0, None), NOW).outlook == "stalled"  # never active
    # A slow half with nothing: no latest date (never, at that pace).
    got = predict(Pace(4, 2, 0, 2, NOW), NOW)
    assert got.latest_at is None and got.earliest_at == NOW + 14 * DAY_MS


def test_a_completed_course_is_completed():
    got = predict(Pace(4, 4, 2, 2, NOW - 30 * DAY_MS), NOW, "2020-01-01")
    assert (got.outlook, got.projected_at) == ("completed", None)
    assert predict(Pace(4, 3, 0, 0, None, course_completed=True), NOW).outlook == "completed"
