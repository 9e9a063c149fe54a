"""Fairness per audit-only attribute (gender, migration background) and per level and age group, with
Fairlearn's :class:`~fairlearn.metrics.MetricFrame`: selection rate, false positive and false negative
rates, precision and calibration (observed / predicted vsv rate), each as a ratio to a reference group.

Protected attributes come from the audit-only table and are joined here, after scoring: they never reach
the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    mean_prediction,
    selection_rate,
)
from sklearn.metrics import precision_score

from models.evaluation import LABEL, age_group
from monitoring.config import FairnessConfig
from monitoring.model import band_weeks

ATTRIBUTES = ("gender", "migration_background", "level", "age_group")
RATE_METRICS = ("selection_rate", "false_positive_rate", "false_negative_rate", "precision")
METRICS = (*RATE_METRICS, "calibration")
NEEDS_POSITIVES = ("false_negative_rate", "precision", "calibration")


def _precision(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    return float(precision_score(y_true, y_pred, zero_division=np.nan))


def _positives(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    return float(np.sum(np.asarray(y_true, dtype=np.float64)))


def _observed(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    return float(np.mean(np.asarray(y_true, dtype=np.float64)))


def audit_frame(rows: pd.DataFrame, audit: pd.DataFrame | None) -> pd.DataFrame:
    """Scored rows with the attributes: gender and migration background from ``audit``, level, age group."""
    out = rows.copy()
    out["level"] = out["level"].astype(int).astype(str)
    out["age_group"] = age_group(out)
    if audit is not None and not audit.empty:
        keep = [c for c in ("student_id", "gender", "migration_background") if c in audit.columns]
        out = out.merge(audit[keep], on="student_id", how="left", validate="many_to_one")
    return out


def group_metrics(frame: pd.DataFrame, attribute: str, flagged: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """Per group of ``attribute``: rows, vsv rows and the metrics, from two Fairlearn MetricFrames."""
    y = frame[LABEL].to_numpy(dtype=int)
    groups = frame[attribute].fillna("onbekend").astype(str)
    rates = MetricFrame(
        metrics={
            "n": count,
            "positives": _positives,
            "selection_rate": selection_rate,
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
            "precision": _precision,
        },
        y_true=y,
        y_pred=flagged.astype(int),
        sensitive_features=groups.rename(attribute),
    )
    calibration = MetricFrame(
        metrics={"mean_probability": mean_prediction, "observed_rate": _observed},
        y_true=y,
        y_pred=frame["probability"].to_numpy(dtype=float),
        sensitive_features=groups.rename(attribute),
    )
    out: pd.DataFrame = pd.concat([rates.by_group, calibration.by_group], axis=1).astype(float)
    out["calibration"] = out["observed_rate"] / out["mean_probability"].where(out["mean_probability"] > 0)
    return out


def _denominators(table: pd.DataFrame, rows_per_student: float) -> dict[str, pd.Series]:
    """Rows each rate is a share of, in students (a student counts once however many weeks it appears)."""
    n = table["n"] / rows_per_student
    positives = table["positives"] / rows_per_student
    return {
        "selection_rate": n,
        "false_positive_rate": n - positives,
        "false_negative_rate": positives,
        "precision": table["selection_rate"] * n,
    }


def _z_rates(value: pd.Series, base: float, size: pd.Series, base_size: float) -> pd.Series:
    """Two-proportion z statistic of each group's rate against the reference group's (NaN without rows)."""
    if base_size <= 0:
        return pd.Series(np.nan, index=value.index)
    size = size.where(size > 0)
    pooled = (value * size + base * base_size) / (size + base_size)
    se = (pooled * (1 - pooled) * (1 / size + 1 / base_size)) ** 0.5
    z: pd.Series = (value - base).abs() / se.where(se > 0)
    return z


def _z_calibration(table: pd.DataFrame, reference: str, rows_per_student: float) -> pd.Series:
    """Observed vsv count of each group against the count the reference group's calibration predicts."""
    ref_calibration = float(np.asarray(table.loc[reference, "calibration"], dtype=np.float64))
    expected = ref_calibration * table["mean_probability"] * table["n"] / rows_per_student
    observed = table["positives"] / rows_per_student
    z: pd.Series = (observed - expected).abs() / expected.where(expected > 0) ** 0.5
    return z


