"""The risk model as one artefact: feature selection, LightGBM, calibration, bands, SHAP values, reasons.

What ``training`` fits is exactly what ``serving`` loads (through the MLflow registry,
:mod:`models.registry`): one :class:`RiskModel` object that takes a feature snapshot
(``features.snapshot``) and returns calibrated probabilities with an uncertainty interval, a band, and
plain-Dutch reasons from SHAP contributions. Which contributions become reasons, and their wording, is
:mod:`models.reasons` (only changeable signals the feature register allows, pushing the risk up, on the
worrying side, at most three).

SHAP contributions (LightGBM's own TreeSHAP, :mod:`models.fast_path`) are computed on the LightGBM model's
log-odds scale, before calibration: they rank and
explain the inputs; the calibrated probability is the score. ``base_value + sum(contributions)`` equals
the raw log-odds exactly, which the replay of a stored score checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire, cached_questionnaire
from data.vocabulary import BAND_ELEVATED, BAND_HIGH, BAND_INSUFFICIENT, BAND_LOW
from features.register import Feature, features_by_name
from models.fast_path import BoosterPredictor, ModelRows, booster_of, calibrated, prediction_threads
from models.reasons import TOP_N, Reason, format_value, reasons_for_rows

__all__ = [
    "BANDS",
    "BAND_WEEK_FEATURE",
    "BandThresholds",
    "CalibrationMethod",
    "Calibrator",
    "ColumnSelector",
    "InterpolatedIsotonic",
    "Reason",
    "RiskModel",
    "Scored",
    "band_week",
    "fit_band_thresholds",
    "format_value",
    "make_pipeline",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]
CalibrationMethod = Literal["isotonic", "sigmoid"]
BANDS = (BAND_LOW, BAND_ELEVATED, BAND_HIGH)
UNCERTAINTY_BINS = 20
Z_95 = 1.96


class ColumnSelector(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Select the model's columns in a fixed order, refusing missing columns and missing values."""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnSelector:  # noqa: N803 - sklearn naming
        self.columns_ = tuple(self.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"model input lacks columns {missing[:10]}")
        out = X.loc[:, list(self.columns_)].astype("float64")
        if out.isna().to_numpy().any():
            bad = out.columns[out.isna().any()].tolist()
            raise ValueError(f"model input has missing values in {bad[:10]}")
        return out


def make_pipeline(features: Sequence[str], params: Mapping[str, Any], seed: int) -> Pipeline:
    """The model family: column selection, then a LightGBM classifier."""
    lgbm = LGBMClassifier(random_state=seed, verbose=-1, **dict(params))
    return Pipeline([("select", ColumnSelector(tuple(features))), ("lgbm", lgbm)])


@dataclass(frozen=True)
class InterpolatedIsotonic:
    """Isotonic regression read between its blocks' centres: strictly increasing inside them.

    Plain isotonic regression is a step function (on the demo about 40 distinct probabilities for 90,000
    rows), so whole steps of students share one probability: a list cannot rank them and a band cut
    takes in or leaves out a whole step. Joining the blocks' centres with straight lines keeps the fit
    (each block's mean is kept at its centre, and the curve stays monotone) while every raw score gets its
    own probability; below the first centre and above the last the end values hold.
    """

    centres: FloatArray  # raw score at the middle of each isotonic block, increasing
    values: FloatArray  # the block's fitted probability, increasing

    @classmethod
    def fit(cls, raw: FloatArray, y: npt.NDArray[Any]) -> InterpolatedIsotonic:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return cls.from_steps(
            np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)
        )

    @classmethod
    def from_steps(cls, x: FloatArray, y: FloatArray) -> InterpolatedIsotonic:
        """From a step function's knots (``x`` increasing; a block is a run of equal ``y``)."""
        starts = np.flatnonzero(np.r_[True, np.diff(y) != 0])
        ends = np.r_[starts[1:] - 1, len(y) - 1]
        return cls(centres=(x[starts] + x[ends]) / 2, values=y[starts])

    def predict(self, raw: FloatArray) -> FloatArray:
        return np.asarray(np.interp(raw, self.centres, self.values), dtype=np.float64)


