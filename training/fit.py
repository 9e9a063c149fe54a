"""Temporal folds and fitting: the risk model, its calibration and bands, and the baselines.

Folds are school years: the latest year is the test fold, the year before it calibrates, every earlier
year trains. A row's label window must end before the next fold begins, so no fold's labels reach into a
later fold's weeks: (``as_of``, ``as_of + horizon``] with ``label: horizon``, (``as_of``, the student's
expected end] with ``label: programme_end`` (:func:`features.labels.window_end`; :func:`fold_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire
from features.register import features_by_name
from models.risk_model import (
    BAND_WEEK_FEATURE,
    CalibrationMethod,
    Calibrator,
    ColumnSelector,
    RiskModel,
    band_week,
    fit_band_thresholds,
    make_pipeline,
)
from training.config import TrainingConfig

LABEL = "vsv"
CALIBRATION_CHOICES = ("auto", "isotonic", "sigmoid")


class TrainingDataError(ValueError):
    """The data cannot support a training run; raised before anything is logged."""


# Fits the served model family (:func:`make_pipeline`: column selection, then LightGBM) on the training
# fold an engine holds: (features, LightGBM parameters, seed) -> fitted pipeline. The pandas engine fits
# on a DataFrame in memory (:func:`pandas_booster_fitter`); the Dask engine on a Dask DataFrame
# (:mod:`training.dask_engine`). Calibration and bands are the same code after either.
BoosterFitter = Callable[[Sequence[str], Mapping[str, Any], int], Pipeline]


def pandas_booster_fitter(train: pd.DataFrame, train_y: np.ndarray) -> BoosterFitter:
    """The in-memory fit: :func:`make_pipeline` fitted on ``train`` and ``train_y``."""

    def fit(features: Sequence[str], params: Mapping[str, Any], seed: int) -> Pipeline:
        return make_pipeline(features, params, seed).fit(train, train_y)

    return fit


@dataclass(frozen=True)
class Folds:
    """As-of weeks per fold."""

    train: tuple[int, ...]
    calibration: tuple[int, ...]
    test: tuple[int, ...]
    test_all_year: tuple[int, ...]  # every as-of week of the test year, for lead times
    years: int
    # Every as-of week of the calibration year: the band cuts need scores, not labels, so they are cut on
    # the whole year (the calibration fold ends a horizon before the year does).
    calibration_all_year: tuple[int, ...] = ()
    # A last school year that is not complete (``incomplete_year``): the weeks of it left out of every fold
    # (leave_out), and how many weeks of data the test year holds (test: fewer than a whole year).
    weeks_left_out: int = 0
    weeks_in_test_year: int = WEEKS_PER_YEAR
    # The last week a row's label window may reach in each fold (:func:`fold_rows`): the week before the
    # next fold begins, and for the test fold the last week of data.
    train_until: int = -1
    calibration_until: int = -1
    test_until: int = -1


@dataclass(frozen=True)
class Prepared:
    """The student-week frames of each fold, ready to fit and evaluate."""

    folds: Folds
    train: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    test_all_year: pd.DataFrame
    max_week: int
    # Every week of the calibration year (labels not all closed): what the band cuts are set on.
    calibration_all_year: pd.DataFrame | None = None
    # An engine that holds the training fold elsewhere (Dask): how to fit the booster on it, and its rows
    # (``train`` is then a sample, for the logistic baseline). None: fit on ``train`` in memory.
    fitter: BoosterFitter | None = None
    train_rows: int | None = None


def year_as_of_weeks(year: int, config: TrainingConfig) -> list[int]:
    start = year * WEEKS_PER_YEAR
    return list(range(start + config.first_week_in_year - 1, start + WEEKS_PER_YEAR, config.as_of_step))


def incomplete_year_message(complete_years: int, weeks_in_last: int) -> str:
    """Why a store whose last school year is not complete is refused, and what to do about it."""
    missing = WEEKS_PER_YEAR - weeks_in_last
    return (
        f"the data ends in school week {weeks_in_last} of school year {complete_years + 1}, the year that "
        f"would be the test year: its last {missing} of {WEEKS_PER_YEAR} weeks are missing, so its test fold "
        "cannot close its label windows, and counting whole years only would train, calibrate and test on "
        "the wrong years without a word. Import the rest of that year, or choose in the training "
        "configuration (--config): incomplete_year: test (test on the weeks there are; as-of weeks whose "
        "label window is still open are left out) or incomplete_year: leave_out (train, calibrate and test "
        f"on the {complete_years} complete years; the model card says the weeks left out)"
    )


def temporal_folds(max_week: int, config: TrainingConfig) -> Folds:
    """Train on earlier school years, calibrate on the second-to-last, test on the last.

    A last school year with fewer than :data:`WEEKS_PER_YEAR` weeks of data is never dropped silently:
    ``config.incomplete_year`` refuses it (the default, with a message naming the year and how many weeks
    are missing), tests on it (``test``) or leaves it out and says so (``leave_out``)."""
    complete, weeks_in_last = divmod(max_week + 1, WEEKS_PER_YEAR)
    if weeks_in_last and config.incomplete_year == "refuse":
        raise TrainingDataError(incomplete_year_message(complete, weeks_in_last))
    test_partial = bool(weeks_in_last) and config.incomplete_year == "test"
    years = complete + 1 if test_partial else complete
    if years < 3:
        raise TrainingDataError(
            f"training needs at least 3 school years (train, calibrate, test); the data has {complete} "
            f"complete {'year' if complete == 1 else 'years'}"
            + (f" and {weeks_in_last} weeks of the next" if weeks_in_last else "")
            + f" (last week {max_week})"
        )
    test_year, cal_year = years - 1, years - 2
    # The shortest label window an as-of week can have: with programme_end a row's own window decides
    # (fold_rows), and a student past the expected end has an empty one.
    shortest = config.horizon if config.label == "horizon" else 0

    def fold(year_range: range, limit: int) -> tuple[int, ...]:
        return tuple(w for y in year_range for w in year_as_of_weeks(y, config) if w + shortest <= limit)

    train_until, calibration_until = cal_year * WEEKS_PER_YEAR - 1, test_year * WEEKS_PER_YEAR - 1
    train = fold(range(0, cal_year), train_until)
    calibration = fold(range(cal_year, test_year), calibration_until)
    # The test year's labels may read up to the last week of data (leave_out: into the weeks left out).
    test = fold(range(test_year, years), max_week)
    if not test:
        first = min(year_as_of_weeks(test_year, config)) - test_year * WEEKS_PER_YEAR + 1
        needed = first + shortest
        raise TrainingDataError(
            f"the test fold (school year {test_year + 1}) has no as-of week whose label window has closed: "
            f"the data holds {weeks_in_last} of its weeks and the first as-of week (week {first}) needs "
            f"{needed} ({needed - weeks_in_last} more); import more weeks or use incomplete_year: leave_out"
        )
    test_all = tuple(w for w in year_as_of_weeks(test_year, config) if w <= max_week)
    return Folds(
        train,
        calibration,
        test,
        test_all,
        years,
        tuple(year_as_of_weeks(cal_year, config)),
        weeks_left_out=weeks_in_last if weeks_in_last and not test_partial else 0,
        weeks_in_test_year=weeks_in_last if test_partial else WEEKS_PER_YEAR,
        train_until=train_until,
        calibration_until=calibration_until,
        test_until=max_week,
    )


def fold_rows(
    rows: pd.DataFrame,
    window_ends: pd.Series,
    weeks: Sequence[int],
    until: int,
    name: str,
    config: TrainingConfig,
) -> pd.DataFrame:
    """The rows of the fold's as-of ``weeks`` whose label window (``window_ends``, aligned with ``rows``;
    :func:`features.labels.window_end`) ends by ``until``, checked by :func:`check_fold`. With
    ``label: horizon`` the fold's weeks already close every window; with ``programme_end`` rows whose
    window does not close are left out, and a refusal says how many of the weeks' rows were left."""
    in_weeks = rows["as_of"].isin(weeks)
    keep = in_weeks & (window_ends <= until)
    frame = rows[keep].reset_index(drop=True)
    note = ""
    if config.label == "programme_end":
        note = (
            f"with label: programme_end a student-week counts only when its label window (to the student's "
            f"expected end) closes by week {until}, the fold's last: {int(keep.sum()):,} of the "
            f"{int(in_weeks.sum()):,} student-weeks of its as-of weeks do (import more school years, or "
            "use label: horizon)"
        )
    check_fold(frame, name, config, note)
    return frame


