"""Performance on matured labels: labels arrive late, so only as-of weeks whose horizon has passed by the
monitored week are evaluated. Metrics come from :mod:`models.metrics` and :mod:`models.evaluation`.

A drop is flagged when it is both larger than the configured limit and larger than ``min_z`` standard
errors. The rows are student-weeks: one student appears in several weeks, so the standard errors count
distinct students, not rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from data.questionnaire import Questionnaire
from data.tables import RawTables
from features import build_training_set
from models.evaluation import LABEL, overall_metrics, per_week_top
from models.metrics import binary_metrics
from monitoring.config import MonitoringConfig, PerformanceConfig
from monitoring.model import MonitoredModel, score

SCORE = "probability"


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
    """Scored student-weeks of ``weeks`` with their labels, as known by the end of ``known_until``."""
    if not weeks:
        return pd.DataFrame(columns=["student_id", "as_of", LABEL, SCORE, "band"])
    rows = build_training_set(
        tables.until(known_until), weeks, horizon, questionnaire, progress=progress, max_week=known_until
    )
    rows = rows[rows["label_mature"]].reset_index(drop=True)
    return score(model, rows)


def calibration_ratio(y: pd.Series, p: pd.Series) -> float:
    """Observed vsv rate / mean predicted probability (1 = calibrated in the large)."""
    predicted = float(p.mean())
    return float(y.mean()) / predicted if predicted > 0 else float("nan")


def metrics_of(frame: pd.DataFrame, share: float) -> dict[str, float]:
    """Pooled metrics, precision at k taken per as-of week (the coachklas fills places each week), and the
    distinct students behind them."""
    pooled = overall_metrics(frame, [SCORE], share).loc[SCORE]
    out = {str(k): float(np.asarray(v, dtype=np.float64)) for k, v in pooled.items()}
    top = per_week_top(frame, SCORE, share)
    out["mean_probability"] = float(frame[SCORE].mean())
    out["observed_rate"] = float(frame[LABEL].mean())
    out["calibration_ratio"] = calibration_ratio(frame[LABEL], frame[SCORE])
    out["students"] = float(frame["student_id"].nunique())
    out["vsv_students"] = float(frame.loc[frame[LABEL] == 1, "student_id"].nunique())
    out["top_k_students"] = float(frame.loc[top, "student_id"].nunique())
    out["rows_per_student"] = len(frame) / max(out["students"], 1.0)
    return out


def metrics_by_week(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """One row per as-of week: ROC-AUC, precision at k, Brier, ECE, mean predicted and observed rate."""
    rows = []
    for as_of, part in frame.groupby("as_of"):
        m = binary_metrics(part[LABEL], part[SCORE], share)
        rows.append(
            {
                "as_of": int(str(as_of)),
                **m,
                "mean_probability": float(part[SCORE].mean()),
                "observed_rate": float(part[LABEL].mean()),
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
        ratio = current["calibration_ratio"]
        expected = current["mean_probability"] * current["students"]
        observed = current["observed_rate"] * current["students"]
        if config.calibration_ratio.outside(ratio) and _significant(
            abs(observed - expected), math.sqrt(max(expected, 1e-9)), config.min_z
        ):
            reasons.append(
                f"kalibratie: werkelijk {current['observed_rate']:.1%} vsv, voorspeld "
                f"{current['mean_probability']:.1%} (bij training {reference['calibration_ratio']:.2f}x)"
            )
    return {
        "judged": bool(judged),
        "alert": bool(reasons),
        "reasons": reasons,
        "current": current,
        "reference": reference,
        "roc_auc_drop": reference["roc_auc"] - current.get("roc_auc", np.nan),
    }
