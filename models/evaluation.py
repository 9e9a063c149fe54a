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
    # Every subgroup ratio outside 0.8-1.25, and the same ratio within level and route.
    conditional: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Per proxy-flagged feature: the model without it, on the same rows (quality and the flagged ratios).
    proxy_ablation: pd.DataFrame = field(default_factory=pd.DataFrame)


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


RATIO_METRICS = ("selection_rate", "false_positive_rate", "false_negative_rate")
FAIR_RANGE = (0.8, 1.25)
STRATA = ("level", "route_bbl")


def outside_range(
    subgroups: pd.DataFrame, low: float = FAIR_RANGE[0], high: float = FAIR_RANGE[1]
) -> pd.DataFrame:
    """Every (attribute, group, metric) whose ratio to the reference group lies outside [low, high]."""
    rows = []
    for _, row in subgroups.iterrows():
        for metric in RATIO_METRICS:
            ratio = float(row[f"{metric}_ratio"])
            if np.isfinite(ratio) and not low <= ratio <= high:
                rows.append(
                    {
                        "attribute": row["attribute"],
                        "group": row["group"],
                        "reference_group": row["reference_group"],
                        "metric": metric,
                        "n": int(row["n"]),
                        "ratio": ratio,
                    }
                )
    return pd.DataFrame(rows, columns=["attribute", "group", "reference_group", "metric", "n", "ratio"])


def _counts(part: pd.DataFrame, flagged: str, metric: str) -> tuple[float, float]:
    """(events, denominator) of ``metric`` in ``part``: flagged of all, of non-leavers, missed leavers."""
    y = part[LABEL].to_numpy(dtype=bool)
    f = part[flagged].to_numpy(dtype=bool)
    if metric == "selection_rate":
        return float(f.sum()), float(len(f))
    if metric == "false_positive_rate":
        return float((f & ~y).sum()), float((~y).sum())
    return float((~f & y).sum()), float(y.sum())


def conditional_ratio(
    frame: pd.DataFrame,
    attribute: str,
    group: str,
    reference: str,
    metric: str,
    flagged: str,
    strata: list[str],
) -> tuple[float, int]:
    """The ratio of ``metric`` between ``group`` and ``reference`` among students of the same strata.

    Indirect standardisation: the reference group's rate in each stratum, weighted by the group's own
    denominator there, is what the group's rate would be if it were treated like the reference group at its
    own level and route; the ratio is the group's events over those expected events. Strata without the
    reference group are left out. Returns the ratio and the number of strata compared.
    """
    part = frame[frame[attribute].astype(str).isin((group, reference))]
    observed = expected = 0.0
    compared = 0
    for _, stratum in part.groupby(strata, observed=True) if strata else [((), part)]:
        mine = stratum[stratum[attribute].astype(str) == group]
        theirs = stratum[stratum[attribute].astype(str) == reference]
        events, denominator = _counts(mine, flagged, metric)
        ref_events, ref_denominator = _counts(theirs, flagged, metric)
        if denominator == 0 or ref_denominator == 0:
            continue
        compared += 1
        observed += events
        expected += denominator * ref_events / ref_denominator
    return (observed / expected if expected else float("nan")), compared


def conditional_fairness(
    frame: pd.DataFrame, subgroups: pd.DataFrame, flagged: str, strata: tuple[str, ...] = STRATA
) -> pd.DataFrame:
    """For every ratio outside the range: the same ratio within level and route (the attribute itself
    excepted), and whether the gap remains there.

    A gap that disappears within level and route comes from who is in which programme (level and route
    carry the risk); one that remains is a difference among comparable students and needs a decision.
    """
    flags = outside_range(subgroups)
    rows = []
    for _, flag in flags.iterrows():
        used = [s for s in strata if s != flag["attribute"] and s in frame.columns]
        ratio, compared = conditional_ratio(
            frame, flag["attribute"], flag["group"], flag["reference_group"], flag["metric"], flagged, used
        )
        remains = bool(np.isfinite(ratio) and not FAIR_RANGE[0] <= ratio <= FAIR_RANGE[1])
        rows.append(
            {
                **flag.to_dict(),
                "within": "+".join(used) or "-",
                "conditional_ratio": ratio,
                "strata": compared,
                "remains": remains,
            }
        )
    columns = [*flags.columns, "within", "conditional_ratio", "strata", "remains"]
    return pd.DataFrame(rows, columns=columns)
