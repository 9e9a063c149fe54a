"""The status tells what the charts draw: drift planted in any feature family, or a calibration shift, makes
a week leave "in orde"; no planted change keeps it there. Small generated frames, fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringConfig, load_config
from monitoring.drift import (
    DriftResult,
    detect_drift,
    family_wise_level,
    line_of,
    normed_wasserstein,
    out_of_season,
    reference_window,
)
from monitoring.performance import (
    calibration_off,
    effective_rows,
    metrics_of,
    observed_interval,
    performance_check,
    wilson_interval,
)
from monitoring.status import (
    SELECTION_NL,
    Finding,
    decide,
    drift_findings,
    performance_finding,
    response_finding,
)

FEATURES = (
    "q_stress_latest",  # answers
    "q_stress_mean_4w",  # answer_history
    "q_response_rate_8w",  # response
    "has_questionnaire_4w",  # response
    "att_rate_4w",  # lagging: absence
    "credits_behind_year",  # lagging: progress
    "level",  # context
    "prior_vso",  # context
)
PLANTED = {
    "answers": "q_stress_latest",
    "answer_history": "q_stress_mean_4w",
    "response": "q_response_rate_8w",
    "lagging (verzuim)": "att_rate_4w",
    "lagging (voortgang)": "credits_behind_year",
    "context": "level",
}
CONFIG = load_config(overrides={"drift": {"permutations": 400}})


def _students(rng: np.random.Generator, n: int, prefix: str, shift: dict[str, float]) -> pd.DataFrame:
    """One row per student; ``shift`` moves a column (in units of its spread) or, for level, the mix."""
    answered = (rng.random(n) < 0.8).astype(float)
    stress = np.clip(rng.normal(0.55 + 0.2 * shift.get("q_stress_latest", 0), 0.2, n), 0, 1)
    level_p = np.array([0.1, 0.3, 0.3, 0.3]) if not shift.get("level") else np.array([0.3, 0.4, 0.2, 0.1])
    return pd.DataFrame(
        {
            "student_id": [f"{prefix}{i}" for i in range(n)],
            "q_stress_latest": np.where(answered > 0, stress, 0.5),
            "q_stress_mean_4w": np.where(
                answered > 0,
                np.clip(stress + rng.normal(0.2 * shift.get("q_stress_mean_4w", 0), 0.1, n), 0, 1),
                0.5,
            ),
            "q_response_rate_8w": np.clip(
                rng.beta(6, 2, n) - 0.25 * shift.get("q_response_rate_8w", 0), 0, 1
            ).round(3),
            "has_questionnaire_4w": answered,
            "att_rate_4w": np.clip(rng.beta(18, 2, n) - 0.06 * shift.get("att_rate_4w", 0), 0, 1),
            "credits_behind_year": rng.poisson(3 + 3 * shift.get("credits_behind_year", 0), n).astype(float),
            "level": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=level_p),
            "prior_vso": (rng.random(n) < 0.05).astype(float),
            "probability": rng.beta(1.2, 50, n),
            "week_in_year": 12,
        }
    )


def _reference(rng: np.random.Generator) -> pd.DataFrame:
    """500 students, some in two weeks (as in the reference kept with a model)."""
    rows = _students(rng, 500, "r", {})
    again = rows.sample(150, random_state=int(rng.integers(1_000_000)))
    return pd.concat([rows, again], ignore_index=True)


def _drift(seed: int, shift: dict[str, float]) -> DriftResult:
    rng = np.random.default_rng(seed)
    reference = _reference(rng)
    current = _students(rng, 2500, "c", shift)
    return detect_drift(current, reference, FEATURES, CONFIG, week=11)


QUIET_RESPONSE = {
    "alert": False,
    "response_rate": 0.74,
    "reference_rate": 0.74,
    "levels_dropped": [],
}


def _status(drift: DriftResult, response: dict[str, object], config: MonitoringConfig = CONFIG) -> str:
    findings = [*drift_findings(drift, response), response_finding(response)]
    return decide(findings, config.status)[0]


def test_the_score_is_evidentlys_normed_wasserstein_distance() -> None:
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(3)
    for ref, cur in (
        (rng.normal(size=300), rng.normal(0.2, 1.3, size=900)),
        (rng.integers(1, 6, 300).astype(float), rng.integers(1, 6, 900).astype(float)),
        (np.ones(300), (rng.random(900) < 0.99).astype(float)),  # a constant reference
    ):
        a, b = pd.Series(ref), pd.Series(cur)
        expected = get_stattest(a, b, ColumnType.Numerical, "wasserstein")(a, b, ColumnType.Numerical, 0.1)
        pooled = np.concatenate([ref, cur])
        assert normed_wasserstein(pooled, np.arange(pooled.size) < ref.size)[0] == pytest.approx(
            expected.drift_score, rel=1e-9
        )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_planted_change_keeps_the_week_in_order(seed: int) -> None:
    drift = _drift(seed, {})
    assert not drift.feature_drift, drift.columns
    assert not drift.prediction_drift
    assert _status(drift, QUIET_RESPONSE) == "ok"


@pytest.mark.parametrize("family", list(PLANTED))
@pytest.mark.parametrize("seed", [0, 1])
def test_drift_planted_in_any_family_leaves_ok(family: str, seed: int) -> None:
    column = PLANTED[family]
    drift = _drift(seed, {column: 0.5})  # half the spread (for level: another mix of levels)
    assert column in drift.drifted, drift.columns
    assert _status(drift, QUIET_RESPONSE) == "watch"
    # The chart draws this table: the drifted column's bar passes its own line, and the message names it
    # in Dutch (the register's description), not by its code.
    row = drift.columns.set_index("column").loc[column]
    assert row["score"] > line_of(drift.columns.set_index("column").loc[[column]]).iloc[0]
    message = drift_findings(drift, QUIET_RESPONSE)[0].message
    assert column not in message and "gegevens verschoven" in message


def test_a_column_is_drifted_exactly_when_its_bar_passes_its_line() -> None:
    drift = _drift(5, {"credits_behind_year": 1.0, "att_rate_4w": 0.6})
    table = drift.columns
    passes = (table["score"] > line_of(table)) & (table["score"] >= table["threshold"])
    assert (passes == table["drifted"]).all()
    assert drift.drifted == table.loc[table["drifted"] & (table["family"] != "prediction"), "column"].tolist()


def test_the_family_wise_line_holds_false_alarms_to_the_configured_rate() -> None:
    rng = np.random.default_rng(0)
    null = rng.normal(size=(40, 2000))  # 40 independent columns under no change
    level = family_wise_level(null, 0.05)
    lines = np.quantile(null, level, axis=1, method="higher")
    any_column = (null > lines[:, None]).any(axis=0).mean()
    assert 0.02 < any_column <= 0.05
    assert level > 1 - 0.05 / 10  # far stricter than one column's 95%


def test_fatigue_counts_the_shifted_answers_and_says_they_coincide_with_a_fall_in_response() -> None:
    drift = _drift(0, {"q_stress_latest": 1.0, "q_response_rate_8w": 1.0})
    response = {**QUIET_RESPONSE, "alert": True, "response_rate": 0.45, "levels_dropped": ["2"]}
    findings = [*drift_findings(drift, response), response_finding(response)]
    feature = next(f for f in findings if f.check == "feature_drift")
    assert feature.alert and SELECTION_NL in feature.message
    assert decide(findings, CONFIG.status)[0] == "watch"  # not retrain: performance holds
    failing = [*findings, Finding("performance", True, "kalibratie: ...")]
    assert decide(failing, CONFIG.status)[0] == "retrain"
    quiet = drift_findings(drift, QUIET_RESPONSE)[0]
    assert SELECTION_NL not in quiet.message  # no fall in response: no selection to name


def test_a_reference_from_another_time_of_year_is_said_to_be_so() -> None:
    reference = pd.DataFrame({"week_in_year": np.repeat(np.arange(2, 29), 50)})
    config = load_config().drift
    week_7 = reference_window(reference, 86, config)  # week in year 7: rows of weeks 6-8
    assert not out_of_season(week_7, 86, config.max_season_gap)
    week_40 = reference_window(reference, 119, config)  # week in year 40: nothing that late in the year
    assert out_of_season(week_40, 119, config.max_season_gap)
    week_31 = reference_window(reference, 110, config)  # just after a period's results: rows before them
    assert out_of_season(week_31, 110, config.max_season_gap)


# --- calibration: observed against predicted, with an interval ---------------------------------------


def _matured(seed: int, scale: float, students: int = 4000, weeks: int = 8) -> pd.DataFrame:
    """Student-weeks: a leaver is a leaver in every evaluated week (as in real labels, which look ahead
    over the horizon); the model's probability is the true one times ``scale``."""
    rng = np.random.default_rng(seed)
    risk = rng.beta(0.8, 40, students)
    leaves = rng.random(students) < risk
    frame = pd.DataFrame(
        {
            "student_id": np.repeat([f"s{i}" for i in range(students)], weeks),
            "as_of": np.tile(np.arange(81, 81 + weeks), students),
            "vsv": np.repeat(leaves.astype(int), weeks),
            "probability": np.repeat(np.clip(risk * scale, 0, 1), weeks),
        }
    )
    return frame


