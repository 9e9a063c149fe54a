"""Data drift and data quality: the week's snapshot and predictions against the training reference kept
with the model (with Evidently's normed Wasserstein distance, whose HTML report people open); the
questionnaire response rate per team and level.

Every model input counts. A column *drifts* when its distance to the reference is both material (at least
``drift.threshold``) and larger than chance alone gives with these many rows: the ``noise_quantile`` of
the same distance after shuffling which students are "reference" and which "this week" (a permutation
test by student, so a student's repeated weeks in the reference count once). The line per column, the
verdict, the chart and the status all come from the one table :func:`column_drift` returns.

Columns are grouped by what a shift in them means (the group changes the message, not whether it counts):

* ``response``: whether students answer the questionnaire at all (response rate, weeks since an answer);
* ``answers``: what respondents last answered (``*_latest``); compared on respondents only
  (``has_questionnaire_4w`` = 1), so the neutral values filled in for non-respondents are not read as a
  change. When response falls, the respondents who remain are a selection: their answers really shift,
  and the message says that this coincides with the fall in response;
* ``answer_history``: means, trends and changes over several answers (also on respondents only);
* ``lagging``: absence and study progress; ``context``: who the students are (level, route, prior
  education); ``prediction``: the model's probability (its own check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
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
ON_RESPONDENTS: tuple[Family, ...] = ("answers", "answer_history")
FEATURE_FAMILIES: tuple[Family, ...] = ("response", "answers", "answer_history", "lagging", "context")
MISSING_INDICATORS = {
    "has_attendance_8w": "geen aanwezigheid in 8 weken",
    "has_progress_year": "geen studievoortgang dit jaar",
    "has_questionnaire_4w": "geen vragenlijst in 4 weken",
}
DRIFT_COLUMNS = ["column", "family", "score", "noise", "threshold", "drifted", "rows", "reference_rows"]
MIN_ROWS = 30  # fewer rows on either side (e.g. respondents): the column is not compared
NORM_FLOOR = 0.001  # Evidently's floor under the reference's standard deviation
PERMUTATION_CHUNK = 100  # shuffles scored at once


PERIOD_WEEKS = 10
MIN_SEGMENT_ROWS = 200  # fewer reference rows in the same period segment: use all rows


def week_in_year(week: int) -> int:
    return week % WEEKS_PER_YEAR + 1


@cache
def _column_descriptions() -> dict[str, str]:
    """Dutch description of each model input, from the feature register."""
    return {f.name: f.description_nl for f in load_register()}


def column_label(column: str, limit: int = 48) -> str:
    """A column as staff read it: the register's Dutch description (shortened to ``limit``), not its code."""
    if column == "probability":
        return "voorspelde kans"
    text = _column_descriptions().get(column, column)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    the week a period's results arrive (week in year 10, 20, 30, 40), where progress features step."""
    wiy = week_in_year(week)
    same_segment = reference[reference["week_in_year"] // PERIOD_WEEKS == wiy // PERIOD_WEEKS]
    candidates = same_segment if len(same_segment) >= MIN_SEGMENT_ROWS else reference
    distance = (candidates["week_in_year"] - wiy).abs()
    near = candidates[distance <= config.reference_window]
    if len(near) >= min(config.min_reference_rows, len(candidates)):
        return near
    order = np.argsort(distance.to_numpy(), kind="stable")[: config.min_reference_rows]
    return candidates.iloc[order]


def season_gap(window: pd.DataFrame, week: int) -> int:
    """Weeks between the week in year and the nearest reference row used (0: the same week in year)."""
    if window.empty:
        return WEEKS_PER_YEAR
    return int((window["week_in_year"] - week_in_year(week)).abs().min())


def out_of_season(window: pd.DataFrame, week: int, max_gap: int) -> bool:
    """The reference rows are not of this time of year: the nearest is more than ``max_gap`` weeks away, or
    some lie across a period end (where the year's results arrive and progress features step)."""
    if window.empty:
        return True
    other_period = window["week_in_year"] // PERIOD_WEEKS != week_in_year(week) // PERIOD_WEEKS
    return season_gap(window, week) > max_gap or bool(other_period.any())


def _sample(frame: pd.DataFrame, rows: int | None, seed: int = 0) -> pd.DataFrame:
    return frame if rows is None or len(frame) <= rows else frame.sample(rows, random_state=seed)


def normed_wasserstein(
    values: npt.NDArray[np.float64], is_reference: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Evidently's ``wasserstein`` drift score, for one or many splits of the same pooled values at once.

    ``values``: the pooled rows of one column; ``is_reference``: (rows,) or (splits, rows), which rows are
    the reference. The score is the first Wasserstein distance between the two empirical distributions
    (the area between their distribution functions) divided by the reference's standard deviation
    (at least 0.001), exactly as :mod:`evidently`'s stattest computes it.
    """
    masks = np.atleast_2d(is_reference)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ends = np.flatnonzero(ordered[1:] != ordered[:-1])  # the last row of each distinct value but the top
    steps = ordered[ends + 1] - ordered[ends]
    out = np.empty(len(masks), dtype=np.float64)
    for start in range(0, len(masks), PERMUTATION_CHUNK):  # in chunks, to bound memory
        chunk = masks[start : start + PERMUTATION_CHUNK][:, order].astype(np.float64)
        n_ref = chunk.sum(axis=1)
        cum_ref = np.cumsum(chunk, axis=1)[:, ends]
        cum_cur = (ends + 1) - cum_ref
        gaps = np.abs(cum_ref / n_ref[:, None] - cum_cur / (values.size - n_ref)[:, None])
        mean = (chunk @ ordered) / n_ref
        std = np.sqrt(np.clip((chunk @ ordered**2) / n_ref - mean**2, 0.0, None))
        out[start : start + PERMUTATION_CHUNK] = (gaps @ steps) / np.maximum(std, NORM_FLOOR)
    return out


def _units(current: pd.DataFrame, reference: pd.DataFrame) -> tuple[npt.NDArray[np.int64], int]:
    """A unit per student on each side (a reference student's repeated weeks are one unit), for the
    permutation; returns the unit of every pooled row (reference rows first) and the reference units."""
    ref_ids = (
        reference["student_id"] if "student_id" in reference.columns else pd.Series(range(len(reference)))
    )
    cur_ids = current["student_id"] if "student_id" in current.columns else pd.Series(range(len(current)))
    ref_units, ref_index = pd.factorize(ref_ids.astype(str))
    cur_units, _ = pd.factorize(cur_ids.astype(str))
    units = np.concatenate([ref_units, cur_units + len(ref_index)]).astype(np.int64)
    return units, len(ref_index)


def permutation_masks(
    units: npt.NDArray[np.int64], reference_units: int, permutations: int, seed: int
) -> npt.NDArray[np.bool_]:
    """(permutations, rows): for each shuffle, which pooled rows fall on the "reference" side; whole
    students move together, and the reference keeps its number of students."""
    n_units = int(units.max()) + 1 if units.size else 0
    rng = np.random.default_rng(seed)
    base = np.arange(n_units) < reference_units
    chosen = rng.permuted(np.broadcast_to(base, (permutations, n_units)), axis=1)
    return chosen[:, units]


def family_wise_level(null: npt.NDArray[np.float64], false_alarm_rate: float) -> float:
    """The quantile of each column's shuffled scores to use as its line, so that in only
    ``false_alarm_rate`` of the shuffles any column at all passes its line (Westfall and Young's min-p:
    the columns are tested together, and correlated columns are not counted as independent chances).

    ``null``: (columns, shuffles).
    """
    if null.size == 0:
        return 1.0
    shuffles = null.shape[1]
    ordered = np.sort(null, axis=1)
    below = np.stack([np.searchsorted(ordered[c], null[c], side="left") for c in range(len(null))])
    p_values = (shuffles - below) / shuffles  # share of the column's shuffles at or above each one
    smallest = p_values.min(axis=0)
    threshold = float(np.quantile(smallest, false_alarm_rate, method="lower"))
    return 1.0 - threshold


def _side_by_side(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], config: DriftConfig
) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
    """Per column the score on all rows, and its score under ``config.permutations`` shuffles of students
    (on at most ``sample_rows`` rows of the week: a slightly wider null, never a narrower one)."""
    empty = pd.DataFrame(columns=["column", "score", "rows", "reference_rows"])
    if len(current) < MIN_ROWS or len(reference) < MIN_ROWS or not columns:
        return empty, np.empty((0, config.permutations))
    sampled = _sample(current, config.sample_rows, config.seed)
    units, reference_units = _units(sampled, reference)
    masks = permutation_masks(units, reference_units, config.permutations, config.seed)
    is_reference = np.arange(len(reference) + len(current)) < len(reference)
    rows, null = [], []
    for column in columns:
        ref = reference[column].to_numpy(dtype=np.float64)
        values = np.concatenate([ref, current[column].to_numpy(dtype=np.float64)])
        score = float(normed_wasserstein(values, is_reference)[0])
        null.append(
            normed_wasserstein(np.concatenate([ref, sampled[column].to_numpy(dtype=np.float64)]), masks)
        )
        rows.append(
            {"column": column, "score": score, "rows": len(current), "reference_rows": len(reference)}
        )
    return pd.DataFrame(rows), np.stack(null)


def judge(table: pd.DataFrame, null: npt.NDArray[np.float64], config: DriftConfig) -> pd.DataFrame:
    """Add each column's ``noise`` (its line from the shuffles, :func:`family_wise_level`), the
    ``threshold`` and ``drifted``: the score at least the threshold and above the noise."""
    out = table.copy()
    level = family_wise_level(null, config.false_alarm_rate)
    out["noise"] = [float(np.quantile(row, level, method="higher")) for row in null] if len(null) else []
    out["threshold"] = config.threshold
    out["drifted"] = (out["score"] >= config.threshold) & (out["score"] > out["noise"])
    return out[[c for c in DRIFT_COLUMNS if c != "family"]]


def column_drift(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], config: DriftConfig
) -> pd.DataFrame:
    """Per column: the drift score (Evidently's normed Wasserstein distance), the noise level (what
    shuffling students between the two sides reaches, see :func:`family_wise_level`), the materiality
    threshold, and whether it drifted: ``score`` at least the threshold and above the noise. Columns with
    fewer than 30 rows on a side are left out.

    Columns: ``column, score, noise, threshold, drifted, rows, reference_rows``; the line a chart draws
    for a column is ``max(threshold, noise)`` (:func:`line_of`).
    """
    table, null = _side_by_side(current, reference, columns, config)
    return judge(table, null, config)


def line_of(table: pd.DataFrame) -> pd.Series:
    """The line a column must pass to count as drifted: the larger of the threshold and the noise."""
    return table[["threshold", "noise"]].astype(float).max(axis=1)


def _dataset(frame: pd.DataFrame, columns: list[str]) -> Any:
    from evidently import DataDefinition, Dataset

    return Dataset.from_pandas(
        frame[columns].astype("float64").reset_index(drop=True),
        data_definition=DataDefinition(numerical_columns=columns),
    )


def evidently_report(
    current: pd.DataFrame, reference: pd.DataFrame, table: pd.DataFrame, config: DriftConfig
) -> Any:
    """Evidently's drift preset and missing-value counts on the columns of ``table`` (the result of
    :func:`detect_drift`): the snapshot whose HTML people open.

    The same statistic, and per column the same line as the table (``max(threshold, noise)``), so that
    Evidently marks the columns the summary marks. Current rows are sampled to ``sample_rows`` (Evidently
    draws a plot per column, which is what costs time). Answer columns are drawn on all rows here.
    """
    from evidently import Report
    from evidently.metrics import DatasetMissingValueCount, RowCount
    from evidently.presets import DataDriftPreset

    columns = table["column"].astype(str).tolist()
    lines = {
        str(c): float(np.nextafter(v, np.inf)) for c, v in zip(table["column"], line_of(table), strict=True)
    }
    preset = DataDriftPreset(columns=columns, method=config.method, per_column_threshold=lines)
    report = Report([RowCount(), DatasetMissingValueCount(), preset])
    cur = _sample(current, config.sample_rows)
    return report.run(_dataset(cur, columns), _dataset(reference, columns))


@dataclass
class DriftResult:
    """Drift per column (one table: what the chart draws is what the status counts), the flags, and the
    Evidently snapshot whose HTML people open."""

    columns: pd.DataFrame  # column, family, score, noise, threshold, drifted, rows, reference_rows
    reference_rows: int
    current_rows: int
    season_gap: int = 0  # weeks between this week in year and the nearest reference row
    out_of_season: bool = False  # see :func:`out_of_season`
    reference_weeks: tuple[int, int] | None = None  # first and last week in year of the reference rows
    permutations: int = 0
    false_alarm_rate: float = 0.05
    evidently: Any = field(default=None, repr=False)

    @property
    def features(self) -> pd.DataFrame:
        return self.columns[self.columns["family"] != "prediction"]

    @property
    def drifted(self) -> list[str]:
        """Every drifted model input, largest distance first, whatever its family."""
        features = self.features
        return features.loc[features["drifted"].astype(bool), "column"].astype(str).tolist()

    @property
    def feature_drift(self) -> bool:
        return bool(self.drifted)

    @property
    def prediction_drift(self) -> bool:
        prediction = self.columns[self.columns["family"] == "prediction"]
        return bool(prediction["drifted"].astype(bool).any())

    def drifted_in(self, families: tuple[Family, ...]) -> list[str]:
        features = self.features
        chosen = features["drifted"].astype(bool) & features["family"].isin(families)
        return features.loc[chosen, "column"].astype(str).tolist()

    def summary(self) -> dict[str, Any]:
        prediction = self.columns[self.columns["family"] == "prediction"]
        drifted = self.features[self.features["drifted"].astype(bool)]
        return {
            "feature_drift": self.feature_drift,
            "prediction_drift": self.prediction_drift,
            "drifted_columns": self.drifted,
            "drifted_count": len(self.drifted),
            "drifted_by_family": {str(k): int(v) for k, v in drifted.groupby("family").size().items()},
            "columns_compared": len(self.features),
            "prediction_score": float(prediction["score"].iloc[0]) if len(prediction) else float("nan"),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "season_gap": self.season_gap,
            "out_of_season": self.out_of_season,
            "reference_weeks": list(self.reference_weeks) if self.reference_weeks else None,
            "top_columns": self.columns.head(10)[
                ["column", "family", "score", "noise", "threshold", "drifted"]
            ].to_dict("records"),
        }


def detect_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    features: tuple[str, ...],
    config: MonitoringConfig,
    week: int | None = None,
) -> DriftResult:
    """Drift of the scored week (features and ``probability``) against the reference rows: one table,
    sorted with the columns furthest past their line first.

    Answer columns (``answers``, ``answer_history``) are compared on respondents only.
    """
    cfg = config.drift
    families: dict[str, Family] = {**column_families(features), "probability": "prediction"}
    answers = [c for c in features if families[c] in ON_RESPONDENTS]
    others = [c for c in [*features, "probability"] if c not in answers]
    parts = [_side_by_side(current, reference, others, cfg)]
    if answers and RESPONDED in current.columns and RESPONDED in reference.columns:
        respondents_cur = current[current[RESPONDED] > 0]
        respondents_ref = reference[reference[RESPONDED] > 0]
        parts.append(_side_by_side(respondents_cur, respondents_ref, answers, cfg))
    kept = [(t, n) for t, n in parts if len(t)]
    table = judge(
        pd.concat([t for t, _ in kept], ignore_index=True) if kept else parts[0][0],
        np.concatenate([n for _, n in kept]) if kept else parts[0][1],
        cfg,
    )
    table.insert(1, "family", table["column"].map(families))
    table["drifted"] = table["drifted"].astype(bool)
    past = table["score"] / line_of(table)
    table = table.iloc[np.argsort(-past.to_numpy(), kind="stable")].reset_index(drop=True)
    gap = season_gap(reference, week) if week is not None else 0
    off = week is not None and out_of_season(reference, week, cfg.max_season_gap)
    weeks = (
        (int(reference["week_in_year"].min()), int(reference["week_in_year"].max()))
        if "week_in_year" in reference.columns and len(reference)
        else None
    )
    return DriftResult(
        table,
        len(reference),
        len(current),
        season_gap=gap,
        out_of_season=off,
        reference_weeks=weeks,
        permutations=cfg.permutations,
        false_alarm_rate=cfg.false_alarm_rate,
    )


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
