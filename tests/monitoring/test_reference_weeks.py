"""The drift reference kept with a model covers every week of the test year, so a late week is compared
with its own time of year, and its labels are only those whose horizon had closed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from models.risk_model import RiskModel
from monitoring.config import load_config
from monitoring.drift import out_of_season, reference_window
from training.pipeline import reference_sample

TEST_YEAR_START = 2 * WEEKS_PER_YEAR


def scored_test_year(students: int = 400) -> pd.DataFrame:
    """Scored rows of a test year: every student in every as-of week (week in year 2-40)."""
    rng = np.random.default_rng(0)
    as_of = np.repeat(np.arange(TEST_YEAR_START + 1, TEST_YEAR_START + WEEKS_PER_YEAR), students)
    return pd.DataFrame(
        {
            "student_id": np.tile([f"s{i}" for i in range(students)], WEEKS_PER_YEAR - 1),
            "as_of": as_of,
            "week_in_year": as_of % WEEKS_PER_YEAR + 1,
            "credits": rng.normal(size=len(as_of)),
            "vsv": rng.integers(0, 2, len(as_of)),
            "model": rng.uniform(size=len(as_of)),
            "label_mature": as_of + 12 <= TEST_YEAR_START + WEEKS_PER_YEAR - 1,
        }
    )


def test_the_reference_holds_every_week_alike_with_labels_only_where_their_horizon_closed() -> None:
    rows = scored_test_year()
    model = cast(RiskModel, SimpleNamespace(features=("credits",)))
    reference = reference_sample(rows, model, rows=7800)
    counts = reference.groupby("week_in_year").size()
    assert list(counts.index) == list(range(2, WEEKS_PER_YEAR + 1))
    assert counts.min() == counts.max() == 200  # as many from each week
    late = reference[reference["as_of"] + 12 > TEST_YEAR_START + WEEKS_PER_YEAR - 1]
    assert len(late) and late["vsv"].isna().all()  # an open horizon is no label
    assert reference.loc[~reference.index.isin(late.index), "vsv"].notna().all()
    assert "probability" in reference.columns and "model" not in reference.columns


def test_the_last_week_of_the_year_meets_its_own_weeks_not_the_weeks_before_its_results() -> None:
    model = cast(RiskModel, SimpleNamespace(features=("credits",)))
    reference = reference_sample(scored_test_year(), model, rows=10_000)
    config = load_config().drift
    last_week = TEST_YEAR_START + WEEKS_PER_YEAR - 1  # week in year 40: the year's last results are in
    window = reference_window(reference, last_week, config)
    assert set(window["week_in_year"]) == {WEEKS_PER_YEAR}
    assert not out_of_season(window, last_week, config.max_season_gap)
