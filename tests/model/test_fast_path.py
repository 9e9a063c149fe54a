"""The fast scoring path (issue 20): a NumPy matrix through the LightGBM booster gives what the DataFrame,
scikit-learn and ``shap.TreeExplainer`` path gave, so stored scores replay identically.

On the small trained model and every enrolled student of the test school in four weeks: the SHAP values and
base value against the SHAP library's, the probabilities against ``LGBMClassifier.predict`` +
``Calibrator.transform``, old records replayed by the new path, new records replayed after a JSON round
trip (as the store keeps them), and the errors for a missing column or value.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shap
from sklearn.isotonic import IsotonicRegression

from data.calendar import WEEKS_PER_YEAR
from data.scores import ComputedScore, StoredScore
from data.vocabulary import BAND_INSUFFICIENT
from features import snapshot
from models.fast_path import (
    BoosterPredictor,
    ModelRows,
    booster_of,
    calibrated,
    contributions,
    raw_scores,
)
from models.reasons import reasons_for_rows
from models.risk_model import Calibrator, RiskModel, wilson_interval
from tests.conftest import School
from training.pipeline import TrainingResult
from workflows.scoring import replay, score_one, score_rows, stored_reasons

FloatArray = npt.NDArray[np.float64]
WEEKS = (2 * WEEKS_PER_YEAR + 4, 2 * WEEKS_PER_YEAR + 15, 2 * WEEKS_PER_YEAR + 30, 3 * WEEKS_PER_YEAR - 1)
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def frame(school: School) -> pd.DataFrame:
    """Every enrolled student of the test school in four weeks of the last year."""
    return pd.concat([snapshot(school.tables, week) for week in WEEKS], ignore_index=True)


@pytest.fixture(scope="module")
def model(trained: TrainingResult) -> RiskModel:
    """A copy of the session's model, so that changing its threads leaves the others alone."""
    return copy.deepcopy(trained.model)


@pytest.fixture(scope="module")
def shap_library(model: RiskModel, frame: pd.DataFrame) -> tuple[FloatArray, float]:
    """SHAP values and base value as the previous implementation computed them."""
    explainer = shap.TreeExplainer(model.booster)
    values = np.asarray(explainer.shap_values(model.model_input(frame)), dtype=np.float64)
    return values, float(np.asarray(explainer.expected_value).ravel()[-1])


def _old_record(model: RiskModel, frame: pd.DataFrame, shap_values: FloatArray, base: float) -> ComputedScore:
    """A one-row frame's record as the previous implementation stored it (LightGBM through scikit-learn,
    the calibrator through scikit-learn, SHAP values from the SHAP library)."""
    x = model.model_input(frame)
    raw = np.asarray(model.booster.predict(x, raw_score=True), dtype=np.float64)
    p = model.calibrator.transform(raw)
    lower, upper = wilson_interval(p, model.calibrator.support(raw))
    week = model.band_weeks(frame)
    band = model.thresholds.band(p, week)
    uncertain = model.thresholds.band(lower, week) != model.thresholds.band(upper, week)
    if bool(frame["insufficient_data"].iloc[0]):
        band = np.array([BAND_INSUFFICIENT], dtype=object)
    reasons = reasons_for_rows(
        model.features,
        x.to_numpy().tolist(),
        shap_values.tolist(),
        model.feature_register(),
        model.reason_questionnaire(),
    )
    return ComputedScore(
        probability=float(p[0]),
        lower=float(lower[0]),
        upper=float(upper[0]),
        band=str(band[0]),
        band_uncertain=bool(uncertain[0]),
        raw_score=float(raw[0]),
        base_value=base,
        feature_values=dict(zip(model.features, x.to_numpy()[0].tolist(), strict=True)),
        shap_values=dict(zip(model.features, shap_values[0].tolist(), strict=True)),
        reasons=stored_reasons(reasons[0]),
        flag_leerplicht_16u=False,
        flag_4_weeks_absent=False,
        insufficient_data=bool(frame["insufficient_data"].iloc[0]),
    )


def _stored(record: ComputedScore) -> StoredScore:
    """``record`` as the store gives it back: the feature values and SHAP values through JSON."""
    return StoredScore(
        student_id="s",
        week=WEEKS[0],
        team="t",
        model_version="1",
        scored_at=datetime.now(UTC),
        probability=record.probability,
        lower=record.lower,
        upper=record.upper,
        band=record.band,
        band_uncertain=record.band_uncertain,
        raw_score=record.raw_score,
        base_value=record.base_value,
        feature_values=json.loads(json.dumps(record.feature_values)),
        shap_values=json.loads(json.dumps(record.shap_values)),
        reasons=record.reasons,
        flag_leerplicht_16u=record.flag_leerplicht_16u,
        flag_4_weeks_absent=record.flag_4_weeks_absent,
        insufficient_data=record.insufficient_data,
        previous_probability=None,
        change=None,
    )


