"""Data drift and data quality with Evidently: the week's snapshot and predictions against the training
reference kept with the model; the questionnaire response rate per team and level.

Columns are grouped by what a shift in them means:

* ``response``: whether students answer the questionnaire at all (response rate, weeks since an answer);
* ``answers``: what respondents last answered (``*_latest``); compared on respondents only
  (``has_questionnaire_4w`` = 1), so questionnaire fatigue (fewer answers, filled with neutral values) is
  not read as a change in risk;
* ``answer_history``: means, trends and changes over several answers, whose spread depends on how many
  answers there are; reported, not counted as a risk signal;
* ``lagging``: absence and study progress; ``context``: who the students are (level, route, prior
  education).

A *risk drift* is a shift in the risk signals (answers and lagging columns); a fall in response is a
response alert of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from features import load_register
from monitoring.config import DriftConfig, MonitoringConfig, ResponseConfig

Family = Literal["response", "answers", "answer_history", "lagging", "context", "prediction"]
RESPONSE_COLUMNS = (
    "q_response_rate_8w",
    "q_weeks_since_response",
    "has_questionnaire_4w",
    "has_questionnaire_baseline",
)
RESPONDED = "has_questionnaire_4w"
RISK_FAMILIES: tuple[Family, ...] = ("answers", "lagging")
MISSING_INDICATORS = {
    "has_attendance_8w": "geen aanwezigheid in 8 weken",
    "has_progress_year": "geen studievoortgang dit jaar",
    "has_questionnaire_4w": "geen vragenlijst in 4 weken",
}


PERIOD_WEEKS = 10
MIN_SEGMENT_ROWS = 200  # fewer reference rows in the same period segment: use all rows


def week_in_year(week: int) -> int:
    return week % WEEKS_PER_YEAR + 1


def column_families(features: tuple[str, ...]) -> dict[str, Family]:
    """The family of each model input, from the feature register (leading = response or answers)."""
    register = {f.name: f.family for f in load_register()}
    out: dict[str, Family] = {}
    for name in features:
        family = register.get(name, "leading" if name.startswith("q_") else "context")
        if name in RESPONSE_COLUMNS:
            out[name] = "response"
        elif family == "leading" and name.endswith("_latest"):
            out[name] = "answers"
        elif family == "leading":
            out[name] = "answer_history"
        else:
            out[name] = "lagging" if family == "lagging" else "context"
    return out


def reference_window(reference: pd.DataFrame, week: int, config: DriftConfig) -> pd.DataFrame:
    """Reference rows of the same time of year: within ``reference_window`` weeks of the week in year,
    widened to the nearest ``min_reference_rows`` rows (features like credits and weeks since start follow
    the school year, so a pooled reference would alarm on the season). Rows are kept on the same side of
    the week a period's results arrive (week in year 10, 20, 30), where progress features step."""
    wiy = week_in_year(week)
    same_segment = reference[reference["week_in_year"] // PERIOD_WEEKS == wiy // PERIOD_WEEKS]
    candidates = same_segment if len(same_segment) >= MIN_SEGMENT_ROWS else reference
    distance = (candidates["week_in_year"] - wiy).abs()
    near = candidates[distance <= config.reference_window]
    if len(near) >= min(config.min_reference_rows, len(candidates)):
        return near
    order = np.argsort(distance.to_numpy(), kind="stable")[: config.min_reference_rows]
    return candidates.iloc[order]


def _sample(frame: pd.DataFrame, rows: int | None, seed: int = 0) -> pd.DataFrame:
    return frame if rows is None or len(frame) <= rows else frame.sample(rows, random_state=seed)


def column_drift(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], config: DriftConfig
) -> pd.DataFrame:
    """Per column: Evidently's drift score (``config.method``, the test its drift preset runs), threshold,
    and whether it drifted. Computed with Evidently's stattest directly, without building plots."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    rows = []
    for column in columns:
        ref, cur = reference[column].astype("float64"), current[column].astype("float64")
        test = get_stattest(ref, cur, ColumnType.Numerical, config.method)
        result = test(ref, cur, ColumnType.Numerical, config.threshold)
        rows.append(
            {
                "column": column,
                "score": float(result.drift_score),
                "threshold": float(result.actual_threshold),
                "drifted": bool(result.drifted),
            }
        )
    return pd.DataFrame(rows, columns=["column", "score", "threshold", "drifted"])


def _dataset(frame: pd.DataFrame, columns: list[str]) -> Any:
    from evidently import DataDefinition, Dataset

    return Dataset.from_pandas(
        frame[columns].astype("float64").reset_index(drop=True),
        data_definition=DataDefinition(numerical_columns=columns),
    )


def evidently_report(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], config: DriftConfig
) -> Any:
    """Evidently's drift preset and missing-value counts on ``columns``: the snapshot whose HTML people open.

    The same test and threshold as :func:`column_drift`; current rows are sampled to ``sample_rows``
    (Evidently draws a plot per column, which is what costs time).
    """
    from evidently import Report
    from evidently.metrics import DatasetMissingValueCount, RowCount
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(columns=columns, method=config.method, threshold=config.threshold)
    report = Report([RowCount(), DatasetMissingValueCount(), preset])
    cur = _sample(current, config.sample_rows)
    return report.run(_dataset(cur, columns), _dataset(reference, columns))


@dataclass
class DriftResult:
    """Drift per column, flags, and the Evidently snapshot whose HTML people open."""

    columns: pd.DataFrame  # column, family, score, threshold, drifted, score_all_rows
    risk_drift: bool
    prediction_drift: bool
    risk_drifted: list[str]
    reference_rows: int
    current_rows: int
    evidently: Any = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        prediction = self.columns[self.columns["family"] == "prediction"]
        return {
            "risk_drift": self.risk_drift,
            "prediction_drift": self.prediction_drift,
            "risk_columns_drifted": self.risk_drifted,
            "drifted_by_family": {
                str(k): int(v) for k, v in self.columns.groupby("family")["drifted"].sum().items()
            },
            "prediction_score": float(prediction["score"].iloc[0]) if len(prediction) else float("nan"),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "top_columns": self.columns.nlargest(10, "score")[
                ["column", "family", "score", "drifted"]
            ].to_dict("records"),
        }


def detect_drift(
    current: pd.DataFrame, reference: pd.DataFrame, features: tuple[str, ...], config: MonitoringConfig
) -> DriftResult:
    """Drift of the scored week (features and ``probability``) against the reference rows.

    Answer columns are scored again on respondents only; those scores decide the ``answers`` family.
    """
    cfg = config.drift
    families = column_families(features)
    columns = [*features, "probability"]
    table = column_drift(current, reference, columns, cfg).rename(
        columns={"score": "score_all_rows", "drifted": "drifted_all_rows"}
    )
    answers = [c for c, f in families.items() if f in ("answers", "answer_history")]
    respondents_cur, respondents_ref = current[current[RESPONDED] > 0], reference[reference[RESPONDED] > 0]
    if answers and len(respondents_cur) >= 30 and len(respondents_ref) >= 30:
        answered = column_drift(respondents_cur, respondents_ref, answers, cfg).set_index("column")
    else:
        answered = pd.DataFrame(columns=["score", "drifted"])
    on_respondents = table["column"].isin(answered.index)
    score_map = answered["score"].astype(float).to_dict()
    drifted_map = answered["drifted"].astype(bool).to_dict()
    table["score"] = np.where(on_respondents, table["column"].map(score_map), table["score_all_rows"])
    table["drifted"] = np.where(on_respondents, table["column"].map(drifted_map), table["drifted_all_rows"])
    table["drifted"] = table["drifted"].astype(bool)
    table["family"] = table["column"].map({**families, "probability": "prediction"})
    risk = table[table["family"].isin(RISK_FAMILIES)]
    drifted = risk.loc[risk["drifted"], "column"].tolist()
    risk_drift = len(drifted) >= cfg.min_risk_drift_columns and len(drifted) >= cfg.risk_drift_share * len(
        risk
    )
    prediction_drift = bool(table.loc[table["family"] == "prediction", "drifted"].any())
    table = table.sort_values("score", ascending=False).reset_index(drop=True)
    return DriftResult(table, bool(risk_drift), prediction_drift, drifted, len(reference), len(current))


def data_quality(
    current: pd.DataFrame, reference: pd.DataFrame, features: tuple[str, ...], max_increase: float
) -> dict[str, Any]:
    """Missing values per column (the snapshot should have none) and the share of students without recent
    attendance, progress or answers, against the reference."""
    present = [c for c in features if c in current.columns]
    nan_counts = current[present].isna().sum()
    missing: dict[str, dict[str, float]] = {}
    for column, label in MISSING_INDICATORS.items():
        if column in current.columns and column in reference.columns:
            now = float((current[column] <= 0).mean())
            before = float((reference[column] <= 0).mean())
            missing[column] = {"label": label, "current": now, "reference": before, "increase": now - before}  # type: ignore[dict-item]
    absent_data = [c for c, m in missing.items() if c != RESPONDED and float(m["increase"]) > max_increase]
    return {
        "rows": len(current),
        "missing_values": {str(k): int(v) for k, v in nan_counts[nan_counts > 0].items()},
        "insufficient_data_share": float(current["insufficient_data"].mean())
        if "insufficient_data" in current.columns
        else float("nan"),
        "missing_indicators": missing,
        "alert": bool(nan_counts.sum() > 0 or absent_data),
        "alert_columns": absent_data,
    }


def response_rates(current: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """Response rate (share of the latest 8 weeks answered) and share with an answer in the latest 4 weeks,
    per team and per level. Columns: grouping, group, students, response_rate, answered_4w."""
    joined = current[["student_id", "q_response_rate_8w", RESPONDED]].merge(
        students[["student_id", "team", "level"]], on="student_id", how="left", validate="one_to_one"
    )
    parts = []
    for grouping in ("level", "team"):
        grouped = joined.groupby(grouping, dropna=False)
        part = pd.DataFrame(
            {
                "students": grouped.size(),
                "response_rate": grouped["q_response_rate_8w"].mean(),
                "answered_4w": grouped[RESPONDED].mean(),
            }
        ).reset_index(names="group")
        part.insert(0, "grouping", grouping)
        part["group"] = part["group"].astype(str)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def response_check(
    current: pd.DataFrame, reference: pd.DataFrame, students: pd.DataFrame, config: ResponseConfig
) -> dict[str, Any]:
    """Response now against the reference (overall and per level); teams below the minimum rate."""
    rates = response_rates(current, students)
    now, before = float(current["q_response_rate_8w"].mean()), float(reference["q_response_rate_8w"].mean())
    by_level_ref = reference.groupby(reference["level"].astype(int).astype(str))["q_response_rate_8w"].mean()
    levels = rates[rates["grouping"] == "level"].copy()
    levels["reference_rate"] = levels["group"].map(by_level_ref)
    levels["drop"] = levels["reference_rate"] - levels["response_rate"]
    dropped = levels[(levels["drop"] > config.max_drop) & (levels["students"] >= config.min_team_size)]
    teams = rates[rates["grouping"] == "team"]
    low_teams = teams[
        (teams["response_rate"] < config.min_rate) & (teams["students"] >= config.min_team_size)
    ]
    return {
        "response_rate": now,
        "reference_rate": before,
        "drop": before - now,
        "alert": bool(before - now > config.max_drop or len(dropped) > 0),
        "levels_dropped": dropped["group"].tolist(),
        "teams_below_minimum": low_teams.sort_values("response_rate")["group"].tolist(),
        "by_level": levels.drop(columns="grouping").to_dict("records"),
        "by_team": teams.drop(columns="grouping").to_dict("records"),
    }
