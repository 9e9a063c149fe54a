"""The safeguarding rules that need no store: due times, the recency window, severity order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from data.questionnaire import load_questionnaire
from workflows.safeguarding import SEVERITY_HELP, SEVERITY_THRESHOLD, alert_rules, due_time, window_start


@pytest.mark.parametrize(
    ("raised", "due"),
    [
        # Tuesday 1 December 2026, 09:15 in Amsterdam (08:15 UTC): the same day at 17:00 (16:00 UTC)
        (datetime(2026, 12, 1, 8, 15, tzinfo=UTC), datetime(2026, 12, 1, 16, 0, tzinfo=UTC)),
        # Tuesday 18:30 Amsterdam: the school day is over, so Wednesday 17:00
        (datetime(2026, 12, 1, 17, 30, tzinfo=UTC), datetime(2026, 12, 2, 16, 0, tzinfo=UTC)),
        # Friday 20:00 Amsterdam: Monday 17:00
        (datetime(2026, 12, 4, 19, 0, tzinfo=UTC), datetime(2026, 12, 7, 16, 0, tzinfo=UTC)),
        # Sunday noon: Monday 17:00
        (datetime(2026, 12, 6, 11, 0, tzinfo=UTC), datetime(2026, 12, 7, 16, 0, tzinfo=UTC)),
        # summer time: Wednesday 1 July 2026 10:00 Amsterdam (08:00 UTC) -> 17:00 Amsterdam = 15:00 UTC
        (datetime(2026, 7, 1, 8, 0, tzinfo=UTC), datetime(2026, 7, 1, 15, 0, tzinfo=UTC)),
    ],
)
def test_an_alert_is_due_the_same_school_day(raised: datetime, due: datetime) -> None:
    assert due_time(raised) == due


def test_the_window_covers_the_latest_weeks() -> None:
    assert window_start(100, 2) == 99
    assert window_start(100, 1) == 100
    assert window_start(None, 2) is None


def test_asking_to_talk_is_the_most_severe_rule() -> None:
    rules = alert_rules(load_questionnaire())
    assert rules[0].item == "wil_praten" and rules[0].severity == SEVERITY_HELP
    assert all(r.severity == SEVERITY_THRESHOLD for r in rules[1:])
