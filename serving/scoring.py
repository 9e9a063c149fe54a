"""Scoring with storage in mind: turn a :class:`models.risk_model.Scored` batch into rows, and replay a
stored row from its stored inputs.

Stored values are plain JSON: Python writes floats with ``repr`` (shortest round-trip form), so a stored
feature value reads back as the very same float64 and a replay can be compared exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.risk_model import Reason, RiskModel, Scored

FLAGS = ("flag_leerplicht_16u", "flag_4_weeks_absent")


def reason_dicts(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [
        {"feature": r.feature, "text": r.text, "value": r.value, "contribution": r.contribution}
        for r in reasons
    ]


def _bool_column(frame: pd.DataFrame, name: str) -> list[bool]:
    if name not in frame.columns:
        return [False] * len(frame)
    values: list[bool] = frame[name].to_numpy(dtype=bool).tolist()
    return values


def score_rows(frame: pd.DataFrame, scored: Scored, model: RiskModel) -> list[dict[str, Any]]:
    """One dict per row: probability, interval, band, raw score, inputs, SHAP values, reasons, flags."""
    features = list(model.features)
    inputs = model.model_input(frame).to_numpy().tolist()
    shap = scored.shap_values.tolist()
    cols: dict[str, list[Any]] = {
        "probability": scored.probability.tolist(),
        "lower": scored.lower.tolist(),
        "upper": scored.upper.tolist(),
        "band": [str(b) for b in scored.band],
        "band_uncertain": scored.band_uncertain.tolist(),
        "raw_score": scored.raw_score.tolist(),
    }
    flags = {name: _bool_column(frame, name) for name in (*FLAGS, "insufficient_data")}
    rows: list[dict[str, Any]] = []
    for i in range(len(frame)):
        row = {name: values[i] for name, values in cols.items()}
        row["base_value"] = scored.base_value
        row["feature_values"] = dict(zip(features, inputs[i], strict=True))
        row["shap_values"] = dict(zip(features, shap[i], strict=True))
        row["reasons"] = reason_dicts(scored.reasons[i]) if scored.reasons else []
        row.update({name: values[i] for name, values in flags.items()})
        rows.append(row)
    return rows


def frame_from_inputs(
    model: RiskModel, feature_values: Mapping[str, float], insufficient_data: bool
) -> pd.DataFrame:
    """A one-row snapshot frame from stored (or posted) feature values."""
    frame = pd.DataFrame([{name: float(feature_values[name]) for name in model.features}])
    frame = frame.astype(np.float64)
    frame["insufficient_data"] = insufficient_data
    return frame


def score_one(
    model: RiskModel, feature_values: Mapping[str, float], insufficient_data: bool
) -> dict[str, Any]:
    """Score and explain one row of feature values; the same dict :func:`score_rows` stores."""
    frame = frame_from_inputs(model, feature_values, insufficient_data)
    scored = model.score(frame)
    return score_rows(frame, scored, model)[0]


REPLAYED_FIELDS = (
    "probability",
    "lower",
    "upper",
    "band",
    "band_uncertain",
    "raw_score",
    "base_value",
    "shap_values",
    "reasons",
)


@dataclass(frozen=True)
class Difference:
    """One field where a replay differs from the stored score."""

    field: str
    stored: Any
    replayed: Any


def _same(a: Any, b: Any) -> bool:
    """Exact equality; NaN equals NaN (a score without explanation has a NaN base value)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def replay(model: RiskModel, stored: Mapping[str, Any]) -> list[Difference]:
    """Recompute a stored score from its stored inputs; the differences (none when identical)."""
    fresh = score_one(model, stored["feature_values"], bool(stored["insufficient_data"]))
    return [
        Difference(name, stored[name], fresh[name])
        for name in REPLAYED_FIELDS
        if not _same(stored[name], fresh[name])
    ]
