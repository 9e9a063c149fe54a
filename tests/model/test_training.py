"""Training on a small synthetic school: folds by time, calibration, baselines, refusals, the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.calendar import WEEKS_PER_YEAR
from data.synthetic import GeneratorConfig, generate, present_oracle_column
from data.tables import from_generated
from models.registry import CHALLENGER, load, log_risk_model, set_alias, version_for
from tests.conftest import TEST_KEY, TEST_TRAINING, School
from training.config import load_config
from training.fit import TrainingDataError, temporal_folds
from training.pipeline import TrainingResult, prepare, scalar, train


def test_folds_follow_time_and_labels_never_reach_the_next_fold() -> None:
    config = load_config()
    folds = temporal_folds(3 * WEEKS_PER_YEAR - 1, config)
    assert max(folds.train) < min(folds.calibration) < min(folds.test)
    assert max(folds.train) + config.horizon < WEEKS_PER_YEAR
    assert max(folds.calibration) + config.horizon < 2 * WEEKS_PER_YEAR
    assert max(folds.test) + config.horizon <= 3 * WEEKS_PER_YEAR - 1
    # the band cuts take every week of the calibration year (scores only, no label crosses into the test year)
    assert set(folds.calibration) < set(folds.calibration_all_year)
    assert max(folds.calibration_all_year) == 2 * WEEKS_PER_YEAR - 1 < min(folds.test)
    with pytest.raises(TrainingDataError, match="at least 3 school years"):
        temporal_folds(2 * WEEKS_PER_YEAR - 1, config)


def test_a_last_year_that_is_not_complete_is_never_dropped_without_a_word() -> None:
    """Issue 17 point 8: the data ended in week 38 of the fourth year and training counted three years,
    testing on the third. Now it is refused with the weeks missing, or used or left out when asked."""
    max_week = 3 * WEEKS_PER_YEAR + 37  # school year 4 holds 38 weeks
    with pytest.raises(TrainingDataError, match=r"week 38 of school year 4.*last 2 of 40 weeks are missing"):
        temporal_folds(max_week, load_config())
    tested = temporal_folds(max_week, load_config(overrides={"incomplete_year": "test"}))
    assert (tested.years, tested.weeks_in_test_year, tested.weeks_left_out) == (4, 38, 0)
    assert min(tested.test) >= 3 * WEEKS_PER_YEAR
    assert max(tested.test) + load_config().horizon <= max_week
    assert max(tested.test_all_year) == max_week
    assert max(tested.calibration_all_year) == 3 * WEEKS_PER_YEAR - 1
    left_out = temporal_folds(max_week, load_config(overrides={"incomplete_year": "leave_out"}))
    assert (left_out.years, left_out.weeks_left_out, left_out.weeks_in_test_year) == (3, 38, WEEKS_PER_YEAR)
    assert max(left_out.test_all_year) == 3 * WEEKS_PER_YEAR - 1
    # Whole years are trained as before, with nothing to say.
    whole = temporal_folds(3 * WEEKS_PER_YEAR - 1, load_config())
    assert (whole.weeks_left_out, whole.weeks_in_test_year) == (0, WEEKS_PER_YEAR)


def test_a_test_year_too_short_for_one_label_window_is_refused_with_the_weeks_it_needs() -> None:
    config = load_config(overrides={"incomplete_year": "test"})
    too_short = r"test fold \(school year 4\).*holds 5 of its weeks.*needs 14"
    with pytest.raises(TrainingDataError, match=too_short):
        temporal_folds(3 * WEEKS_PER_YEAR + 4, config)
    with pytest.raises(ValueError, match="incomplete_year"):
        load_config(overrides={"incomplete_year": "skip"})


@pytest.fixture(scope="module")
def trained_1000(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """The same quick training on a school of 1,000 students: on the suite's 500-student school the test
    year holds about 300 positive student-weeks, and whether the model then beats 0.62 ROC-AUC depends on
    the draw (0.53-0.55 for seed 21 since the generator's draws changed, with or without staff)."""
    world = GeneratorConfig(seed=21, n_students=1000, n_years=3)
    raw, rest = from_generated(generate(world), TEST_KEY)
    return train(
        raw,
        load_config(overrides=TEST_TRAINING),
        tmp_path_factory.mktemp("run1000"),
        truth=rest["synthetic_truth"],
        audit=rest["audit_attributes"],
        registered_model=None,
        present_oracle=lambda rows: present_oracle_column(
            rows, world, 12, pseudonym_key=TEST_KEY, truth=rest["synthetic_truth"], workers=2
        ),
    )


def test_the_present_oracle_lies_between_the_model_and_the_future_knowing_oracle(
    trained_1000: TrainingResult,
) -> None:
    """On the same rows: no model can beat the best probability anyone could give that week, and that
    probability cannot beat the oracle that knows each student's future path."""
    overall = trained_1000.evaluation.overall
    present = scalar(overall, "oracle_present", "roc_auc")
    assert scalar(overall, "model", "roc_auc") <= present <= scalar(overall, "oracle", "roc_auc")
    assert scalar(overall, "oracle_present", "ece") < 0.02
    targets = set(trained_1000.targets["target"])
    assert {"ROC-AUC gap to oracle_present", "precision@k relative to logistic"} <= targets


def test_model_ranks_below_the_oracle_and_is_calibrated(trained_1000: TrainingResult) -> None:
    """On a small school the rules can match the model; `make bench` compares them at realistic size.
    Here: the model learns, stays below the ceiling, and its probabilities are calibrated."""
    trained = trained_1000
    overall = trained.evaluation.overall
    assert scalar(overall, "oracle", "roc_auc") > scalar(overall, "model", "roc_auc") > 0.62
    assert scalar(overall, "model", "ece") < 0.02
    assert set(trained.targets["target"]) >= {"ROC-AUC gap to oracle", "expected calibration error"}


def test_hoog_holds_about_five_percent_in_every_week_of_the_test_year(trained_1000: TrainingResult) -> None:
    """The bands are cut per week of the programme year on every week of the calibration year, and the
    calibrated probabilities have no ties (isotonic read between its blocks' centres); on the test year of
    a 1,000-student school (about 1,150 students a week) "hoog" stays within the target's 3-8% and
    "verhoogd or higher" within 15-25% every week (seen for seeds 21 and 22: hoog 4.4-6.2% and 3.4-6.0%,
    verhoogd or higher 18.0-23.2% and 17.3-20.4%; with step calibration and cuts on the calibration fold
    alone it was 2.7-7.9%)."""
    shares = trained_1000.evaluation.band_shares
    assert len(shares) >= 35
    low, high = shares["high_share"].min(), shares["high_share"].max()
    assert low >= 0.03 and high <= 0.08, (low, high)
    raised = shares["elevated_or_high_share"]
    assert raised.min() >= 0.15 and raised.max() <= 0.25, (raised.min(), raised.max())
    measured = trained_1000.targets.set_index("target")["measured"]
    assert measured["lowest weekly share in hoog (test year)"] == pytest.approx(low, abs=1e-4)
    assert measured["highest weekly share in hoog (test year)"] == pytest.approx(high, abs=1e-4)


def test_report_has_card_plots_and_subgroups(trained: TrainingResult) -> None:
    for name in (
        "model_card.md",
        "model_card.html",
        "reliability.png",
        "precision_recall.png",
        "roc_auc_by_week.png",
        "shap_summary.png",
        "summary.json",
    ):
        assert (trained.out_dir / name).stat().st_size > 0, name
    card = (trained.out_dir / "model_card.md").read_text(encoding="utf-8")
    for heading in ("## Intended use", "## Out of scope and misuse", "## Subgroups", "## Limitations"):
        assert heading in card
    groups = set(trained.evaluation.subgroups["attribute"])
    assert groups == {"gender", "migration_background", "level", "age_group"}


def test_scores_come_with_bands_intervals_and_dutch_reasons(trained: TrainingResult, school: School) -> None:
    from features import snapshot

    frame = snapshot(school.tables, 2 * WEEKS_PER_YEAR + 15)
    scored = trained.model.score(frame)
    assert ((scored.lower <= scored.probability) & (scored.probability <= scored.upper)).all()
    assert set(scored.band) <= {"laag", "verhoogd", "hoog", "onvoldoende gegevens"}
    high = np.flatnonzero(scored.band == "hoog")
    assert len(high) > 0
    for i in high:  # reasons are changeable signals on the worrying side only (tests/model/test_reasons.py)
        assert len(scored.reasons[i]) <= 3
        assert all(r.contribution > 0 and r.text for r in scored.reasons[i])
    assert sum(bool(scored.reasons[i]) for i in high) >= 0.9 * len(high)
    # SHAP contributions add up to the raw score: the basis of an exact replay.
    np.testing.assert_allclose(
        scored.shap_values.sum(axis=1) + scored.base_value, scored.raw_score, atol=1e-6
    )


def test_no_protected_attribute_reaches_the_model(trained: TrainingResult) -> None:
    lowered = [f.lower() for f in trained.model.features]
    assert not [f for f in lowered if "gender" in f or "migration" in f or "sector" in f]


def test_too_little_data_is_refused_before_anything_is_logged(
    school: School, tmp_path: Path, mlflow_registry: str
) -> None:
    import mlflow

    few = school.tables.students.head(30)["student_id"]
    thin = type(school.tables)(
        students=school.tables.students[school.tables.students["student_id"].isin(few)],
        questionnaire_answers=school.tables.questionnaire_answers[
            school.tables.questionnaire_answers["student_id"].isin(few)
        ],
        attendance_weeks=school.tables.attendance_weeks[
            school.tables.attendance_weeks["student_id"].isin(few)
        ],
        progress_results=school.tables.progress_results[
            school.tables.progress_results["student_id"].isin(few)
        ],
        outcomes=school.tables.outcomes[school.tables.outcomes["student_id"].isin(few)],
    )
    with pytest.raises(TrainingDataError, match=r"vsv student-weeks|single class"):
        train(thin, load_config(), tmp_path / "out", registered_model="vsv-risk")
    assert mlflow.search_runs(search_all_experiments=True).empty
    assert not (tmp_path / "out").exists()


def test_a_broken_configuration_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("horizon: -3\nlgbm: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"(?s)invalid training configuration .*horizon"):
        load_config(bad)


def test_registry_round_trip_keeps_the_model_identical(
    trained: TrainingResult, school: School, mlflow_registry: str
) -> None:
    import mlflow

    with mlflow.start_run():
        version = log_risk_model(trained.model, "vsv-risk")
    set_alias("vsv-risk", CHALLENGER, version)
    assert version_for("vsv-risk", CHALLENGER) == version
    assert version_for("vsv-risk", "champion") is None
    loaded = load("vsv-risk", alias=CHALLENGER)
    frame = prepare(school.tables, load_config()).test.head(200)
    np.testing.assert_array_equal(loaded.model.predict_proba(frame), trained.model.predict_proba(frame))
    assert isinstance(loaded.model.reference, pd.DataFrame) and "probability" in loaded.model.reference
    with pytest.raises(LookupError):
        load("vsv-risk", alias="champion")
