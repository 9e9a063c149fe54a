"""Security fixtures: a fresh store per test (SQLite and PostgreSQL) holding the small school with two
scored weeks, for the tests that delete, export, back up and restore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from features import LOOKBACK_WEEKS
from tests.api.conftest import VERSION, WEEK, load_school
from tests.conftest import BACKENDS, School, new_store
from training.pipeline import TrainingResult
from workflows.weekly_job import score_week


@pytest.fixture(params=BACKENDS)
def school_store(
    request: pytest.FixtureRequest, tmp_path: Path, school: School, trained: TrainingResult
) -> Iterator[Engine]:
    """A fresh store with the school (weekly data from WEEK-1-LOOKBACK on) and weeks WEEK-1, WEEK scored."""
    for engine in new_store(request.param, tmp_path):
        load_school(engine, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
        for week in (WEEK - 1, WEEK):
            score_week(engine, trained.model, VERSION, week)
        yield engine
