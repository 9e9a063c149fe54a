"""What monitoring needs from a model: a small protocol that :class:`models.risk_model.RiskModel` meets."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd


class MonitoredModel(Protocol):
    """A scorer with bands and a training reference (test-fold rows with ``probability`` and ``vsv``)."""

    @property
    def features(self) -> tuple[str, ...]: ...

    @property
    def thresholds(self) -> Any: ...

    @property
    def reference(self) -> pd.DataFrame | None: ...

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]: ...


def require_reference(model: MonitoredModel) -> pd.DataFrame:
    """The model's training reference, or a clear error for models trained before it was kept."""
    reference = model.reference
    if reference is None or reference.empty:
        raise ValueError("the model has no training reference: retrain it with the current `vsv train`")
    missing = {"probability", "vsv", "week_in_year", "as_of"} - set(reference.columns)
    if missing:
        raise ValueError(f"the model's training reference lacks columns {sorted(missing)}")
    return reference


def score(model: MonitoredModel, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the model's ``probability`` and ``band`` (probability bands only, no SHAP)."""
    out = frame.copy()
    p = np.asarray(model.predict_proba(frame), dtype=np.float64)
    out["probability"] = p
    out["band"] = model.thresholds.band(p)
    return out