def test_the_interval_counts_students_not_student_weeks() -> None:
    frame = _matured(0, 1.0)
    assert effective_rows(frame) == pytest.approx(4000, rel=0.05)  # each student counts about once
    independent = frame.assign(student_id=[f"r{i}" for i in range(len(frame))])
    assert effective_rows(independent) == pytest.approx(len(frame), rel=0.01)
    low, high = wilson_interval(0.02, 1000, 0.95)
    assert 0.012 < low < 0.02 < high < 0.032


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_calibrated_model_is_in_order_and_a_shifted_one_is_not(seed: int) -> None:
    config = load_config().performance
    calibrated = metrics_of(_matured(seed, 1.0), 0.05, config.calibration_level)
    assert not calibration_off(calibrated), calibrated
    low, high = observed_interval(_matured(seed, 1.0), config.calibration_level)
    assert low < calibrated["mean_probability"] < high
    reference = {**calibrated}
    assert not performance_check(calibrated, reference, config)["alert"]
    too_low = metrics_of(_matured(seed, 0.7), 0.05, config.calibration_level)  # observed > predicted
    check = performance_check(too_low, reference, config)
    assert check["alert"] and check["calibration_alert"]
    assert any("te laag" in r for r in check["reasons"])
    too_high = metrics_of(_matured(seed, 1.4), 0.05, config.calibration_level)
    assert any("te hoog" in r for r in performance_check(too_high, reference, config)["reasons"])


def test_a_calibration_shift_makes_the_week_retrain() -> None:
    config = load_config()
    current = metrics_of(_matured(0, 0.7), 0.05, config.performance.calibration_level)
    reference = metrics_of(_matured(1, 1.0), 0.05, config.performance.calibration_level)
    finding = performance_finding(performance_check(current, reference, config.performance))
    assert decide([finding], config.status)[0] == "retrain"
