"""The hyperparameter search: time folds inside the training years, seeded, never worse than the
configuration on its own folds, and monotone constraints that hold in the fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.calendar import WEEKS_PER_YEAR
from features import model_features
from tests.conftest import TEST_TRAINING, School
from training.config import load_config
from training.fit import fit_risk_model, model_params
from training.pipeline import Prepared, prepare
from training.tune import tune, tuning_folds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(school: School) -> Prepared:
    return prepare(school.tables, load_config(overrides=TEST_TRAINING))


def training_rows(prepared: Prepared) -> pd.DataFrame:
    return pd.concat([prepared.train, prepared.calibration], ignore_index=True)


def test_folds_never_reach_the_test_year_and_fit_labels_end_before_validation(prepared: Prepared) -> None:
    rows = training_rows(prepared)
    folds = tuning_folds(rows, horizon=12)
    test_start = min(prepared.folds.test) // WEEKS_PER_YEAR * WEEKS_PER_YEAR
    for fold in folds:
        valid_start = int(fold.valid["as_of"].min()) // WEEKS_PER_YEAR * WEEKS_PER_YEAR
        assert int(fold.fit["as_of"].max()) + 12 < valid_start
        assert int(fold.valid["as_of"].max()) < test_start
    with pytest.raises(ValueError, match="two school years"):
        tuning_folds(prepared.train, horizon=12)


def test_the_search_is_seeded_and_never_worse_than_the_configuration(prepared: Prepared) -> None:
    config = load_config(overrides=TEST_TRAINING)
    features = model_features()
    rows = training_rows(prepared)
    first = tune(rows, features, config, trials=4)
    again = tune(rows, features, config, trials=4)
    assert first.params == again.params and first.value == again.value
    assert first.value >= first.baseline_value
    assert first.trials == 4 and len(first.history) == 4
    assert first.params["n_estimators"] >= 1
    assert not any(k.startswith("monotone") for k in first.params)


def test_monotone_constraints_hold_in_the_fitted_model(prepared: Prepared) -> None:
    config = load_config(overrides=TEST_TRAINING)
    features = model_features()
    params = model_params(config, features)
    directions = dict(zip(features, params["monotone_constraints"], strict=True))
    assert directions["unauth_hours_4w"] == 1 and directions["att_rate_4w"] == -1
    assert directions["q_index_latest"] == 0
    model = fit_risk_model(prepared.train, prepared.calibration, features, {}, config)
    rows = prepared.calibration.sample(200, random_state=0)
    for feature, sign in (("unauth_hours_4w", 1), ("att_rate_4w", -1), ("credits_behind_year", 1)):
        low, high = rows.copy(), rows.copy()
        low[feature] = rows[feature].quantile(0.1)
        high[feature] = rows[feature].quantile(0.9)
        diff = model.raw_score(high) - model.raw_score(low)
        assert (sign * diff >= -1e-9).all(), feature
    unconstrained = load_config(overrides={**TEST_TRAINING, "monotone_constraints": False})
    assert "monotone_constraints" not in model_params(unconstrained, features)
    assert np.isfinite(model.raw_score(rows)).all()
