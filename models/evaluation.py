"""Evaluation on the test fold: the model beside the oracle, the rule baseline, logistic regression and the
model without the questionnaire, overall and per as-of week; lead times; subgroup metrics.

Top-k selections are made per as-of week (the coachklas fills its places each week), then pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.vocabulary import BAND_ELEVATED, BAND_HIGH
from models.metrics import binary_metrics, lead_times, precision_recall_at

LABEL = "vsv"
COMPARED = ["roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "recall_at_k"]


def age_group(frame: pd.DataFrame) -> pd.Series:
    """ "onder 18" / "18+" from the snapshot's ``over_18`` column, for subgroup audits."""
    return pd.Series(np.where(frame["over_18"].astype(bool), "18+", "onder 18"), index=frame.index)


def per_week_top(frame: pd.DataFrame, score: str, share: float | pd.Series, week: str = "as_of") -> pd.Series:
    """True for the top ``share`` of rows by ``score`` within each as-of week.

    ``share`` may be a number or a Series mapping week -> share (to match another scorer's flag rate).
    """
    ranks = frame.groupby(week)[score].rank(method="first", ascending=False)
    sizes = frame.groupby(week)[score].transform("size")
    shares = frame[week].map(share) if isinstance(share, pd.Series) else share
    k = np.maximum(np.round(shares * sizes), 0)
    if not isinstance(share, pd.Series):
        k = np.maximum(k, 1)
    return pd.Series(ranks <= k, index=frame.index)


@dataclass
class Evaluation:
    """Everything measured on the test fold."""

    overall: pd.DataFrame
    by_week: pd.DataFrame
    same_flag_rate: dict[str, float]
    lead: pd.DataFrame
    subgroups: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    # Per week of the test year: the share of students in each band (``band_shares``).
    band_shares: pd.DataFrame = field(default_factory=pd.DataFrame)


def band_shares(weeks: pd.Series, bands: pd.Series) -> pd.DataFrame:
    """Per week: students scored, and the share in "hoog" and in "verhoogd" or higher."""
    frame = pd.DataFrame({"week_in_year": weeks.to_numpy(), "band": bands.to_numpy()})
    grouped = frame.groupby("week_in_year")["band"]
    return pd.DataFrame(
        {
            "students": grouped.size(),
            "high_share": grouped.apply(lambda b: float((b == BAND_HIGH).mean())),
            "elevated_or_high_share": grouped.apply(
                lambda b: float(b.isin((BAND_HIGH, BAND_ELEVATED)).mean())
            ),
        }
    ).reset_index()


def overall_metrics(frame: pd.DataFrame, scorers: list[str], share: float) -> pd.DataFrame:
    rows = []
    for s in scorers:
        metrics = binary_metrics(frame[LABEL], frame[s], share)
        precision, recall = precision_recall_at(
            frame[LABEL].to_numpy(), per_week_top(frame, s, share).to_numpy()
        )
        metrics["precision_at_k"], metrics["recall_at_k"] = precision, recall
        rows.append({"scorer": s, **metrics})
    return pd.DataFrame(rows).set_index("scorer")


def metrics_per_week(frame: pd.DataFrame, scorers: list[str], share: float) -> pd.DataFrame:
    rows = []
    for w, group in frame.groupby("week_in_year"):
        for s in scorers:
            rows.append(
                {"week_in_year": int(str(w)), "scorer": s, **binary_metrics(group[LABEL], group[s], share)}
            )
    return pd.DataFrame(rows)


def compare_at_rule_flag_rate(frame: pd.DataFrame, model: str, rule_flag: str) -> dict[str, float]:
    """Recall and precision of the model when it flags as many students per week as the rules do."""
    rate = frame.groupby("as_of")[rule_flag].mean()
    model_flag = per_week_top(frame, model, rate)
    y = frame[LABEL].to_numpy()
    rule_p, rule_r = precision_recall_at(y, frame[rule_flag].to_numpy(dtype=bool))
    model_p, model_r = precision_recall_at(y, model_flag.to_numpy())
    return {
        "flag_rate": float(frame[rule_flag].mean()),
        "rule_precision": rule_p,
        "rule_recall": rule_r,
        "model_precision": model_p,
        "model_recall": model_r,
        "recall_gain_relative": (model_r / rule_r - 1) if rule_r else float("nan"),
    }


def lead_time_table(frame: pd.DataFrame, flags: dict[str, str], exit_week: pd.Series) -> pd.DataFrame:
    """Median lead time per flagging rule, over students who left as vsv in the test year."""
    rows = []
    for name, column in flags.items():
        lead = lead_times(frame, column, exit_week)
        flagged = lead[lead > 0]
        rows.append(
            {
                "scorer": name,
                "vsv_students": len(lead),
                "flagged_before_leaving": float((lead > 0).mean()) if len(lead) else float("nan"),
                "median_lead_weeks": float(lead.median()) if len(lead) else float("nan"),
                "median_lead_weeks_flagged": float(flagged.median()) if len(flagged) else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("scorer")


def subgroup_metrics(frame: pd.DataFrame, flagged: str, score: str, attributes: list[str]) -> pd.DataFrame:
    """Selection rate, false positive and negative rates, precision and calibration per group.

    Ratios are to the largest group of each attribute (the reference group).
    """
    rows = []
    for attribute in attributes:
        groups = frame.groupby(attribute, observed=True)
        reference = str(groups.size().idxmax())
        stats: dict[str, dict[str, Any]] = {}
        for group, part in groups:
            y = part[LABEL].to_numpy(dtype=bool)
            f = part[flagged].to_numpy(dtype=bool)
            negatives, positives = (~y).sum(), y.sum()
            stats[str(group)] = {
                "attribute": attribute,
                "group": str(group),
                "n": len(part),
                "positives": int(positives),
                "selection_rate": float(f.mean()),
                "false_positive_rate": float((f & ~y).sum() / negatives) if negatives else float("nan"),
                "false_negative_rate": float((~f & y).sum() / positives) if positives else float("nan"),
                "precision": float((f & y).sum() / f.sum()) if f.sum() else float("nan"),
                "mean_probability": float(part[score].mean()),
                "observed_rate": float(y.mean()),
            }
        ref = stats[reference]
        for s in stats.values():
            for metric in ("selection_rate", "false_positive_rate", "false_negative_rate"):
                s[f"{metric}_ratio"] = s[metric] / ref[metric] if ref[metric] else float("nan")
            s["reference_group"] = str(reference)
            rows.append(s)
    return pd.DataFrame(rows)
