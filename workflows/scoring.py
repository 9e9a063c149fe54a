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

from data.scores import ComputedScore, StoredReason, StoredScore
from models.fast_path import ModelRows, select_columns
from models.risk_model import Reason, RiskModel, Scored

FLAGS = ("flag_leerplicht_16u", "flag_4_weeks_absent")


def stored_reasons(reasons: Sequence[Reason]) -> tuple[StoredReason, ...]:
    return tuple(StoredReason(r.feature, r.text, r.value, r.contribution) for r in reasons)


def _bool_column(frame: pd.DataFrame, name: str) -> list[bool]:
    if name not in frame.columns:
        return [False] * len(frame)
    values: list[bool] = frame[name].to_numpy(dtype=bool).tolist()
    return values


@dataclass(frozen=True)
class _RowInputs:
    """What a stored record takes from the scored input besides the scores: inputs and flags per row."""

    inputs: list[list[float]]
    leerplicht: list[bool]
    absent: list[bool]
    insufficient: list[bool]


def _row_inputs(frame: pd.DataFrame | ModelRows, model: RiskModel) -> _RowInputs:
    """The model inputs (in model order) and the flags of every row of a snapshot frame or model rows
    (which carry no flags but ``insufficient_data``)."""
    if isinstance(frame, ModelRows):
        none = [False] * len(frame)
        insufficient = none if frame.insufficient is None else frame.insufficient.tolist()
        return _RowInputs(frame.matrix.tolist(), none, none, insufficient)
    return _RowInputs(
        select_columns(frame, model.features).tolist(),
        _bool_column(frame, FLAGS[0]),
        _bool_column(frame, FLAGS[1]),
        _bool_column(frame, "insufficient_data"),
    )


def score_rows(frame: pd.DataFrame | ModelRows, scored: Scored, model: RiskModel) -> list[ComputedScore]:
    """One record per row: probability, interval, band, raw score, inputs, SHAP values, reasons, flags."""
    features = list(model.features)
    rows = _row_inputs(frame, model)
    inputs, leerplicht, absent, insufficient = rows.inputs, rows.leerplicht, rows.absent, rows.insufficient
    shap = scored.shap_values.tolist()
    probability, lower, upper = scored.probability.tolist(), scored.lower.tolist(), scored.upper.tolist()
    uncertain, raw = scored.band_uncertain.tolist(), scored.raw_score.tolist()
    return [
        ComputedScore(
            probability=probability[i],
            lower=lower[i],
            upper=upper[i],
            band=str(scored.band[i]),
            band_uncertain=uncertain[i],
            raw_score=raw[i],
            base_value=scored.base_value,
            feature_values=dict(zip(features, inputs[i], strict=True)),
            shap_values=dict(zip(features, shap[i], strict=True)),
            reasons=stored_reasons(scored.reasons[i]) if scored.reasons else (),
            flag_leerplicht_16u=leerplicht[i],
            flag_4_weeks_absent=absent[i],
            insufficient_data=insufficient[i],
        )
        for i in range(len(inputs))
    ]


def frame_from_inputs(
    model: RiskModel, feature_values: Mapping[str, float], insufficient_data: bool
) -> pd.DataFrame:
    """A one-row snapshot frame from stored (or posted) feature values (for callers that want a frame;
    :func:`score_one` scores the values without one)."""
    frame = pd.DataFrame([{name: float(feature_values[name]) for name in model.features}])
    frame = frame.astype(np.float64)
    frame["insufficient_data"] = insufficient_data
    return frame


def score_one(
    model: RiskModel, feature_values: Mapping[str, float], insufficient_data: bool
) -> ComputedScore:
    """Score and explain one row of feature values; the same record :func:`score_rows` stores.

    The values go straight into a one-row model matrix (:class:`models.fast_path.ModelRows`): no
    DataFrame, the columns selected and checked once (a missing column or value is refused as for a
    frame)."""
    rows = ModelRows.from_values(feature_values, model.features, insufficient_data)
    return score_rows(rows, model.score(rows), model)[0]


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


def replay(model: RiskModel, stored: StoredScore) -> list[Difference]:
    """Recompute a stored score from its stored inputs; the differences (none when identical)."""
    fresh = score_one(model, stored.feature_values, stored.insufficient_data)
    pairs = ((name, getattr(stored, name), getattr(fresh, name)) for name in REPLAYED_FIELDS)
    return [
        Difference(name, _json(before), _json(after))
        for name, before, after in pairs
        if not _same(before, after)
    ]


def _json(value: Any) -> Any:
    """A replayed field as the API shows it (reasons as JSON objects)."""
    if isinstance(value, tuple):
        return [r.as_json() if isinstance(r, StoredReason) else r for r in value]
    return value
