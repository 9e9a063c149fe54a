"""The risk model as one artefact: feature selection, LightGBM, calibration, bands, SHAP explainer, reasons.

What ``training`` fits is exactly what ``serving`` loads (through the MLflow registry,
:mod:`models.registry`): one :class:`RiskModel` object that takes a feature snapshot
(``features.snapshot``) and returns calibrated probabilities with an uncertainty interval, a band, and
plain-Dutch reasons from SHAP contributions. Which contributions become reasons, and their wording, is
:mod:`models.reasons` (only changeable signals the feature register allows, pushing the risk up, on the
worrying side, at most three).

SHAP contributions are computed on the LightGBM model's log-odds scale, before calibration: they rank and
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

from data.questionnaire import Questionnaire, cached_questionnaire
from data.vocabulary import BAND_ELEVATED, BAND_HIGH, BAND_INSUFFICIENT, BAND_LOW
from features.register import Feature, features_by_name
from models.reasons import TOP_N, Reason, format_value, reasons_for_rows

__all__ = [
    "BANDS",
    "BandThresholds",
    "CalibrationMethod",
    "Calibrator",
    "ColumnSelector",
    "Reason",
    "RiskModel",
    "Scored",
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
class Calibrator:
    """Maps raw log-odds to calibrated probabilities, and says how many calibration rows back each value."""

    method: CalibrationMethod
    model: Any
    bin_edges: FloatArray  # raw-score quantile edges of the calibration rows
    bin_counts: npt.NDArray[np.int64]

    @classmethod
    def fit(cls, raw: FloatArray, y: npt.NDArray[Any], method: CalibrationMethod) -> Calibrator:
        if method == "isotonic":
            model: Any = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
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


def wilson_interval(
    p: FloatArray, n: npt.NDArray[np.int64], z: float = Z_95
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for proportions ``p`` observed on ``n`` rows."""
    n_f = np.maximum(n.astype(np.float64), 1.0)
    denom = 1 + z**2 / n_f
    centre = (p + z**2 / (2 * n_f)) / denom
    half = z * np.sqrt(p * (1 - p) / n_f + z**2 / (4 * n_f**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


@dataclass(frozen=True)
class BandThresholds:
    """Probability thresholds of the bands, set on the calibration fold."""

    elevated: float
    high: float

    def band(self, p: FloatArray) -> npt.NDArray[np.object_]:
        return np.where(
            p >= self.high, BAND_HIGH, np.where(p >= self.elevated, BAND_ELEVATED, BAND_LOW)
        ).astype(object)


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

    def raw_score(self, frame: pd.DataFrame) -> FloatArray:
        """LightGBM log-odds before calibration."""
        x = self.model_input(frame)
        return np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probability of vsv within the horizon."""
        return self.calibrator.transform(self.raw_score(frame))

    def explainer(self) -> Any:
        if self._explainer is None:
            import shap

            self._explainer = shap.TreeExplainer(self.booster)
        return self._explainer

    def explain(self, frame: pd.DataFrame) -> tuple[FloatArray, float]:
        """SHAP contributions (log-odds scale) per row and feature, and the base value."""
        x = self.model_input(frame)
        explainer = self.explainer()
        values = explainer.shap_values(x)
        if isinstance(values, list):  # older SHAP: one array per class
            values = values[1]
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 3:
            values = values[:, :, 1]
        base = explainer.expected_value
        base_value = float(np.asarray(base).ravel()[-1])
        return values, base_value

    def reasons(self, frame: pd.DataFrame, shap_values: FloatArray, top_n: int = TOP_N) -> list[list[Reason]]:
        """Per row at most ``top_n`` reasons a mentor can act on (:func:`models.reasons.top_reasons`)."""
        return reasons_for_rows(
            self.features,
            self.model_input(frame).to_numpy().tolist(),
            np.asarray(shap_values, dtype=np.float64).tolist(),
            self.feature_register(),
            self.reason_questionnaire(),
            top_n,
        )

    def score(self, frame: pd.DataFrame, explain: bool = True, top_n: int = TOP_N) -> Scored:
        """Score rows of a snapshot: probability, interval, band (with uncertainty), SHAP and reasons.

        Rows marked ``insufficient_data`` get the band "onvoldoende gegevens" (their probability is still
        computed and stored, but the band says it rests on too little).
        """
        raw = self.raw_score(frame)
        p = self.calibrator.transform(raw)
        lower, upper = wilson_interval(p, self.calibrator.support(raw))
        band = self.thresholds.band(p)
        uncertain = self.thresholds.band(lower) != self.thresholds.band(upper)
        if "insufficient_data" in frame.columns:
            insufficient = frame["insufficient_data"].to_numpy(dtype=bool)
            band = np.where(insufficient, BAND_INSUFFICIENT, band).astype(object)
        if explain:
            shap_values, base_value = self.explain(frame)
            reasons = self.reasons(frame, shap_values, top_n)
        else:
            shap_values, base_value, reasons = np.empty((len(frame), 0)), float("nan"), []
        return Scored(p, lower, upper, band, uncertain, raw, shap_values, base_value, reasons)
