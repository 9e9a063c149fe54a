"""Small checks of the pure functions on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitoring.config import MonitoringConfig, load_config
from monitoring.drift import reference_window, response_check
from monitoring.fairness import fairness_check, fairness_table
from monitoring.stability import jaccard, list_stability
from monitoring.status import Finding, decide


def test_config_is_frozen_and_validated() -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.stability = config.stability
    with pytest.raises(ValueError, match="not valid"):
        load_config(overrides={"fairness": {"ratio_range": [1.25, 0.8]}})


def test_reference_window_stays_on_one_side_of_the_period_results() -> None:
    reference = pd.DataFrame({"week_in_year": np.repeat(np.arange(2, 29), 100)})
    config = load_config().drift
    window = reference_window(reference, week=86, config=config)  # week in year 7
    assert window["week_in_year"].between(5, 9).all() and len(window) == 400  # 6-8, widened to 400 rows
    narrow = reference_window(
        reference, week=86, config=config.model_copy(update={"min_reference_rows": 300})
    )
    assert narrow["week_in_year"].between(6, 8).all() and len(narrow) == 300  # weeks in year 7 +- 1
    wide = reference_window(reference, week=86, config=config.model_copy(update={"min_reference_rows": 900}))
    assert wide["week_in_year"].between(2, 9).all() and len(wide) == 800  # widened, never past week 9
    before = reference_window(reference, week=88, config=config)  # week in year 9: results come in week 10
    assert before["week_in_year"].max() == 9


def _scored(ids: list[str], p: list[float]) -> pd.DataFrame:
    bands = np.where(np.asarray(p) >= 0.5, "hoog", "laag")
    return pd.DataFrame({"student_id": ids, "probability": p, "band": bands})


def test_list_stability_counts_overlap_and_band_changes() -> None:
    ids = [f"s{i}" for i in range(100)]
    p = list(np.linspace(0, 1, 100))
    config = load_config().stability
    same = list_stability(_scored(ids, p), _scored(ids, p), 0.1, config)
    assert same["jaccard_top_k"] == 1.0 and same["band_changes"] == 0 and not same["alert"]
    reversed_ = list_stability(_scored(ids, p), _scored(ids, p[::-1]), 0.1, config)
    assert reversed_["jaccard_top_k"] == 0.0 and reversed_["band_changes"] == 100 and reversed_["alert"]
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)


def _fair_frame(rng: np.random.Generator, bias: float) -> pd.DataFrame:
    n = 8000
    group = rng.choice(["geen", "niet_westers"], size=n, p=[0.7, 0.3])
    p = rng.uniform(0.0, 0.2, size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    shown = np.where(group == "niet_westers", np.clip(p * bias, 0, 1), p)
    return pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(n)],
            "vsv": y,
            "probability": shown,
            "migration_background": group,
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fairness_flags_a_planted_disparity_and_not_an_equal_model(seed: int) -> None:
    config = load_config().fairness
    rng = np.random.default_rng(seed)
    fair = fairness_table(_fair_frame(rng, 1.0), 0.15, config, ("migration_background",))
    assert not fairness_check(fair, config)["alert"]
    biased = fairness_table(_fair_frame(rng, 2.0), 0.15, config, ("migration_background",))
    check = fairness_check(biased, config)
    metrics = {f["metric"] for f in check["alert_flags"]}
    assert {"false_positive_rate", "calibration"} <= metrics


def test_response_drop_alerts_per_level() -> None:
    students = pd.DataFrame({"student_id": ["a", "b", "c", "d"] * 5, "team": "t1", "level": [2, 2, 3, 3] * 5})
    students["student_id"] = [f"{s}{i}" for i, s in enumerate(students["student_id"])]
    reference = pd.DataFrame({"q_response_rate_8w": [0.8] * 20, "level": [2.0, 2.0, 3.0, 3.0] * 5})
    current = pd.DataFrame(
        {"student_id": students["student_id"], "q_response_rate_8w": [0.3, 0.3, 0.8, 0.8] * 5}
    )
    current["has_questionnaire_4w"] = 1.0
    check = response_check(current, reference, students, load_config().response)
    assert check["alert"] and check["levels_dropped"] == ["2"]


def test_decide_puts_retrain_before_watch() -> None:
    config: MonitoringConfig = load_config()
    findings = [Finding("response", True, "respons"), Finding("performance", True, "prestaties")]
    assert decide(findings, config.status) == ("retrain", ["prestaties", "respons"])
    assert decide([Finding("response", False, "x")], config.status) == ("ok", [])
