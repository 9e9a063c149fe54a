"""Behaviour of ``training.tabular`` on the real UCI dropout table and on small hand-made tables.

Tests that read the real table get it through the ``uci_dropout_csv`` fixture (tests/model/conftest.py):
skipped when ``../shared/realdata/`` is absent, failed when it is absent under ``CI=true``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.metrics import expected_calibration_error as _ece
from models.risk_model import BandThresholds, Calibrator, ColumnSelector, RiskModel, make_pipeline
from training.fit import CalibratedBooster, fit_calibrated_booster
from training.tabular import (
    CALIBRATION_SHARE,
    CALIBRATIONS,
    MODEL,
    MODEL_NAMES,
    UNTUNED,
    TableTask,
    cross_validate_table,
    fit_model,
    fit_table_model,
    lgbm_params,
    positive_proba,
    prepare,
    read_table,
    report_to_markdown,
)

DROPOUT = TableTask(target="Target", positive=("Dropout",), seed=0, n_folds=5)
SUBSAMPLE = 800


@pytest.fixture(scope="module")
def uci(uci_dropout_csv: Path) -> pd.DataFrame:
    return read_table(uci_dropout_csv)


@pytest.fixture(scope="module")
def uci_sample(uci: pd.DataFrame) -> pd.DataFrame:
    return uci.sample(SUBSAMPLE, random_state=0).reset_index(drop=True)


def _signal(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A table whose outcome depends on ``a`` and ``b`` (logistic), for fitting without real data."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.integers(0, 5, size=n)
    p = 1 / (1 + np.exp(-(1.5 * a + 0.5 * (b - 2))))
    return pd.DataFrame({"a": a, "b": b, "outcome": np.where(rng.uniform(size=n) < p, "yes", "no")})


def _toy(n: int = 60, n_pos: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, size=n),
            "outcome": ["yes"] * n_pos + ["no"] * (n - n_pos),
        }
    )


# --- read_table -------------------------------------------------------------------------------------------


def test_read_table_handles_the_uci_quirks(uci: pd.DataFrame) -> None:
    assert uci.shape == (4424, 37)
    assert uci.columns[0] == "Marital status"  # no byte-order mark
    assert "Daytime/evening attendance" in uci.columns  # trailing tab stripped
    assert all(c == c.strip() for c in uci.columns)
    assert uci["Target"].value_counts().to_dict() == {"Graduate": 2209, "Dropout": 1421, "Enrolled": 794}


def test_read_table_with_explicit_separator_matches_guess(uci: pd.DataFrame, uci_dropout_csv: Path) -> None:
    pd.testing.assert_frame_equal(read_table(uci_dropout_csv, sep=";"), uci)


def test_read_table_guesses_comma(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(" x ,y\t,target\n1,2,a\n3,4,b\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["x", "y", "target"]
    assert len(frame) == 2


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00\x81garbage", b"a,b\n1,2\n1,2,3,4\n"],
    ids=["empty", "not-utf8", "ragged"],
)
def test_read_table_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read"):
        read_table(path)


def test_read_table_duplicate_names_after_strip(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a \n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate column"):
        read_table(path)


# --- guard clauses ----------------------------------------------------------------------------------------


def test_prepare_maps_positive_labels_and_keeps_numeric_features(uci: pd.DataFrame) -> None:
    x, y = prepare(uci, DROPOUT)
    assert x.shape == (4424, 36)
    assert "Target" not in x.columns
    assert int(y.sum()) == 1421
    _, y_two = prepare(uci, TableTask("Target", ("Dropout", "Enrolled")))
    assert int(y_two.sum()) == 1421 + 794


def test_single_positive_label_is_wrapped() -> None:
    assert TableTask("t", "yes").positive == ("yes",)  # type: ignore[arg-type]


def test_numeric_target_matches_textual_label() -> None:
    frame = _toy().assign(outcome=[1] * 20 + [0] * 40)
    assert int(prepare(frame, TableTask("outcome", ("1",)))[1].sum()) == 20


def test_guard_missing_target() -> None:
    with pytest.raises(ValueError, match="target column 'label' not in the table"):
        prepare(_toy(), TableTask("label", ("yes",)))


def test_guard_single_class() -> None:
    with pytest.raises(ValueError, match="single class"):
        prepare(_toy(), TableTask("outcome", ("maybe",)))
    with pytest.raises(ValueError, match="single class"):
        prepare(_toy(), TableTask("outcome", ("yes", "no")))


def test_guard_minority_smaller_than_folds() -> None:
    with pytest.raises(ValueError, match="minority class has 3 rows, fewer than the 5 folds"):
        prepare(_toy(n=60, n_pos=3), TableTask("outcome", ("yes",), n_folds=5))
    prepare(_toy(n=60, n_pos=3), TableTask("outcome", ("yes",), n_folds=3))


def test_guard_non_numeric_features() -> None:
    frame = _toy().assign(school=["x", "y"] * 30)
    with pytest.raises(ValueError, match=r"non-numeric feature columns \['school'\]"):
        prepare(frame, TableTask("outcome", ("yes",)))
    x, _ = prepare(frame, TableTask("outcome", ("yes",), features=("a", "b")))
    assert list(x.columns) == ["a", "b"]


def test_guard_unknown_feature_and_target_as_feature() -> None:
    with pytest.raises(ValueError, match="not in the table"):
        prepare(_toy(), TableTask("outcome", ("yes",), features=("a", "zzz")))
    with pytest.raises(ValueError, match="also listed as a feature"):
        prepare(_toy(), TableTask("outcome", ("yes",), features=("a", "outcome")))


def test_guard_missing_target_values() -> None:
    frame = _toy()
    frame.loc[0, "outcome"] = None
    with pytest.raises(ValueError, match="missing values"):
        prepare(frame, TableTask("outcome", ("yes",)))


def test_guard_task_arguments() -> None:
    with pytest.raises(ValueError, match="n_folds"):
        TableTask("outcome", ("yes",), n_folds=1)
    with pytest.raises(ValueError, match="positive label"):
        TableTask("outcome", ())


def test_guard_missing_feature_values() -> None:
    frame = _toy()
    frame.loc[3, "a"] = np.nan
    with pytest.raises(ValueError, match=r"feature columns with missing values \['a'\]"):
        prepare(frame, TableTask("outcome", ("yes",)))
    x, _ = prepare(frame, TableTask("outcome", ("yes",), features=("b",)))
    assert list(x.columns) == ["b"]


def test_guard_calibration_name() -> None:
    x, y = prepare(_toy(), TableTask("outcome", ("yes",)))
    with pytest.raises(ValueError, match="calibration"):
        fit_model(x, y, calibration="platt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="calibration"):
        cross_validate_table(_toy(), TableTask("outcome", ("yes",)), calibration="best")  # type: ignore[arg-type]


def test_guard_parameters_set_by_the_pipeline() -> None:
    with pytest.raises(ValueError, match="random_state"):
        cross_validate_table(_toy(), TableTask("outcome", ("yes",)), params={"random_state": 1})


# --- expected calibration error (equal-width bins, as reported for the real data) --------------------------


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> float:
    return _ece(y, p, n_bins, strategy="uniform")


def test_ece_is_zero_for_exact_predictions() -> None:
    assert expected_calibration_error([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]) == 0.0


def test_ece_is_small_for_calibrated_random_predictions() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.005


def test_ece_hand_computed_shift() -> None:
    # Two bins of four rows; observed rates 0.25 and 0.75. Predicting exactly these rates is calibrated;
    # shifting every prediction by +0.1 (bin [0.2, 0.3) -> [0.3, 0.4), [0.7, 0.8) -> [0.8, 0.9)) gives
    # 0.5 * |0.25 - 0.35| + 0.5 * |0.75 - 0.85| = 0.1.
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    calibrated = [0.25] * 4 + [0.75] * 4
    assert expected_calibration_error(y, calibrated) == pytest.approx(0.0)
    assert expected_calibration_error(y, [p + 0.1 for p in calibrated]) == pytest.approx(0.1)
    # One bin (n_bins=1): |mean y - mean p| = |0.5 - 0.6|.
    assert expected_calibration_error(y, [p + 0.1 for p in calibrated], n_bins=1) == pytest.approx(0.1)


def test_ece_puts_one_in_the_last_bin() -> None:
    # 0.95 and 1.0 share the bin [0.9, 1.0]: mean p 0.975, rate 1.0.
    assert expected_calibration_error([1, 1], [0.95, 1.0]) == pytest.approx(0.025)


@pytest.mark.parametrize(
    ("y", "p", "n_bins"),
    [
        ([0, 1], [0.5], 10),
        ([], [], 10),
        ([0, 2], [0.1, 0.2], 10),
        ([0, 1], [0.1, 1.2], 10),
        ([0, 1], [0.1, 0.2], 0),
    ],
)
def test_ece_rejects_bad_input(y: list[int], p: list[float], n_bins: int) -> None:
    with pytest.raises(ValueError):
        expected_calibration_error(y, p, n_bins)


# --- model and cross-validation ---------------------------------------------------------------------------


def test_tabular_model_is_the_served_family() -> None:
    frame = _signal()
    task = TableTask("outcome", ("yes",), seed=3)
    model, chosen = fit_table_model(frame, task, params={"n_estimators": 20})
    # The objects vsv train registers: make_pipeline's pipeline and one models.risk_model.Calibrator.
    assert isinstance(model, CalibratedBooster)
    assert isinstance(model.calibrator, Calibrator)
    assert chosen == model.calibrator.method and chosen in CALIBRATIONS
    assert set(model.calibration_brier) == set(CALIBRATIONS)  # chosen by training.fit.choose_calibration
    served = make_pipeline(("a", "b"), lgbm_params({"n_estimators": 20}), seed=3)
    assert [(n, type(s)) for n, s in model.pipeline.steps] == [(n, type(s)) for n, s in served.steps]
    assert isinstance(model.pipeline.named_steps["select"], ColumnSelector)
    assert model.pipeline.named_steps["select"].columns_ == ("a", "b")
    assert model.pipeline.named_steps["lgbm"].get_params() == served.named_steps["lgbm"].get_params()
    # The calibrator was fitted on the held-out share of the rows only.
    assert int(model.calibrator.bin_counts.sum()) == math.ceil(CALIBRATION_SHARE * len(frame))
    # Serving would score it the same: wrapped in a RiskModel, the probabilities are identical.
    risk_model = RiskModel(
        features=("a", "b"),
        descriptions={},
        pipeline=model.pipeline,
        calibrator=model.calibrator,
        thresholds=BandThresholds(elevated=0.5, high=0.8),
    )
    np.testing.assert_array_equal(risk_model.predict_proba(frame), model.predict_proba(frame))
    np.testing.assert_array_equal(positive_proba(model, frame), model.predict_proba(frame))


def test_cross_validation_fits_the_served_family_per_fold() -> None:
    frame = _signal()
    task = TableTask("outcome", ("yes",), seed=1, n_folds=3)
    params = {"n_estimators": 20}
    report = cross_validate_table(frame, task, params=params, calibration="auto")
    # Fold 0 by hand: booster on a stratified 75%, calibrator on the other 25% of the training rows.
    x, y = prepare(frame, task)
    train, test = next(StratifiedKFold(n_splits=3, shuffle=True, random_state=1).split(x, y))
    fit_x, cal_x, fit_y, cal_y = train_test_split(
        x.iloc[train], y[train], test_size=CALIBRATION_SHARE, stratify=y[train], random_state=1
    )
    by_hand = fit_calibrated_booster(
        fit_x,
        fit_y,
        cal_x,
        cal_y,
        features=["a", "b"],
        params=lgbm_params(params),
        seed=1,
        method="auto",
        groups=np.arange(len(cal_y)),
    )
    np.testing.assert_array_equal(report.oof[MODEL][test], by_hand.predict_proba(x.iloc[test]))
    assert report.folds[0].calibration == by_hand.method
    assert report.folds[0].inner_brier == by_hand.calibration_brier
    assert report.params["random_state"] == 1 and report.params["n_estimators"] == 20


def test_model_scores_independent_of_column_order(uci_sample: pd.DataFrame) -> None:
    x, y = prepare(uci_sample, DROPOUT)
    model = fit_model(x, y, {"n_estimators": 30}, "sigmoid")
    shuffled = x[list(reversed(x.columns))]
    np.testing.assert_array_equal(positive_proba(model, x), positive_proba(model, shuffled))
    assert model.method == "sigmoid"
    assert model.calibration_brier == {}


def test_cross_validation_fast_settings(uci_sample: pd.DataFrame) -> None:
    task = TableTask("Target", ("Dropout",), seed=0, n_folds=3)
    report = cross_validate_table(uci_sample, task, params={"n_estimators": 100}, calibration="sigmoid")
    assert [f.calibration for f in report.folds] == ["sigmoid"] * 3
    assert sum(f.n_test for f in report.folds) == SUBSAMPLE
    assert report.n_positive == int((uci_sample["Target"] == "Dropout").sum())
    assert report.params["n_estimators"] == 100 and report.params["learning_rate"] == 0.03
    for name in MODEL_NAMES:
        assert not np.isnan(report.oof[name]).any()
        assert report.pooled[name].roc_auc > 0.85
    text = report_to_markdown(report)
    assert "| model | ROC-AUC | PR-AUC | Brier | ECE |" in text
    assert "3-fold stratified cross-validation" in text
    assert "to_dict" not in text and "oof" not in report.to_dict()


@pytest.mark.slow
def test_cross_validation_default_model_on_real_subsample(uci_sample: pd.DataFrame) -> None:
    report = cross_validate_table(uci_sample, DROPOUT, calibration="auto")
    assert len(report.folds) == 5
    for fold in report.folds:
        assert fold.calibration in CALIBRATIONS
        assert set(fold.inner_brier) == set(CALIBRATIONS)
        assert fold.inner_brier[fold.calibration] == min(fold.inner_brier.values())
    assert report.pooled[MODEL].roc_auc > 0.85
    assert report.mean[MODEL].roc_auc > 0.85
    # Calibration on held-out rows: well calibrated, and at least as good as the uncalibrated defaults.
    assert report.pooled[MODEL].ece < 0.06
    assert report.pooled[MODEL].brier <= report.pooled[UNTUNED].brier + 0.005