def ratios_to_reference(
    table: pd.DataFrame, reference: str, config: FairnessConfig, rows_per_student: float = 1.0
) -> pd.DataFrame:
    """Add ``<metric>_ratio`` (group / reference group), ``<metric>_z`` (the difference in standard errors)
    and ``<metric>_flag``: ratio outside the range, groups large enough, and the difference significant."""
    out = table.copy()
    ref = table.loc[reference]
    sizes = _denominators(table, rows_per_student)
    big = (out["n"] >= config.min_group_rows) & (ref["n"] >= config.min_group_rows)
    enough_positives = (out["positives"] >= config.min_group_positives) & (
        ref["positives"] >= config.min_group_positives
    )
    for metric in METRICS:
        base = float(np.asarray(ref[metric], dtype=np.float64))
        valid = bool(base) and np.isfinite(base)
        out[f"{metric}_ratio"] = out[metric] / base if valid else np.nan
        if metric == "calibration":
            out[f"{metric}_z"] = _z_calibration(table, reference, rows_per_student)
        else:
            out[f"{metric}_z"] = _z_rates(out[metric], base, sizes[metric], float(sizes[metric][reference]))
        eligible = big & enough_positives if metric in NEEDS_POSITIVES else big
        ratio = out[f"{metric}_ratio"]
        outside = (ratio < config.ratio_range.low) | (ratio > config.ratio_range.high)
        out[f"{metric}_flag"] = eligible & ratio.notna() & outside & (out[f"{metric}_z"] > config.min_z)
    return out


def selected_high(frame: pd.DataFrame, high: float | Any) -> npt.NDArray[np.bool_]:
    """Rows whose ``probability`` reaches "hoog": a single cut, or a model's band thresholds
    (``is_high(p, week)``, per week of the programme year from ``weeks_since_start``)."""
    p = frame["probability"].to_numpy(dtype=float)
    if isinstance(high, int | float):
        out: npt.NDArray[np.bool_] = p >= float(high)
        return out
    return np.asarray(high.is_high(p, band_weeks(frame)), dtype=bool)


def fairness_table(
    frame: pd.DataFrame,
    high: float | Any,
    config: FairnessConfig,
    attributes: tuple[str, ...] = ATTRIBUTES,
) -> pd.DataFrame:
    """One row per attribute and group: metrics, ratios to the reference group and flags.

    A student is *selected* when the probability reaches the band "hoog" (``high``: a cut, or the
    model's :class:`models.risk_model.BandThresholds`, which cut per week).
    """
    flagged = selected_high(frame, high)
    rows_per_student = len(frame) / max(frame["student_id"].nunique(), 1)
    parts = []
    for attribute in attributes:
        if attribute not in frame.columns or frame[attribute].isna().all():
            continue
        table = group_metrics(frame, attribute, flagged)
        reference = config.reference_groups.get(attribute, "")
        if reference not in table.index:
            reference = str(table["n"].idxmax())
        table = ratios_to_reference(table, reference, config, rows_per_student)
        table.index = table.index.astype(str).rename("group")
        table = table.reset_index()
        table.insert(0, "attribute", attribute)
        table["reference_group"] = reference
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def fairness_flags(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Every flagged (attribute, group, metric) with its ratio."""
    out = []
    for _, row in table.iterrows():
        for metric in METRICS:
            if bool(row[f"{metric}_flag"]):
                out.append(
                    {
                        "attribute": row["attribute"],
                        "group": row["group"],
                        "reference_group": row["reference_group"],
                        "metric": metric,
                        "ratio": float(row[f"{metric}_ratio"]),
                        "value": float(row[metric]),
                        "z": float(row[f"{metric}_z"]),
                    }
                )
    return out


def fairness_check(table: pd.DataFrame, config: FairnessConfig) -> dict[str, Any]:
    """Flags, and the alert: a flag on an alert attribute and alert metric."""
    flags = fairness_flags(table) if not table.empty else []
    alerting = [
        f for f in flags if f["attribute"] in config.alert_attributes and f["metric"] in config.alert_metrics
    ]
    return {"alert": bool(alerting), "alert_flags": alerting, "flags": flags}