def test_pred_contrib_gives_the_shap_library_values_and_base_value(
    model: RiskModel, frame: pd.DataFrame, shap_library: tuple[FloatArray, float]
) -> None:
    values, base = model.explain(frame)
    old_values, old_base = shap_library
    assert len(frame) > 1000 and values.shape == old_values.shape == (len(frame), len(model.features))
    assert np.abs(values - old_values).max() <= TOLERANCE
    assert abs(base - old_base) <= TOLERANCE
    # one row at a time (LightGBM's single-row API) gives the same values as the batch
    for i in range(0, len(frame), 97):
        one, one_base = model.explain(frame.iloc[[i]])
        assert np.array_equal(one[0], values[i]) and one_base == base
    # the explainer the service warms up answers like the SHAP library's
    explainer = model.explainer()
    assert explainer.expected_value == base
    assert np.array_equal(explainer.shap_values(model.model_input(frame.head(5))), values[:5])


def test_probabilities_and_bands_are_those_of_the_old_path(model: RiskModel, frame: pd.DataFrame) -> None:
    scored = model.score(frame)
    old_raw = np.asarray(model.booster.predict(model.model_input(frame), raw_score=True), dtype=np.float64)
    old_p = model.calibrator.transform(old_raw)
    assert np.abs(scored.raw_score - old_raw).max() <= TOLERANCE
    assert np.abs(scored.probability - old_p).max() <= TOLERANCE
    assert np.array_equal(model.predict_proba(frame), scored.probability)
    lower, upper = wilson_interval(old_p, model.calibrator.support(old_raw))
    assert np.abs(scored.lower - lower).max() <= TOLERANCE and np.abs(scored.upper - upper).max() <= TOLERANCE
    old_band = model.bands(frame, old_p)
    old_band = np.where(frame["insufficient_data"].to_numpy(dtype=bool), BAND_INSUFFICIENT, old_band)
    assert scored.band.tolist() == old_band.tolist()
    assert len(set(scored.band.tolist())) >= 3


def test_old_stored_scores_replay_identically_on_the_new_path(
    model: RiskModel, frame: pd.DataFrame, shap_library: tuple[FloatArray, float]
) -> None:
    old_values, old_base = shap_library
    rows = range(0, len(frame), 7)
    for i in rows:
        one = frame.iloc[[i]].reset_index(drop=True)
        record = _old_record(model, one, old_values[[i]], old_base)
        assert replay(model, _stored(record)) == [], f"row {i}"
    assert len(rows) > 200


def test_new_stored_scores_replay_identically(model: RiskModel, frame: pd.DataFrame) -> None:
    records = score_rows(frame, model.score(frame), model)
    assert len(records) == len(frame)
    assert not [i for i, record in enumerate(records) if replay(model, _stored(record))]
    # the on-demand path gives the weekly job's records
    for i in range(0, len(frame), 53):
        record = records[i]
        assert score_one(model, record.feature_values, record.insufficient_data) == _without_flags(record)


def _without_flags(record: ComputedScore) -> ComputedScore:
    """The record of feature values alone: the on-demand path has no attendance flags."""
    return dataclasses.replace(record, flag_leerplicht_16u=False, flag_4_weeks_absent=False)


def _values(frame: pd.DataFrame, i: int, model: RiskModel) -> dict[str, float]:
    """Row ``i`` of ``frame`` as ``{feature: value}``, the form posted and stored."""
    return {name: float(frame[name].iloc[i]) for name in model.features}


def test_model_rows_from_values_score_like_the_frame(model: RiskModel, frame: pd.DataFrame) -> None:
    part = frame.iloc[:40].reset_index(drop=True)
    by_frame = model.score(part)
    for i in range(len(part)):
        values = _values(part, i, model)
        rows = ModelRows.from_values(values, model.features, bool(part["insufficient_data"].iloc[i]))
        one = model.score(rows)
        assert one.probability[0] == by_frame.probability[i] and one.band[0] == by_frame.band[i]
        assert np.array_equal(one.shap_values[0], by_frame.shap_values[i])
        assert one.reasons[0] == by_frame.reasons[i]


