"""Scenario worlds scored by one model trained on a baseline world: what the weekly run must and must not
flag. Week 86 is six weeks into a scenario (labels not yet matured); week 100 evaluates as-of weeks
81-88, whose 12-week horizon has passed. Every drifted model input counts, whatever its family; calibration
is off when the mean predicted probability lies outside the interval of the observed vsv rate."""

from __future__ import annotations

import pytest

from data.questionnaire import load_questionnaire
from models.risk_model import RiskModel
from monitoring.config import MonitoringConfig
from monitoring.status import Finding, decide
from monitoring.weekly import monitor_week
from tests.monitoring.conftest import World, make_world

pytestmark = pytest.mark.slow
EARLY, MATURED = 86, 100

QUESTIONNAIRE = load_questionnaire()


@pytest.mark.parametrize("world_name", ["lockdown_world", "hot_labour_world"])
def test_a_shock_is_flagged_as_drift_then_as_a_performance_drop(
    world_name: str, request: pytest.FixtureRequest, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    world: World = request.getfixturevalue(world_name)
    early = monitor_week(world.tables, model, EARLY, world.audit, monitoring_config, QUESTIONNAIRE)
    assert early.drift.feature_drift and early.status != "ok", early.drift.summary()
    matured = monitor_week(world.tables, model, MATURED, world.audit, monitoring_config, QUESTIONNAIRE)
    assert matured.drift.feature_drift, matured.drift.summary()
    assert matured.performance["judged"]
    assert matured.performance["alert"] and matured.performance["calibration_alert"], matured.performance
    assert matured.status == "retrain"
    current = matured.performance["current"]
    # more vsv than the model expects: it underestimates the shock, and the interval says it is no chance
    assert current["mean_probability"] < current["observed_low"] < current["observed_rate"]
    assert any("het model schat het risico te laag" in r for r in matured.reasons)


def test_lockdown_drift_shows_before_labels_mature(
    lockdown_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    early = monitor_week(
        lockdown_world.tables, model, EARLY, lockdown_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert early.drift.feature_drift and early.drift.prediction_drift
    assert any(c.startswith("att_rate") for c in early.drift.drifted_in(("lagging",)))
    assert not early.performance["alert"]  # the evaluated weeks (67-74) precede the lockdown
    assert early.status == "watch"


def _without_fairness(findings: list[Finding], config: MonitoringConfig) -> str:
    """The status the checks of this module give (fairness has tests of its own)."""
    return decide([f for f in findings if f.check != "fairness"], config.status)[0]


@pytest.mark.parametrize("week", [EARLY, MATURED])
def test_a_baseline_world_raises_no_false_alarm(
    week: int, baseline_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    result = monitor_week(
        baseline_world.tables, model, week, baseline_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert not result.drift.feature_drift, result.drift.drifted
    assert not result.drift.prediction_drift
    assert not result.response["alert"]
    assert not result.quality["alert"]
    assert result.performance["judged"] and not result.performance["alert"], result.performance["reasons"]
    assert _without_fairness(result.findings, monitoring_config) == "ok"


@pytest.mark.parametrize("seed", [23, 24])
def test_baseline_worlds_of_other_seeds_raise_no_false_alarm(
    seed: int, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    world = make_world("baseline", seed=seed)
    result = monitor_week(world.tables, model, MATURED, world.audit, monitoring_config, QUESTIONNAIRE)
    assert not result.drift.feature_drift, result.drift.drifted
    assert result.performance["judged"] and not result.performance["calibration_alert"]
    assert _without_fairness(result.findings, monitoring_config) == "ok", result.reasons


def test_survey_fatigue_counts_the_shift_in_answers_and_names_the_selection(
    fatigue_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    """Fewer students answer, and those who still answer are selected on wellbeing: their latest answers
    really do shift. The drift check counts that shift (it is what the chart shows), says that it coincides
    with the fall in response, and the week is "watch", not "retrain", while performance holds."""
    result = monitor_week(
        fatigue_world.tables, model, MATURED, fatigue_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert result.response["alert"]
    assert result.response["response_rate"] < result.response["reference_rate"] - 0.15
    assert result.drift.feature_drift
    assert result.drift.drifted_in(("response",)) and result.drift.drifted_in(("answers", "answer_history"))
    drift = next(f for f in result.findings if f.check == "feature_drift")
    assert drift.alert and "daling van de respons" in drift.message and "selectie" in drift.message
    alerting = {f.check for f in result.findings if f.alert}
    assert {"response", "feature_drift"} <= alerting
    assert "performance" not in alerting, result.performance["reasons"]
    assert result.status == "watch"
    assert any("vragenlijstrespons gedaald" in r for r in result.reasons)
