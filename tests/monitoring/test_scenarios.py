"""Scenario worlds scored by one model trained on a baseline world: what the weekly run must and must not
flag. Week 86 is six weeks into a scenario (labels not yet matured); week 100 evaluates as-of weeks
81-88, whose 12-week horizon has passed."""

from __future__ import annotations

import pytest

from data.questionnaire import load_questionnaire
from models.risk_model import RiskModel
from monitoring.config import MonitoringConfig
from monitoring.weekly import monitor_week
from tests.monitoring.conftest import World

pytestmark = pytest.mark.slow
EARLY, MATURED = 86, 100

QUESTIONNAIRE = load_questionnaire()


@pytest.mark.parametrize("world_name", ["lockdown_world", "hot_labour_world"])
def test_a_shock_is_flagged_as_drift_then_as_a_performance_drop(
    world_name: str, request: pytest.FixtureRequest, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    world: World = request.getfixturevalue(world_name)
    matured = monitor_week(world.tables, model, MATURED, world.audit, monitoring_config, QUESTIONNAIRE)
    assert matured.drift.risk_drift, matured.drift.summary()
    assert matured.performance["judged"]
    assert matured.performance["alert"], matured.performance
    assert matured.status == "retrain"
    observed = matured.performance["current"]["observed_rate"]
    predicted = matured.performance["current"]["mean_probability"]
    assert observed > 1.35 * predicted  # more vsv than the model expects: it underestimates the shock


def test_lockdown_drift_shows_before_labels_mature(
    lockdown_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    early = monitor_week(
        lockdown_world.tables, model, EARLY, lockdown_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert early.drift.risk_drift and early.drift.prediction_drift
    assert any(c.startswith("att_rate") for c in early.drift.risk_drifted)
    assert not early.performance["alert"]  # the evaluated weeks (67-74) precede the lockdown
    assert early.status == "watch"


@pytest.mark.parametrize("week", [EARLY, MATURED])
def test_a_baseline_world_raises_no_false_alarm(
    week: int, baseline_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    result = monitor_week(
        baseline_world.tables, model, week, baseline_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert not result.drift.risk_drift, result.drift.risk_drifted
    assert not result.drift.prediction_drift
    assert not result.response["alert"]
    assert not result.quality["alert"]
    assert result.performance["judged"] and not result.performance["alert"], result.performance["reasons"]
    assert result.status != "retrain"


@pytest.mark.xfail(
    strict=True,
    reason="known finding (2026-12-02, open under issue 18's monitoring work): since the generator's draws "
    "changed, survey fatigue also flags drift in the latest answers (q_*_latest): the students who still "
    "answer are selected on wellbeing, and the drift check reads that selection as a risk change",
)
def test_survey_fatigue_is_a_response_alert_not_a_risk_change(
    fatigue_world: World, model: RiskModel, monitoring_config: MonitoringConfig
) -> None:
    result = monitor_week(
        fatigue_world.tables, model, MATURED, fatigue_world.audit, monitoring_config, QUESTIONNAIRE
    )
    assert result.response["alert"]
    assert result.response["response_rate"] < result.response["reference_rate"] - 0.15
    assert not result.drift.risk_drift, result.drift.risk_drifted
    alerting = {f.check for f in result.findings if f.alert}
    assert "response" in alerting
    assert not alerting & {"risk_drift", "prediction_drift", "performance"}
    assert result.status == "watch"
    assert any("vragenlijstrespons" in r for r in result.reasons)
