"""The ``programme_end`` label (issue 17): vsv before the student's expected end of the programme, beside
the fixed horizon; folds that keep a row only when its own window closes; the label kind kept with the
model and used by monitoring. The default (``label: horizon``) must give the very labels and folds of
before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire
from data.tables import RawTables
from data.vocabulary import OUTCOMES, VSV_OUTCOMES
from features import build_training_set
from features.labels import expected_end_week, labels, window_end
from features.population import enrolled_students
from monitoring.compare import compare_on_recent_weeks
from monitoring.config import load_config as load_monitoring_config
from monitoring.performance import closed_rows, label_kind, matured_rows
from tests.conftest import TEST_TRAINING, School
from training.config import load_config
from training.fit import TrainingDataError, fold_rows, temporal_folds
from training.pipeline import TrainingResult, prepare, scalar, train

# --- labels on a hand-made school ---------------------------------------------------------------------------


def _tables(
    students: list[tuple[str, int, int]],
    outcomes: list[tuple[str, int, str]],
    expected_end: dict[str, float] | None = None,
    last_week: int = 200,
) -> RawTables:
    """Students (id, start_week, expected_duration_years), their outcomes, optionally an
    ``expected_end_week`` column (NaN where not given), and attendance up to ``last_week``."""
    frame = pd.DataFrame(
        {
            "student_id": [s for s, _, _ in students],
            "level": 2,
            "route": "BOL",
            "prior_education": "vmbo_bb",
            "start_week": [w for _, w, _ in students],
            "age_at_start": 16.0,
            "expected_duration_years": [d for _, _, d in students],
        }
    )
    if expected_end is not None:
        frame["expected_end_week"] = [expected_end.get(s, np.nan) for s in frame["student_id"]]
    return RawTables(
        students=frame,
        questionnaire_answers=pd.DataFrame(columns=["student_id", "week", "item", "value"]),
        attendance_weeks=pd.DataFrame(
            {
                "student_id": "x",
                "week": [last_week],
                "scheduled_hours": 24,
                "present_hours": 24,
                "authorised_absence_hours": 0,
                "unauthorised_absence_hours": 0,
            }
        ),
        progress_results=pd.DataFrame(
            columns=["student_id", "week", "period", "credits_expected", "credits_obtained", "units_failed"]
        ),
        outcomes=pd.DataFrame(outcomes, columns=["student_id", "week", "outcome"]),
    )


# One-year programmes from week 0 end in week 39 (0 + 1 * 40 - 1).
STUDENTS = [
    ("early_vsv", 0, 1),  # vsv in week 30: before the end
    ("late_vsv", 0, 1),  # vsv in week 45: after the end of the programme
    ("switch", 0, 1),  # switch in week 20: never vsv
    ("graduated", 0, 1),  # graduated in week 39
    ("open", 0, 1),  # no outcome yet
    ("given_end", 0, 2),  # derived end 79, the export says 25; vsv in week 30
    ("given_null", 0, 2),  # expected_end_week column present but empty: derived 79; vsv in week 60
    ("past_end", -80, 2),  # expected end week -1, still enrolled in week 10
]
OUTCOME_ROWS = [
    ("early_vsv", 30, "vsv"),
    ("late_vsv", 45, "vsv"),
    ("switch", 20, "switch"),
    ("graduated", 39, "graduated"),
    ("given_end", 30, "vsv"),
    ("given_null", 60, "vsv"),
]


def test_expected_end_is_the_export_value_when_given_else_start_plus_duration() -> None:
    derived = expected_end_week(_tables(STUDENTS, OUTCOME_ROWS).students)
    assert derived.tolist() == [39, 39, 39, 39, 39, 79, 79, -1]
    given = _tables(STUDENTS, OUTCOME_ROWS, expected_end={"given_end": 25, "given_null": np.nan})
    assert expected_end_week(given.students).tolist() == [39, 39, 39, 39, 39, 25, 79, -1]
    # A nullable integer column (as a reader may give it) works the same.
    nullable = given.students.assign(expected_end_week=pd.array([pd.NA] * 5 + [25, pd.NA, pd.NA], "Int64"))
    assert expected_end_week(nullable).tolist() == [39, 39, 39, 39, 39, 25, 79, -1]


def test_programme_end_counts_vsv_before_the_expected_end_only() -> None:
    tables = _tables(STUDENTS, OUTCOME_ROWS, expected_end={"given_end": 25})
    out = labels(tables, 10, label="programme_end").set_index("student_id")
    assert out.loc["early_vsv", "vsv"] == 1  # week 30 <= 39; the 12-week horizon (to week 22) misses it
    assert out.loc["late_vsv", "vsv"] == 0 and out.loc["late_vsv", "outcome_in_horizon"] == "enrolled"
    assert out.loc["switch", "vsv"] == 0 and out.loc["switch", "outcome_in_horizon"] == "switch"
    assert out.loc["graduated", "outcome_in_horizon"] == "graduated"
    assert out.loc["open", "vsv"] == 0
    assert out.loc["given_end", "vsv"] == 0  # its export says week 25: the vsv in week 30 is after it
    assert out.loc["given_null", "vsv"] == 1  # no value given: derived end 79, vsv in week 60
    assert out.loc["past_end", "vsv"] == 0 and out.loc["past_end", "outcome_in_horizon"] == "enrolled"
    # Without the column the derived end (79) holds for given_end too: the vsv in week 30 counts.
    derived = labels(_tables(STUDENTS, OUTCOME_ROWS), 10, label="programme_end").set_index("student_id")
    assert derived.loc["given_end", "vsv"] == 1
    # The fixed horizon on the same tables, for contrast.
    horizon = labels(tables, 10).set_index("student_id")
    assert horizon.loc["early_vsv", "vsv"] == 0 and horizon.loc["given_end", "vsv"] == 0
    assert horizon["vsv"].sum() == 0


def test_programme_end_label_matures_at_the_end_or_at_an_outcome_seen() -> None:
    tables = _tables(STUDENTS, [*OUTCOME_ROWS[:2], ("switch", 15, "switch")])
    at_20 = labels(tables, 10, max_week=20, label="programme_end").set_index("student_id")["label_mature"]
    assert bool(at_20["switch"])  # an outcome seen in (10, 20] is final
    assert not at_20["early_vsv"] and not at_20["open"]  # end 39, nothing seen by week 20
    assert bool(at_20["past_end"])  # past the expected end and still enrolled: empty window, mature
    at_30 = labels(tables, 10, max_week=30, label="programme_end").set_index("student_id")["label_mature"]
    assert bool(at_30["early_vsv"]) and not at_30["open"]
    at_39 = labels(tables, 10, max_week=39, label="programme_end").set_index("student_id")
    assert at_39.loc[["early_vsv", "late_vsv", "open"], "label_mature"].all()
    assert at_39.loc["late_vsv", "vsv"] == 0  # mature at 39 as "enrolled": week 45 is after the end
    assert not at_39.loc[["given_end", "given_null"], "label_mature"].any()  # end 79


def test_window_end_is_one_implementation_for_both_kinds() -> None:
    tables = _tables(STUDENTS, OUTCOME_ROWS, expected_end={"given_end": 25})
    rows = enrolled_students(tables, 10)[["student_id"]].assign(as_of=10)
    assert (window_end(rows, tables.students, "horizon", 12) == 22).all()
    ends = window_end(rows, tables.students, "programme_end").set_axis(rows["student_id"])
    assert ends.to_dict() == {
        "early_vsv": 39,
        "late_vsv": 39,
        "switch": 39,
        "graduated": 39,
        "open": 39,
        "given_end": 25,
        "given_null": 79,
        "past_end": -1,
    }
    with pytest.raises(ValueError, match="label must be one of"):
        labels(tables, 10, label="school_year")  # type: ignore[arg-type]
    missing = tables.students.assign(expected_duration_years=np.where(tables.students.index == 4, np.nan, 1))
    with pytest.raises(ValueError, match="student open has no expected end"):
        window_end(rows, missing, "programme_end")


# --- the default is the label of before ---------------------------------------------------------------------


def _labels_before(
    tables: RawTables, as_of: int, horizon: int = 12, max_week: int | None = None
) -> pd.DataFrame:
    """features.labels.labels as it was before the programme_end option (commit 0152d81), verbatim but for
    the checks on bad outcomes."""
    outcomes = tables.outcomes
    assert outcomes["outcome"].isin(OUTCOMES).all()
    if max_week is None:
        weeks = tables.attendance_weeks["week"]
        max_week = int(weeks.max()) if len(weeks) else as_of
    enrolled = enrolled_students(tables, as_of)[["student_id"]]
    in_horizon = outcomes.loc[
        (outcomes["week"] > as_of) & (outcomes["week"] <= as_of + horizon), ["student_id", "outcome"]
    ]
    out = enrolled.merge(in_horizon, on="student_id", how="left", validate="one_to_one")
    out["outcome_in_horizon"] = out.pop("outcome").fillna("enrolled").astype(str)
    out["vsv"] = out["outcome_in_horizon"].isin(VSV_OUTCOMES).astype(np.int8)
    out["label_mature"] = as_of + horizon <= max_week
    return out[["student_id", "vsv", "outcome_in_horizon", "label_mature"]]


def _same_bytes(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)
    assert pd.util.hash_pandas_object(a, index=True).equals(pd.util.hash_pandas_object(b, index=True))


def test_the_default_label_is_byte_identical_to_before(school: School) -> None:
    tables = school.tables
    last = int(tables.attendance_weeks["week"].max())
    for as_of in (1, 10, 39, 40, 75, last - 12, last - 5):
        for horizon, max_week in ((12, None), (4, None), (12, 60)):
            before = _labels_before(tables, as_of, horizon, max_week)
            _same_bytes(labels(tables, as_of, horizon, max_week), before)
            _same_bytes(labels(tables, as_of, horizon, max_week, label="horizon"), before)
    hand = _tables(STUDENTS, OUTCOME_ROWS, expected_end={"given_end": 25})
    _same_bytes(labels(hand, 10), _labels_before(hand, 10))
    weeks = [5, 45, 90]
    _same_bytes(build_training_set(tables, weeks), build_training_set(tables, weeks, label="horizon"))


def test_default_folds_and_fold_rows_are_those_of_before(school: School) -> None:
    """prepare() with the default configuration selects exactly the rows it selected before (as-of week in
    the fold; the test fold also label_mature)."""
    config = load_config(overrides={**TEST_TRAINING, "as_of_step": 3})
    prepared = prepare(school.tables, config)
    folds = prepared.folds
    assert max(folds.train) + config.horizon <= folds.train_until < min(folds.calibration)
    assert max(folds.calibration) + config.horizon <= folds.calibration_until < min(folds.test)
    weeks = sorted(
        set(folds.train) | set(folds.calibration) | set(folds.calibration_all_year) | set(folds.test_all_year)
    )
    rows = build_training_set(school.tables, weeks, config.horizon, max_week=prepared.max_week)
    rows["week_in_year"] = rows["as_of"] % WEEKS_PER_YEAR + 1

    def old(weeks: tuple[int, ...]) -> pd.DataFrame:
        return rows[rows["as_of"].isin(weeks)].reset_index(drop=True)

    test_all = old(folds.test_all_year)
    _same_bytes(prepared.train, old(folds.train))
    _same_bytes(prepared.calibration, old(folds.calibration))
    _same_bytes(prepared.test_all_year, test_all)
    old_test = test_all[test_all["as_of"].isin(folds.test) & test_all["label_mature"]].reset_index(drop=True)
    _same_bytes(prepared.test, old_test)


# --- folds --------------------------------------------------------------------------------------------------


def test_programme_end_folds_keep_a_row_only_when_its_own_window_closes(school: School) -> None:
    config = load_config(overrides={**TEST_TRAINING, "label": "programme_end"})
    prepared = prepare(school.tables, config)
    folds = prepared.folds
    # Every as-of week of a year is a candidate: the rows' own windows decide.
    assert len(folds.train) == len(folds.calibration_all_year)
    students = school.tables.students
    for frame, until in (
        (prepared.train, folds.train_until),
        (prepared.calibration, folds.calibration_until),
        (prepared.test, prepared.max_week),
    ):
        ends = window_end(frame, students, "programme_end")
        assert len(frame) and (ends <= until).all()
        assert frame["label_mature"].all()
    # Rows were left out because their window reaches past the fold (a programme not yet ended then).
    all_train_weeks = build_training_set(school.tables, folds.train[:3], max_week=prepared.max_week)
    assert len(all_train_weeks) > len(prepared.train[prepared.train["as_of"].isin(folds.train[:3])])


def test_a_fold_left_thin_by_closed_windows_is_refused_saying_which_and_why() -> None:
    rows = pd.DataFrame(
        {
            "student_id": ["a", "b", "c", "d"],
            "as_of": [5, 5, 6, 6],
            "vsv": np.array([1, 0, 1, 0], dtype=np.int8),
        }
    )
    ends = pd.Series([30, 30, 90, 90])
    config = load_config(overrides={"label": "programme_end", "min_positive_rows": 2})
    with pytest.raises(
        TrainingDataError,
        match=r"the train fold has 1 vsv student-weeks; at least 2 are needed .*label: programme_end.*"
        r"closes by week 39, the fold's last: 2 of the 4 student-weeks of its as-of weeks do",
    ):
        fold_rows(rows, ends, (5, 6), 39, "train", config)
    with pytest.raises(
        TrainingDataError, match=r"the calibration fold has no rows; with label: programme_end"
    ):
        fold_rows(rows, ends, (5, 6), 20, "calibration", config)
    # The horizon's refusal reads as before, without the note.
    horizon = load_config(overrides={"min_positive_rows": 2})
    with pytest.raises(TrainingDataError) as refused:
        fold_rows(rows, ends, (5, 6), 39, "train", horizon)
    assert str(refused.value) == (
        "the train fold has 1 vsv student-weeks; at least 2 are needed (generate or import more students, "
        "or lower min_positive_rows)"
    )
    assert len(fold_rows(rows, ends, (5, 6), 90, "train", config)) == 4


def test_programme_end_on_too_few_years_is_refused_naming_the_fold(school: School) -> None:
    config = load_config(overrides={**TEST_TRAINING, "label": "programme_end", "min_positive_rows": 150})
    with pytest.raises(TrainingDataError, match=r"the calibration fold has \d+ vsv .*closes by week 79"):
        prepare(school.tables, config)


def test_the_configuration_offers_the_label_and_refuses_what_cannot_follow_it() -> None:
    assert load_config().label == "horizon"
    assert load_config(overrides={"label": "programme_end"}).label == "programme_end"
    with pytest.raises(ValueError, match="label"):
        load_config(overrides={"label": "school_year"})
    with pytest.raises(ValueError, match="programme_end needs engine: pandas"):
        load_config(overrides={"label": "programme_end", "engine": "dask"})
    with pytest.raises(ValueError, match="programme_end needs tune_trials: 0"):
        load_config(overrides={"label": "programme_end", "tune_trials": 3})
    folds = temporal_folds(3 * WEEKS_PER_YEAR - 1, load_config(overrides={"label": "programme_end"}))
    assert (folds.train_until, folds.calibration_until, folds.test_until) == (39, 79, 119)


# --- monitoring reads the model's label ---------------------------------------------------------------------


class _Meta:
    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata


def test_a_model_without_the_label_field_means_horizon() -> None:
    assert label_kind(_Meta({"horizon": 12})) == "horizon"  # type: ignore[arg-type]
    assert label_kind(_Meta({"label": "programme_end"})) == "programme_end"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="records label 'school_year'"):
        label_kind(_Meta({"label": "school_year"}))  # type: ignore[arg-type]


def test_monitoring_rows_of_programme_end_are_those_whose_window_closed(
    school: School, questionnaire: Questionnaire
) -> None:
    known_until, weeks = 100, [84, 85, 86, 87]
    closed = closed_rows(school.tables, weeks, known_until, 12, "programme_end", questionnaire)
    assert len(closed) and (window_end(closed, school.tables.students, "programme_end") <= known_until).all()
    # Mature rows whose window is still open (an outcome already seen) are left out: they favour leavers.
    everything = build_training_set(
        school.tables.until(known_until),
        weeks,
        12,
        questionnaire,
        max_week=known_until,
        label="programme_end",
    )
    mature = everything[everything["label_mature"]]
    assert len(mature) > len(closed)
    assert mature["vsv"].mean() > closed["vsv"].mean()
    # The horizon's rows are its mature rows, as before.
    horizon = closed_rows(school.tables, weeks, known_until, 12, "horizon", questionnaire)
    before = build_training_set(
        school.tables.until(known_until), weeks, 12, questionnaire, max_week=known_until
    )
    _same_bytes(horizon, before[before["label_mature"]].reset_index(drop=True))


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_programme_end(school: School, tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    def present_oracle(rows: pd.DataFrame) -> pd.Series:
        raise AssertionError("the horizon-bound present oracle must not score a programme_end run")

    return train(
        school.tables,
        load_config(overrides={**TEST_TRAINING, "label": "programme_end"}),
        tmp_path_factory.mktemp("programme_end"),
        truth=school.truth,
        audit=school.audit,
        registered_model=None,
        present_oracle=present_oracle,
    )


@pytest.mark.slow
def test_training_on_programme_end_records_the_label_with_the_model(
    trained_programme_end: TrainingResult, trained: TrainingResult
) -> None:
    result = trained_programme_end
    assert result.model.metadata["label"] == "programme_end"
    assert trained.model.metadata["label"] == "horizon"  # the default run records its label too
    card = (result.out_dir / "model_card.md").read_text(encoding="utf-8")
    assert "**Label**: vertrek zonder startkwalificatie voor het einde van de opleiding" in card
    assert "voor het einde van de opleiding voortijdig vertrokken" in card
    assert "binnen 12 weken voortijdig" not in card
    assert "oracle_present is not computed" in card
    assert "Labels mature at the student's expected end" in card
    default_card = (trained.out_dir / "model_card.md").read_text(encoding="utf-8")
    assert "**Label**: vsv binnen 12 schoolweken (label: horizon)" in default_card
    assert "binnen 12 weken voortijdig vertrokken" in default_card
    # The test rows are the closed windows; the oracle scored them over the same window.
    assert "oracle" in result.evaluation.overall.index
    assert "oracle_present" not in result.evaluation.overall.index
    assert scalar(result.evaluation.overall, "model", "roc_auc") > 0.6


@pytest.mark.slow
def test_monitoring_rebuilds_the_models_own_label(
    trained_programme_end: TrainingResult,
    trained: TrainingResult,
    school: School,
    questionnaire: Questionnaire,
) -> None:
    known_until = 100
    config = load_monitoring_config()
    weeks = [84, 85, 86, 87]
    rows = matured_rows(school.tables, trained_programme_end.model, weeks, known_until, 12, questionnaire)
    expected = closed_rows(school.tables, weeks, known_until, 12, "programme_end", questionnaire)
    assert rows["student_id"].tolist() == expected["student_id"].tolist()
    assert rows["vsv"].tolist() == expected["vsv"].tolist()
    with pytest.raises(ValueError, match="different labels"):
        compare_on_recent_weeks(
            school.tables,
            {"a": trained_programme_end.model, "b": trained.model},
            known_until,
            None,
            config,
            questionnaire,
        )