@dataclass(frozen=True)
class Calibrator:
    """Maps raw log-odds to calibrated probabilities, and says how many calibration rows back each value.

    ``model`` is an :class:`InterpolatedIsotonic` for models trained since it exists, an sklearn
    ``IsotonicRegression`` (steps) for older isotonic models, which keep scoring as they did, or a
    ``LogisticRegression`` (sigmoid).
    """

    method: CalibrationMethod
    model: Any
    bin_edges: FloatArray  # raw-score quantile edges of the calibration rows
    bin_counts: npt.NDArray[np.int64]

    @classmethod
    def fit(cls, raw: FloatArray, y: npt.NDArray[Any], method: CalibrationMethod) -> Calibrator:
        if method == "isotonic":
            model: Any = InterpolatedIsotonic.fit(raw, y)
        else:
            model = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        edges = np.unique(np.quantile(raw, np.linspace(0, 1, UNCERTAINTY_BINS + 1)))
        counts = np.bincount(_bin_of(raw, edges), minlength=max(len(edges) - 1, 1)).astype(np.int64)
        return cls(method=method, model=model, bin_edges=edges, bin_counts=counts)

    def transform(self, raw: FloatArray) -> FloatArray:
        if self.method == "isotonic":
            out = np.asarray(self.model.predict(raw), dtype=np.float64)
        else:
            out = np.asarray(self.model.predict_proba(raw.reshape(-1, 1))[:, 1], dtype=np.float64)
        return np.clip(out, 0.0, 1.0)

    def support(self, raw: FloatArray) -> npt.NDArray[np.int64]:
        """Calibration rows in the same raw-score bin: the evidence behind each probability."""
        return self.bin_counts[_bin_of(raw, self.bin_edges)]


def _bin_of(raw: FloatArray, edges: FloatArray) -> npt.NDArray[np.int64]:
    if len(edges) < 2:
        return np.zeros(len(raw), dtype=np.int64)
    return np.clip(np.searchsorted(edges, raw, side="right") - 1, 0, len(edges) - 2).astype(np.int64)


def wilson_interval(p: FloatArray, n: npt.ArrayLike, z: float = Z_95) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for proportions ``p`` observed on ``n`` rows (possibly effective, not whole;
    fewer than one counts as one). The one implementation: scores' intervals and monitoring's."""
    n_f = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    denom = 1 + z**2 / n_f
    centre = (p + z**2 / (2 * n_f)) / denom
    half = z * np.sqrt(p * (1 - p) / n_f + z**2 / (4 * n_f**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


# The week the bands are cut per: the week of the student's own programme year (0 = the first week), from
# the model input ``weeks_since_start``. Risk and its spread follow the programme year (the first weeks
# carry the most vsv), so one cut for the whole year would put far more than 5% in "hoog" in some weeks
# and far fewer in others.
BAND_WEEK_FEATURE = "weeks_since_start"


def band_week(weeks_since_start: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The week of the programme year (0-based) of each row, for :class:`BandThresholds`."""
    since = np.maximum(np.asarray(weeks_since_start, dtype=np.float64), 0.0)
    out: npt.NDArray[np.int64] = np.mod(np.floor(since), WEEKS_PER_YEAR).astype(np.int64)
    return out