def check_fold(frame: pd.DataFrame, name: str, config: TrainingConfig, note: str = "") -> None:
    """Refuse folds that are empty, single-class or too thin, with a message that says so (and ``note``,
    why rows may be missing)."""
    check_fold_counts(len(frame), int(frame[LABEL].sum()) if len(frame) else 0, name, config, note)


def check_fold_counts(rows: int, positives: int, name: str, config: TrainingConfig, note: str = "") -> None:
    """:func:`check_fold` on a fold's row and positive counts (for folds that are not in memory)."""
    why = f"; {note}" if note else ""
    if rows == 0:
        raise TrainingDataError(f"the {name} fold has no rows{why}")
    if positives == 0 or positives == rows:
        raise TrainingDataError(f"the {name} fold has a single class ({positives} vsv of {rows} rows){why}")
    if positives < config.min_positive_rows:
        raise TrainingDataError(
            f"the {name} fold has {positives} vsv student-weeks; at least {config.min_positive_rows} are "
            f"needed (generate or import more students, or lower min_positive_rows){why}"
        )


def choose_calibration(
    raw: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[str, dict[str, float]]:
    """Isotonic or sigmoid: the lower Brier score in a two-fold split of the calibration rows by student."""
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    half = set(rng.permutation(unique)[: len(unique) // 2])
    in_a = np.array([g in half for g in groups])
    scores: dict[str, float] = {}
    methods: tuple[CalibrationMethod, ...] = ("isotonic", "sigmoid")
    for method in methods:
        briers = []
        for fit_mask in (in_a, ~in_a):
            cal = Calibrator.fit(raw[fit_mask], y[fit_mask], method)
            briers.append(brier_score_loss(y[~fit_mask], cal.transform(raw[~fit_mask])))
        scores[method] = float(np.mean(briers))
    return min(scores, key=lambda m: scores[m]), scores


@dataclass(frozen=True)
class CalibratedBooster:
    """The served model family before banding: :func:`make_pipeline` and one :class:`Calibrator` fitted
    on raw scores of rows the booster was not fitted on. ``calibration_brier`` holds the Brier score of
    each method when ``"auto"`` chose between them (empty otherwise)."""

    pipeline: Pipeline
    calibrator: Calibrator
    calibration_brier: dict[str, float]

    @property
    def method(self) -> CalibrationMethod:
        return self.calibrator.method

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """LightGBM log-odds before calibration, on the pipeline's columns of ``frame``."""
        return raw_score(self.pipeline, frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class."""
        return self.calibrator.transform(self.raw_score(frame))


def raw_score(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Raw log-odds of a fitted :func:`make_pipeline` pipeline (the calibrator's input)."""
    booster = pipeline.named_steps["lgbm"]
    return np.asarray(booster.predict(pipeline.named_steps["select"].transform(frame), raw_score=True))


def fit_calibrated_booster(
    train: pd.DataFrame,
    train_y: np.ndarray,
    calibration: pd.DataFrame,
    calibration_y: np.ndarray,
    features: Sequence[str],
    params: Mapping[str, Any],
    seed: int,
    method: str,
    groups: np.ndarray,
    fitter: BoosterFitter | None = None,
) -> CalibratedBooster:
    """Fit the pipeline on ``train``; fit the calibrator on the held-out ``calibration`` rows.

    ``method`` is ``"isotonic"``, ``"sigmoid"`` or ``"auto"`` (:func:`choose_calibration` on the
    calibration rows, split by ``groups``: rows of one group stay on one side). ``fitter`` (an engine's
    fit on a training fold it holds, e.g. on Dask) replaces the in-memory fit on ``train``.
    """
    if method not in CALIBRATION_CHOICES:
        raise ValueError(f"calibration must be one of {CALIBRATION_CHOICES}, got {method!r}")
    fit = fitter or pandas_booster_fitter(train, train_y)
    pipeline = fit(features, params, seed)
    raw = raw_score(pipeline, calibration)
    if method == "auto":
        method, briers = choose_calibration(raw, calibration_y, groups, seed)
    else:
        briers = {}
    calibrator = Calibrator.fit(raw, calibration_y, cast(CalibrationMethod, method))
    return CalibratedBooster(pipeline=pipeline, calibrator=calibrator, calibration_brier=briers)


def model_params(
    config: TrainingConfig, features: Sequence[str], params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """LightGBM parameters for ``features``: ``params`` (default the configuration's ``lgbm``), with the
    register's monotone constraints in feature order when the configuration asks for them."""
    out = dict(config.lgbm if params is None else params)
    out.pop("monotone_constraints", None)
    if config.monotone_constraints:
        register = features_by_name(features)
        directions = [register[name].monotone for name in features]
        if any(directions):
            out["monotone_constraints"] = directions
            out.setdefault("monotone_constraints_method", "intermediate")
    return out


def fit_risk_model(
    train: pd.DataFrame,
    calibration: pd.DataFrame,
    features: Sequence[str],
    descriptions: dict[str, str],
    config: TrainingConfig,
    metadata: dict[str, Any] | None = None,
    questionnaire: Questionnaire | None = None,
    params: Mapping[str, Any] | None = None,
    band_rows: pd.DataFrame | None = None,
    fitter: BoosterFitter | None = None,
) -> RiskModel:
    """Fit LightGBM on ``train``; calibrate on the later ``calibration`` fold and cut the bands per week
    on ``band_rows`` (the calibration year's rows of every week; default the calibration fold): cuts need
    scores, not labels, so a late week is cut on its own rows rather than on the weeks before it.
    The model keeps ``questionnaire`` (the deployment's) for its reasons' scales and directions.
    ``params`` (e.g. a search's result) replace the configuration's ``lgbm``; :func:`model_params` adds
    the monotone constraints either way. ``fitter`` fits the booster on an engine's training fold instead
    of on ``train`` (:class:`BoosterFitter`); calibration and bands are the same either way."""
    fitted = fit_calibrated_booster(
        train,
        train[LABEL].to_numpy(),
        calibration,
        calibration[LABEL].to_numpy(),
        features,
        model_params(config, features, params),
        config.seed,
        config.calibration,
        groups=calibration["student_id"].to_numpy(),
        fitter=fitter,
    )
    cut_on = calibration if band_rows is None or band_rows.empty else band_rows
    thresholds = fit_band_thresholds(
        fitted.predict_proba(cut_on),
        band_week(cut_on[BAND_WEEK_FEATURE].to_numpy()),
        config.elevated_share,
        config.capacity_share,
    )
    meta = {**(metadata or {}), "calibration": fitted.method, "calibration_brier": fitted.calibration_brier}
    return RiskModel(
        features=tuple(features),
        descriptions={f: descriptions.get(f, f) for f in features},
        pipeline=fitted.pipeline,
        calibrator=fitted.calibrator,
        thresholds=thresholds,
        questionnaire=questionnaire,
        metadata=meta,
    )


def fit_logistic(train: pd.DataFrame, features: Sequence[str], config: TrainingConfig) -> Pipeline:
    """The logistic-regression baseline on the same features (standardised)."""
    model = Pipeline(
        [
            ("select", ColumnSelector(tuple(features))),
            ("scale", StandardScaler()),
            ("lr", LogisticRegression(max_iter=2000, **config.logistic)),
        ]
    )
    return model.fit(train, train[LABEL].to_numpy())


RULES = {
    "flag_leerplicht_16u": "16 uur ongeoorloofd verzuim in 4 weken (onder 18)",
    "flag_4_weeks_absent": "4 weken aaneengesloten afwezig (18-23)",
    "attendance_below_80": "aanwezigheid laatste 4 weken onder 80%",
    "credits_behind": "minder dan 75% van de verwachte studiepunten dit jaar",
}


def rule_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """The ABC-style rule baseline adapted to mbo: legal absence thresholds, attendance, credits.

    Returns one boolean column per rule, ``rule_flag`` (any rule) and ``rule_score`` (rules triggered,
    with attendance as tie-breaker) for ranking.
    """
    out = pd.DataFrame(index=frame.index)
    out["flag_leerplicht_16u"] = frame["flag_leerplicht_16u"].astype(bool)
    out["flag_4_weeks_absent"] = frame["flag_4_weeks_absent"].astype(bool)
    out["attendance_below_80"] = frame["att_rate_4w"] < 0.8
    out["credits_behind"] = frame["has_progress_year"].astype(bool) & (frame["credits_ratio_year"] < 0.75)
    out["rule_flag"] = out[list(RULES)].any(axis=1)
    out["rule_score"] = out[list(RULES)].sum(axis=1) + (1 - frame["att_rate_4w"].clip(0, 1)) * 0.5
    return out
