"""What monitoring needs from a model: a small protocol that :class:`models.risk_model.RiskModel` meets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.risk_model import BAND_WEEK_FEATURE, band_week


class MonitoredModel(Protocol):
    """A scorer with bands and a training reference (test-fold rows with ``probability`` and ``vsv``)."""

    @property
    def features(self) -> tuple[str, ...]: ...

    @property
    def thresholds(self) -> Any: ...

    @property
    def reference(self) -> pd.DataFrame | None: ...

    @property
    def metadata(self) -> dict[str, Any]: ...

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class ModelTerms:
    """What a model was trained for, read from its own metadata (never from a second configuration):
    the label horizon in school weeks and the capacity share (the "top k", coachklas places)."""

    horizon: int
    capacity_share: float


def model_terms(model: MonitoredModel) -> ModelTerms:
    """The model's horizon and capacity share; a clear error for an artefact that does not carry them."""
    meta = model.metadata
    missing = [key for key in ("horizon", "capacity_share") if key not in meta]
    if missing:
        raise ValueError(
            f"the model does not record {' and '.join(missing)} in its metadata (trained before they were "
            "kept with the model): retrain it with `vsv train`"
        )
    return ModelTerms(horizon=int(meta["horizon"]), capacity_share=float(meta["capacity_share"]))


def shared_terms(models: Iterable[MonitoredModel]) -> ModelTerms:
    """The terms of models compared on the same rows; they must agree, or the comparison means nothing."""
    terms = {model_terms(model) for model in models}
    if len(terms) != 1:
        raise ValueError(
            f"the models were trained for different horizons or capacities: {sorted(map(str, terms))}"
        )
    return terms.pop()


def require_reference(model: MonitoredModel) -> pd.DataFrame:
    """The model's training reference, or a clear error for models trained before it was kept."""
    reference = model.reference
    if reference is None or reference.empty:
        raise ValueError("the model has no training reference: retrain it with the current `vsv train`")
    missing = {"probability", "vsv", "week_in_year", "as_of"} - set(reference.columns)
    if missing:
        raise ValueError(f"the model's training reference lacks columns {sorted(missing)}")
    return reference


def band_weeks(frame: pd.DataFrame) -> npt.NDArray[np.int64] | None:
    """The week of the programme year of each row, for per-week bands (None without ``weeks_since_start``)."""
    if BAND_WEEK_FEATURE not in frame.columns:
        return None
    return band_week(frame[BAND_WEEK_FEATURE].to_numpy())


def score(model: MonitoredModel, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the model's ``probability`` and ``band`` (probability bands only, no SHAP)."""
    out = frame.copy()
    p = np.asarray(model.predict_proba(frame), dtype=np.float64)
    out["probability"] = p
    out["band"] = model.thresholds.band(p, band_weeks(frame))
    return out