@dataclass(frozen=True)
class BandThresholds:
    """Probability thresholds of the bands, set on the calibration fold.

    ``elevated`` and ``high`` are the cuts over all calibration rows. ``elevated_by_week`` and
    ``high_by_week`` (one value per week of the programme year, :func:`band_week`) are the cuts within
    each week, so that "hoog" holds about the same share of students every week; without them (models
    trained before they existed) the single cuts apply to every week.
    """

    elevated: float
    high: float
    elevated_by_week: tuple[float, ...] | None = None
    high_by_week: tuple[float, ...] | None = None

    def cuts(self, week: npt.ArrayLike | None, n: int) -> tuple[FloatArray, FloatArray]:
        """The (elevated, high) cut of each of ``n`` rows in ``week`` (None: the single cuts)."""
        if week is None or self.elevated_by_week is None or self.high_by_week is None:
            return np.full(n, self.elevated), np.full(n, self.high)
        index = np.clip(np.asarray(week, dtype=np.int64), 0, len(self.high_by_week) - 1)
        return (
            np.asarray(self.elevated_by_week, dtype=np.float64)[index],
            np.asarray(self.high_by_week, dtype=np.float64)[index],
        )

    def band(self, p: FloatArray, week: npt.ArrayLike | None = None) -> npt.NDArray[np.object_]:
        p = np.asarray(p, dtype=np.float64)
        elevated, high = self.cuts(week, len(p))
        return np.where(p >= high, BAND_HIGH, np.where(p >= elevated, BAND_ELEVATED, BAND_LOW)).astype(object)

    def is_high(self, p: FloatArray, week: npt.ArrayLike | None = None) -> npt.NDArray[np.bool_]:
        """Whether each probability is in "hoog" in its week (the coachklas selection)."""
        p = np.asarray(p, dtype=np.float64)
        out: npt.NDArray[np.bool_] = p >= self.cuts(week, len(p))[1]
        return out


def top_cut(p: FloatArray, share: float) -> float:
    """The cut for the top ``share`` of rows: ``p >= cut`` holds as close to that share as ties allow.

    Calibrated probabilities have ties (isotonic steps), so the quantile itself may take in a whole step of
    rows; the next distinct value above it is taken instead when that comes closer to ``share``.
    """
    if len(p) == 0:
        return float("inf")
    cut = float(np.quantile(p, 1 - share))
    above = p[p > cut]
    if len(above):
        higher = float(above.min())
        if abs(np.mean(p >= higher) - share) < abs(np.mean(p >= cut) - share):
            cut = higher
    return cut


def fit_band_thresholds(
    p: FloatArray,
    week: npt.ArrayLike,
    elevated_share: float,
    high_share: float,
    window: int = 0,
    min_rows: int = 3000,
) -> BandThresholds:
    """Cuts over all rows and within each week of the programme year.

    A week's cut uses its own rows (``window`` 0), widened a week on each side at a time until it has
    ``min_rows`` rows: a thin week borrows from its neighbours, and a small school's cuts follow the season
    more loosely (risk changes fastest in the first weeks, where pooling blurs it most). The high cut is
    never below the elevated cut.
    """
    p = np.asarray(p, dtype=np.float64)
    weeks = np.asarray(week, dtype=np.int64)
    elevated, high = top_cut(p, elevated_share), top_cut(p, high_share)
    by_elevated, by_high = [], []
    for w in range(WEEKS_PER_YEAR):
        width = window
        near = np.abs(weeks - w) <= width
        while near.sum() < min_rows and width < WEEKS_PER_YEAR:
            width += 1
            near = np.abs(weeks - w) <= width
        part = p[near]
        e, h = (top_cut(part, elevated_share), top_cut(part, high_share)) if len(part) else (elevated, high)
        by_elevated.append(e)
        by_high.append(max(h, e))
    return BandThresholds(elevated, max(high, elevated), tuple(by_elevated), tuple(by_high))


@dataclass
class Scored:
    """Scores of a batch of rows, with everything needed to store and replay them."""

    probability: FloatArray
    lower: FloatArray
    upper: FloatArray
    band: npt.NDArray[np.object_]
    band_uncertain: npt.NDArray[np.bool_]
    raw_score: FloatArray
    shap_values: FloatArray
    base_value: float
    reasons: list[list[Reason]] = field(default_factory=list)


