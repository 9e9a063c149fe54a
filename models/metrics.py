"""Evaluation metrics: small pure functions on labels and scores.

Precision and recall at the top k% match the coachklas: a fixed number of places, filled from the top.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

Array = npt.NDArray[Any]


def expected_calibration_error(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> float:
    """Sum over non-empty bins of (rows in bin / all rows) * |observed rate - mean probability|.

    ``quantile`` bins hold equal numbers of rows (the default: at a low base rate, equal-width bins put
    nearly every row in the first bin); ``uniform`` bins are equal-width on [0, 1], with p = 1 in the last.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.asarray(p, dtype=np.float64)
    if y_arr.ndim != 1 or y_arr.shape != p_arr.shape:
        raise ValueError(f"y and p must be 1-d and of the same length, got {y_arr.shape} and {p_arr.shape}")
    if len(y_arr) == 0:
        raise ValueError("y and p are empty")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 and 1")
    if np.isnan(p_arr).any() or (p_arr < 0).any() or (p_arr > 1).any():
        raise ValueError("p must be probabilities in [0, 1]")
    if strategy == "uniform":
        bins = np.minimum((p_arr * n_bins).astype(np.int64), n_bins - 1)
    else:
        edges = np.unique(np.quantile(p_arr, np.linspace(0, 1, n_bins + 1)))
        bins = np.clip(np.searchsorted(edges, p_arr, side="right") - 1, 0, max(len(edges) - 2, 0))
    counts = np.bincount(bins, minlength=n_bins)
    observed = np.bincount(bins, weights=y_arr, minlength=n_bins)
    predicted = np.bincount(bins, weights=p_arr, minlength=n_bins)
    filled = counts > 0
    return float(np.sum(np.abs(observed[filled] - predicted[filled])) / len(y_arr))


def top_k_mask(p: Array, share: float) -> npt.NDArray[np.bool_]:
    """The ``share`` of rows with the highest scores (at least one row; ties broken by order)."""
    n = len(p)
    k = max(1, round(share * n))
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def precision_recall_at(y: Array, flagged: npt.NDArray[np.bool_]) -> tuple[float, float]:
    y = np.asarray(y, dtype=bool)
    tp = float((y & flagged).sum())
    precision = tp / flagged.sum() if flagged.sum() else float("nan")
    recall = tp / y.sum() if y.sum() else float("nan")
    return precision, recall


def binary_metrics(y: npt.ArrayLike, p: npt.ArrayLike, k_share: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, ECE and precision/recall at the top ``k_share``."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    both = len(np.unique(y)) == 2
    probabilistic = len(p) > 0 and bool(((p >= 0) & (p <= 1)).all())  # a rule count is a ranking, not a risk
    precision, recall = precision_recall_at(y, top_k_mask(p, k_share))
    return {
        "n": float(len(y)),
        "positives": float(y.sum()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if probabilistic else float("nan"),
        "ece": expected_calibration_error(y, p) if probabilistic else float("nan"),
        "precision_at_k": precision,
        "recall_at_k": recall,
    }


def lead_times(frame: pd.DataFrame, flagged: str, exit_week: pd.Series) -> pd.Series:
    """Weeks between a vsv'er first being flagged and leaving, per student who left as vsv.

    ``frame`` has one row per student and as-of week (columns student_id, as_of and the boolean
    ``flagged``); ``exit_week`` maps vsv'ers' student_id to their last week. Students never flagged
    before leaving get 0.
    """
    leavers = frame[frame["student_id"].isin(exit_week.index)]
    leavers = leavers[leavers["as_of"] < leavers["student_id"].map(exit_week)]
    first = leavers[leavers[flagged]].groupby("student_id")["as_of"].min()
    lead = (exit_week.reindex(first.index) - first).astype(float)
    seen = leavers["student_id"].unique()
    return lead.reindex(seen, fill_value=0.0)
