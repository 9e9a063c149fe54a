"""Performance on matured labels: labels arrive late, so only as-of weeks whose horizon has passed by the
monitored week are evaluated. Metrics come from :mod:`models.metrics` and :mod:`models.evaluation`.
The labels are rebuilt as the model was trained (:func:`label_kind`): a ``programme_end`` model is judged
on the rows of those weeks whose window (to the student's expected end) closed by the monitored week.

A drop in ranking (ROC-AUC, precision in the top k) is flagged when it is both larger than the configured
limit and larger than ``min_z`` standard errors. Calibration is off when the mean predicted probability lies
outside the interval around the observed vsv rate (:func:`observed_interval`). The rows are student-weeks:
one student appears in several weeks, so the uncertainty counts distinct students, not rows.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from data.questionnaire import Questionnaire
from data.tables import RawTables
from features import build_training_set
from features.labels import DEFAULT_LABEL, LABEL_KINDS, LabelKind, window_end
from models.evaluation import LABEL, overall_metrics, per_week_top
from models.metrics import binary_metrics
from models.risk_model import wilson_interval as score_interval
from monitoring.config import MonitoringConfig, PerformanceConfig
from monitoring.model import MonitoredModel, score

SCORE = "probability"


def label_kind(model: MonitoredModel) -> LabelKind:
    """The model's label (its metadata's ``label``); models trained before it was recorded: ``horizon``."""
    value = model.metadata.get("label", DEFAULT_LABEL)
    for kind in LABEL_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"the model records label {value!r}, expected one of {LABEL_KINDS}")


def matured_weeks(week: int, horizon: int, config: MonitoringConfig) -> list[int]:
    """The ``performance.weeks`` latest as-of weeks whose ``horizon`` ended by the end of ``week``."""
    last = week - horizon
    return [w for w in range(last - config.performance.weeks + 1, last + 1) if w >= 0]


def matured_rows(
    tables: RawTables,
    model: MonitoredModel,
    weeks: list[int],
    known_until: int,
    horizon: int,
    questionnaire: Questionnaire,
    progress: bool = False,
) -> pd.DataFrame:
    """Scored student-weeks of ``weeks`` with their labels, as known by the end of ``known_until``: the
    model's label kind (:func:`label_kind`), rows whose label window closed by then."""
    if not weeks:
        return pd.DataFrame(columns=["student_id", "as_of", LABEL, SCORE, "band"])
    return score(
        model, closed_rows(tables, weeks, known_until, horizon, label_kind(model), questionnaire, progress)
    )


def closed_rows(
    tables: RawTables,
    weeks: list[int],
    known_until: int,
    horizon: int,
    label: LabelKind,
    questionnaire: Questionnaire,
    progress: bool = False,
) -> pd.DataFrame:
    """The training-set rows of ``weeks`` as known by the end of ``known_until`` whose label window closed
    by then. ``horizon``: the mature rows. ``programme_end``: rows whose window ends by ``known_until``
    (:func:`features.labels.window_end`), not every mature row: an outcome seen before the window ends is
    final, but taking those rows would favour the students who left."""
    known = tables.until(known_until)
    rows = build_training_set(
        known, weeks, horizon, questionnaire, progress=progress, max_week=known_until, label=label
    )
    closed = rows["label_mature"] & (window_end(rows, known.students, label, horizon) <= known_until)
    return rows[closed].reset_index(drop=True)


def calibration_ratio(y: pd.Series, p: pd.Series) -> float:
    """Observed vsv rate / mean predicted probability (1 = calibrated in the large)."""
    predicted = float(p.mean())
    return float(y.mean()) / predicted if predicted > 0 else float("nan")