@dataclass
class RiskModel:
    """The whole risk model. Build it with :func:`training` code; use it with :meth:`score`."""

    features: tuple[str, ...]
    descriptions: dict[str, str]
    pipeline: Pipeline
    calibrator: Calibrator
    thresholds: BandThresholds
    metadata: dict[str, Any] = field(default_factory=dict)
    # A sample of snapshot rows the model was evaluated on, with its probabilities (column ``probability``):
    # the reference that drift monitoring compares each week with.
    reference: pd.DataFrame | None = None
    # The questionnaire the model was trained with: the scale and wording of questionnaire reasons. None
    # (models trained before this field, or a trainer that does not set it): the shipped questionnaire.
    questionnaire: Questionnaire | None = None
    # The booster's prediction state (models.fast_path.BoosterPredictor), built on first use. The name is
    # that of the SHAP explainer it replaced, which pickled models carry as None.
    _explainer: Any = field(default=None, repr=False, compare=False)
    _register: dict[str, Feature] | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_explainer"] = None  # rebuilt on first use; not part of the artefact
        state["_register"] = None  # read from the feature register on first use
        return state

    def reason_questionnaire(self) -> Questionnaire:
        """The questionnaire reasons are worded with: the model's own, else the shipped one."""
        return self.questionnaire or cached_questionnaire()

    def feature_register(self) -> dict[str, Feature]:
        """The register's entry for each model feature: domain, may it be a reason, is it shown to staff."""
        if self._register is None:
            self._register = features_by_name(self.features, self.questionnaire)
        return self._register

    @property
    def booster(self) -> LGBMClassifier:
        booster: LGBMClassifier = self.pipeline.named_steps["lgbm"]
        return booster

    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's columns of ``frame``, checked (no missing column, no missing value)."""
        selector: ColumnSelector = self.pipeline.named_steps["select"]
        out: pd.DataFrame = selector.transform(frame)
        return out

    def _rows(self, frame: pd.DataFrame | ModelRows) -> ModelRows:
        """The model's columns of ``frame`` as one checked matrix (:mod:`models.fast_path`), selected once."""
        columns: tuple[str, ...] = self.pipeline.named_steps["select"].columns_
        if isinstance(frame, ModelRows):
            if frame.columns != columns:
                raise ValueError("model rows are not in this model's columns")
            return frame
        return ModelRows.from_frame(frame, columns, BAND_WEEK_FEATURE)

    def _predictor(self) -> BoosterPredictor:
        """The booster's predictor, built once (again when the booster's ``n_jobs`` has changed since)."""
        threads = prediction_threads(self.booster.n_jobs)
        predictor: BoosterPredictor | None = self._explainer
        if predictor is None or predictor.num_threads != threads:
            n_features = len(self.pipeline.named_steps["select"].columns_)
            predictor = BoosterPredictor(booster_of(self.booster), n_features, threads)
            self._explainer = predictor
        return predictor

    def _raw(self, matrix: FloatArray) -> FloatArray:
        if len(matrix) == 0:  # no rows score to nothing (LightGBM's predict divides by the row count)
            return np.empty(0, dtype=np.float64)
        return self._predictor().raw(matrix)

    def _calibrate(self, raw: FloatArray) -> FloatArray:
        """``self.calibrator.transform(raw)``, the same floats without scikit-learn's per-call validation."""
        fast = calibrated(self.calibrator.method, self.calibrator.model, raw)
        return self.calibrator.transform(raw) if fast is None else fast

    def _contributions(self, matrix: FloatArray) -> tuple[FloatArray, float]:
        if len(matrix) == 0:  # no rows: no contributions, and the base value of any row
            _, base_value = self._predictor().contributions(np.zeros((1, matrix.shape[1])))
            return np.empty((0, matrix.shape[1]), dtype=np.float64), base_value
        return self._predictor().contributions(matrix)

    def _band_week(self, rows: ModelRows) -> npt.NDArray[np.int64] | None:
        """The week of the programme year of each row: the input's week column, else the model's own."""
        source = rows.weeks_since_start
        if source is None:
            source = rows.column(BAND_WEEK_FEATURE)
        return None if source is None else band_week(source)

    def _reasons(self, matrix: FloatArray, shap_values: FloatArray, top_n: int) -> list[list[Reason]]:
        return reasons_for_rows(
            self.features,
            matrix.tolist(),
            np.asarray(shap_values, dtype=np.float64).tolist(),
            self.feature_register(),
            self.reason_questionnaire(),
            top_n,
        )

    def raw_score(self, frame: pd.DataFrame | ModelRows) -> FloatArray:
        """LightGBM log-odds before calibration."""
        return self._raw(self._rows(frame).matrix)

    def predict_proba(self, frame: pd.DataFrame | ModelRows) -> FloatArray:
        """Calibrated probability of vsv within the horizon."""
        return self._calibrate(self.raw_score(frame))

    def band_weeks(self, frame: pd.DataFrame) -> npt.NDArray[np.int64] | None:
        """The week of the programme year of each row (for the per-week bands), or None without it."""
        if BAND_WEEK_FEATURE not in frame.columns:
            return None
        return band_week(frame[BAND_WEEK_FEATURE].to_numpy())

    def bands(self, frame: pd.DataFrame, p: FloatArray) -> npt.NDArray[np.object_]:
        """The band of each probability ``p`` of the rows of ``frame``, in the row's own week."""
        return self.thresholds.band(p, self.band_weeks(frame))

    def is_high(self, frame: pd.DataFrame, p: FloatArray) -> npt.NDArray[np.bool_]:
        """Whether each row of ``frame`` with probability ``p`` is in "hoog" in its own week."""
        return self.thresholds.is_high(p, self.band_weeks(frame))

    def explainer(self) -> BoosterPredictor:
        """``shap_values`` and ``expected_value`` as ``shap.TreeExplainer`` has them, from LightGBM's own
        TreeSHAP (the call that explainer makes for this model); built once, which also warms the booster."""
        return self._predictor()

    def explain(self, frame: pd.DataFrame | ModelRows) -> tuple[FloatArray, float]:
        """SHAP contributions (log-odds scale) per row and feature, and the base value: LightGBM's TreeSHAP
        (``pred_contrib``), the values ``shap.TreeExplainer`` gives for this model."""
        return self._contributions(self._rows(frame).matrix)

    def reasons(
        self, frame: pd.DataFrame | ModelRows, shap_values: FloatArray, top_n: int = TOP_N
    ) -> list[list[Reason]]:
        """Per row at most ``top_n`` reasons a mentor can act on (:func:`models.reasons.top_reasons`)."""
        return self._reasons(self._rows(frame).matrix, shap_values, top_n)

    def score(self, frame: pd.DataFrame | ModelRows, explain: bool = True, top_n: int = TOP_N) -> Scored:
        """Score rows of a snapshot: probability, interval, band (with uncertainty), SHAP and reasons.

        ``frame`` is a snapshot frame or :class:`models.fast_path.ModelRows` (no DataFrame at all); the
        model's columns are selected and checked once, and the raw score, the SHAP values and the reasons
        all come from that one matrix. Rows marked ``insufficient_data`` get the band "onvoldoende
        gegevens" (their probability is still computed and stored, but the band says it rests on too
        little).
        """
        rows = self._rows(frame)
        raw = self._raw(rows.matrix)
        p = self._calibrate(raw)
        lower, upper = wilson_interval(p, self.calibrator.support(raw))
        week = self._band_week(rows)
        band = self.thresholds.band(p, week)
        uncertain = self.thresholds.band(lower, week) != self.thresholds.band(upper, week)
        if rows.insufficient is not None:
            band = np.where(rows.insufficient, BAND_INSUFFICIENT, band).astype(object)
        if explain:
            shap_values, base_value = self._contributions(rows.matrix)
            reasons = self._reasons(rows.matrix, shap_values, top_n)
        else:
            shap_values, base_value, reasons = np.empty((len(rows), 0)), float("nan"), []
        return Scored(p, lower, upper, band, uncertain, raw, shap_values, base_value, reasons)