def test_missing_columns_and_values_are_refused_with_the_same_errors(
    model: RiskModel, frame: pd.DataFrame
) -> None:
    selector = model.pipeline.named_steps["select"]
    name = model.features[3]
    without = frame.head(3).drop(columns=[name])
    with pytest.raises(ValueError, match="model input lacks columns") as old:
        selector.transform(without)
    for call in (model.score, model.raw_score, model.explain):
        with pytest.raises(ValueError) as new:
            call(without)
        assert str(new.value) == str(old.value) == f"model input lacks columns {[name]}"
    holes = frame.head(3).copy()
    holes.loc[1, name] = np.nan
    with pytest.raises(ValueError, match="missing values") as old:
        selector.transform(holes)
    with pytest.raises(ValueError) as new:
        model.score(holes)
    assert str(new.value) == str(old.value) == f"model input has missing values in {[name]}"
    values = _values(holes, 1, model)
    with pytest.raises(ValueError) as one:
        score_one(model, values, False)
    assert str(one.value) == str(old.value)
    with pytest.raises(ValueError, match="model input lacks columns"):
        score_one(model, {k: v for k, v in values.items() if k != name}, False)


def test_single_row_api_gives_the_batch_floats(model: RiskModel, frame: pd.DataFrame) -> None:
    booster = booster_of(model.booster)
    matrix = ModelRows.from_frame(frame, model.features, "weeks_since_start").matrix
    predictor = BoosterPredictor(booster, matrix.shape[1], 1)
    raw, (values, base) = raw_scores(booster, matrix, 2), contributions(booster, matrix, 2)
    for i in range(0, len(matrix), 11):
        assert predictor.raw(matrix[[i]])[0] == raw[i]
        one, one_base = predictor.contributions(matrix[[i]])
        assert np.array_equal(one[0], values[i]) and one_base == base
    assert predictor.expected_value == base


def _calibrators(raw: FloatArray) -> dict[str, Calibrator]:
    """Each kind of calibrator a stored model may carry, fitted on ``raw`` with labels drawn from it."""
    y = (np.random.default_rng(0).random(len(raw)) < 1 / (1 + np.exp(-raw))).astype(int)
    steps = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return {
        "sigmoid": Calibrator.fit(raw, y, "sigmoid"),
        "interpolated isotonic": Calibrator.fit(raw, y, "isotonic"),
        # isotonic models trained before the interpolated fit keep scikit-learn's steps
        "isotonic steps": dataclasses.replace(Calibrator.fit(raw, y, "isotonic"), model=steps),
    }


@pytest.mark.parametrize("kind", ["sigmoid", "interpolated isotonic", "isotonic steps"])
def test_calibration_gives_the_calibrators_floats(model: RiskModel, frame: pd.DataFrame, kind: str) -> None:
    raw = model.raw_score(frame)
    calibrator = _calibrators(raw)[kind]
    # the scored rows, the fitted knots themselves, and values beyond both ends
    probes = [raw, np.linspace(raw.min() - 3, raw.max() + 3, 2001)]
    if isinstance(calibrator.model, IsotonicRegression):
        probes.append(np.asarray(calibrator.model.X_thresholds_, dtype=np.float64))
    points = np.concatenate(probes)
    fast = calibrated(calibrator.method, calibrator.model, points)
    if kind == "interpolated isotonic":
        assert fast is None  # already plain NumPy: the calibrator itself is used
    else:
        assert fast is not None and np.array_equal(fast, calibrator.transform(points))
    with_it = dataclasses.replace(model, calibrator=calibrator)
    assert np.array_equal(with_it.predict_proba(frame), calibrator.transform(raw))


def test_the_predictor_follows_the_threads_and_is_not_pickled(model: RiskModel, frame: pd.DataFrame) -> None:
    before = model.score(frame.head(20))
    model.booster.set_params(n_jobs=1)
    assert model.explainer().num_threads == 1
    again = pickle.loads(pickle.dumps(model))
    assert again._explainer is None
    after = again.score(frame.head(20))
    assert np.array_equal(after.probability, before.probability)
    assert np.array_equal(after.shap_values, before.shap_values) and after.reasons == before.reasons


def test_no_rows_score_to_nothing(model: RiskModel, frame: pd.DataFrame) -> None:
    scored = model.score(frame.head(0))
    assert len(scored.probability) == 0 and scored.shap_values.shape == (0, len(model.features))
    assert scored.reasons == []