def wilson_interval(rate: float, n: float, level: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``rate`` observed on ``n`` (possibly effective) rows."""
    if n <= 0 or not math.isfinite(rate):
        return float("nan"), float("nan")
    low, high = score_interval(np.array([rate]), np.array([n]), NormalDist().inv_cdf(0.5 + level / 2))
    return float(low[0]), float(high[0])


def effective_rows(frame: pd.DataFrame) -> float:
    """The number of independent rows the observed vsv rate is worth: the rows divided by the design
    effect of repeated student-weeks (a student who leaves is positive in several as-of weeks).

    The variance of the rate is the ratio estimator's over students (each student one cluster); a rate of
    0 or 1 has no spread to measure, and then every student counts once.
    """
    rows = len(frame)
    if rows == 0:
        return 0.0
    per_student = frame.groupby("student_id")[LABEL].agg(["sum", "count"])
    students = len(per_student)
    rate = float(frame[LABEL].mean())
    if students < 2 or rate in (0.0, 1.0):
        return float(students)
    residual = per_student["sum"] - rate * per_student["count"]
    variance = students / (students - 1) * float((residual**2).sum()) / rows**2
    if variance <= 0:
        return float(students)
    return float(min(rate * (1 - rate) / variance, rows))


def observed_interval(frame: pd.DataFrame, level: float) -> tuple[float, float]:
    """The ``level`` interval of the observed vsv rate of ``frame`` (columns ``student_id`` and ``vsv``):
    Wilson's, on the effective number of rows (:func:`effective_rows`)."""
    return wilson_interval(float(frame[LABEL].mean()), effective_rows(frame), level)


def metrics_of(frame: pd.DataFrame, share: float, level: float = 0.95) -> dict[str, float]:
    """Pooled metrics, precision at k taken per as-of week (the coachklas fills places each week), the
    observed vsv rate with its ``level`` interval, and the distinct students behind them."""
    pooled = overall_metrics(frame, [SCORE], share).loc[SCORE]
    out = {str(k): float(np.asarray(v, dtype=np.float64)) for k, v in pooled.items()}
    top = per_week_top(frame, SCORE, share)
    out["mean_probability"] = float(frame[SCORE].mean())
    out["observed_rate"] = float(frame[LABEL].mean())
    out["calibration_ratio"] = calibration_ratio(frame[LABEL], frame[SCORE])
    out["observed_low"], out["observed_high"] = observed_interval(frame, level)
    out["effective_rows"] = effective_rows(frame)
    out["students"] = float(frame["student_id"].nunique())
    out["vsv_students"] = float(frame.loc[frame[LABEL] == 1, "student_id"].nunique())
    out["top_k_students"] = float(frame.loc[top, "student_id"].nunique())
    out["rows_per_student"] = len(frame) / max(out["students"], 1.0)
    return out


def metrics_by_week(frame: pd.DataFrame, share: float, level: float = 0.95) -> pd.DataFrame:
    """One row per as-of week: ROC-AUC, precision at k, Brier, ECE, mean predicted and observed rate with
    its ``level`` interval (:func:`observed_interval`, one row per student in a week)."""
    rows = []
    for as_of, part in frame.groupby("as_of"):
        m = binary_metrics(part[LABEL], part[SCORE], share)
        low, high = observed_interval(part, level)
        rows.append(
            {
                "as_of": int(str(as_of)),
                **m,
                "mean_probability": float(part[SCORE].mean()),
                "observed_rate": float(part[LABEL].mean()),
                "observed_low": low,
                "observed_high": high,
            }
        )
    return pd.DataFrame(rows)


def auc_standard_error(auc: float, positives: float, negatives: float) -> float:
    """Hanley and McNeil (1982)."""
    if positives < 1 or negatives < 1 or not math.isfinite(auc):
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(var, 0.0))


def _significant(difference: float, se: float, min_z: float) -> bool:
    return bool(math.isfinite(se) and se > 0 and difference / se > min_z)


def percent_nl(value: float, digits: int = 1) -> str:
    """A share as a Dutch percentage: 0.0195 -> "2,0%"."""
    return f"{value * 100:.{digits}f}%".replace(".", ",")


def calibration_off(current: dict[str, float]) -> bool:
    """The mean predicted probability lies outside the interval of the observed vsv rate."""
    predicted = current.get("mean_probability", float("nan"))
    low, high = current.get("observed_low", float("nan")), current.get("observed_high", float("nan"))
    if not all(math.isfinite(v) for v in (predicted, low, high)):
        return False
    return bool(predicted < low or predicted > high)


def calibration_reason(current: dict[str, float], level: float) -> str | None:
    """The Dutch reason when calibration is off, else None."""
    if not calibration_off(current):
        return None
    predicted = current["mean_probability"]
    direction = "te laag" if predicted < current["observed_low"] else "te hoog"
    interval = f"{percent_nl(current['observed_low'])}-{percent_nl(current['observed_high'])}"
    return (
        f"kalibratie: werkelijk {percent_nl(current['observed_rate'])} vsv "
        f"({level:.0%}-interval {interval}), voorspeld gemiddeld {percent_nl(predicted)}: "
        f"het model schat het risico {direction}"
    )


def performance_check(
    current: dict[str, float], reference: dict[str, float], config: PerformanceConfig
) -> dict[str, Any]:
    """Compare pooled metrics with the reference figures (the model card's, measured on the reference rows
    kept with the model); flag material and significant drops. Brier and ECE are reported, not judged:
    they move with the base rate."""
    reasons: list[str] = []
    judged = current.get("positives", 0.0) >= config.min_positives
    if judged:
        auc_drop = reference["roc_auc"] - current["roc_auc"]
        se = auc_standard_error(
            current["roc_auc"], current["vsv_students"], current["students"] - current["vsv_students"]
        )
        if auc_drop > config.max_auc_drop and _significant(auc_drop, se, config.min_z):
            reasons.append(f"ROC-AUC {current['roc_auc']:.3f}, bij training {reference['roc_auc']:.3f}")
        p0, p = reference["precision_at_k"], current["precision_at_k"]
        se_p = math.sqrt(p0 * (1 - p0) / max(current["top_k_students"], 1.0))
        if p < p0 * (1 - config.max_precision_drop_relative) and _significant(p0 - p, se_p, config.min_z):
            reasons.append(f"precisie in de top {p:.3f}, bij training {p0:.3f}")
        calibration = calibration_reason(current, config.calibration_level)
        if calibration:
            reasons.append(calibration)
    return {
        "judged": bool(judged),
        "calibration_alert": bool(judged and calibration_off(current)),
        "calibration_level": config.calibration_level,
        "alert": bool(reasons),
        "reasons": reasons,
        "current": current,
        "reference": reference,
        "roc_auc_drop": reference["roc_auc"] - current.get("roc_auc", np.nan),
    }
