"""Behaviour of ``features.labels`` and ``features.build_training_set``."""

from __future__ import annotations

import pandas as pd
import pytest

from data.synthetic import GeneratorConfig, generate
from data.tables import RawTables, from_generated
from features import MODEL_FEATURES, build_training_set, labels, snapshot


@pytest.fixture(scope="module")
def raw() -> RawTables:
    tables, _ = from_generated(generate(GeneratorConfig(n_students=400, n_years=2, seed=1)), key="test-key")
    return tables


def _tables(outcomes: list[tuple[str, int, str]], start_weeks: dict[str, int] | None = None) -> RawTables:
    starts = start_weeks or {sid: 0 for sid, _, _ in outcomes}
    return RawTables(
        students=pd.DataFrame(
            {
                "student_id": list(starts),
                "level": 2,
                "route": "BOL",
                "prior_education": "vmbo_bb",
                "start_week": list(starts.values()),
                "age_at_start": 16.0,
                "expected_duration_years": 2,
            }
        ),
        questionnaire_answers=pd.DataFrame(columns=["student_id", "week", "item", "value"]),
        attendance_weeks=pd.DataFrame(
            {
                "student_id": "x",
                "week": [79],
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


def test_outcomes_are_counted_only_inside_the_horizon_and_switch_is_never_vsv() -> None:
    tables = _tables(
        [
            ("now", 10, "vsv"),
            ("first", 11, "vsv"),
            ("edge", 22, "vsv"),
            ("after", 23, "vsv"),
            ("switch", 15, "switch"),
            ("grad", 20, "graduated"),
        ],
        {"now": 0, "first": 0, "edge": 0, "after": 0, "switch": 0, "grad": 0, "stay": 0, "later": 11},
    )
    out = labels(tables, 10, horizon=12).set_index("student_id")
    assert "now" not in out.index  # left during week 10: not enrolled at its end, not scored
    assert "later" not in out.index  # not started yet
    assert out.loc["first", "vsv"] == 1 and out.loc["edge", "vsv"] == 1
    assert out.loc["after", "vsv"] == 0 and out.loc["after", "outcome_in_horizon"] == "enrolled"
    assert out.loc["switch", "vsv"] == 0 and out.loc["switch", "outcome_in_horizon"] == "switch"
    assert out.loc["grad", "outcome_in_horizon"] == "graduated" and out.loc["stay", "vsv"] == 0


def test_switch_is_never_vsv_on_generated_data(raw: RawTables) -> None:
    rows = pd.concat([labels(raw, w) for w in (5, 20, 35, 50)])
    assert (rows["outcome_in_horizon"] == "switch").any()
    assert (rows.loc[rows["outcome_in_horizon"] == "switch", "vsv"] == 0).all()
    assert (rows["vsv"] == (rows["outcome_in_horizon"] == "vsv")).all()
    assert set(rows["outcome_in_horizon"]) <= {"vsv", "switch", "graduated", "enrolled"}


def test_vsv_rate_over_the_horizon_is_positive_and_plausible(raw: RawTables) -> None:
    rate = pd.concat([labels(raw, w) for w in (5, 15, 25, 45, 55)])["vsv"].mean()
    assert 0.0 < rate < 0.15


def test_label_matures_only_when_the_horizon_has_passed(raw: RawTables) -> None:
    last = int(raw.attendance_weeks["week"].max())
    assert labels(raw, last - 12)["label_mature"].all()
    assert not labels(raw, last - 11)["label_mature"].any()
    assert not labels(raw, last - 2, horizon=12)["label_mature"].any()
    assert labels(raw, last - 2, horizon=2)["label_mature"].all()
    assert not labels(raw, 10, max_week=15)["label_mature"].any()


def test_labels_cover_the_same_students_as_the_snapshot(raw: RawTables) -> None:
    for as_of in (3, 39, 40, 60):
        assert labels(raw, as_of)["student_id"].tolist() == snapshot(raw, as_of)["student_id"].tolist()


def test_bad_outcomes_raise() -> None:
    with pytest.raises(ValueError, match="student a has more than one outcome row"):
        labels(_tables([("a", 12, "vsv"), ("a", 14, "switch")]), 10)
    with pytest.raises(ValueError, match="outcome 'dropout'"):
        labels(_tables([("a", 12, "dropout")]), 10)
    with pytest.raises(ValueError, match="horizon"):
        labels(_tables([("a", 12, "vsv")]), 10, horizon=0)


def test_training_set_stacks_snapshots_and_labels_per_week(raw: RawTables) -> None:
    weeks = [10, 20, 50]
    rows = build_training_set(raw, weeks, horizon=12)
    assert rows.columns[0] == "as_of"
    assert {"vsv", "outcome_in_horizon", "label_mature", *MODEL_FEATURES} <= set(rows.columns)
    assert rows.groupby("as_of").size().to_dict() == {w: len(snapshot(raw, w)) for w in weeks}
    assert not rows.duplicated(["as_of", "student_id"]).any()
    assert not rows[list(MODEL_FEATURES)].isna().any().any()
    week_20 = rows.loc[rows["as_of"] == 20].drop(columns="as_of").reset_index(drop=True)
    expected = snapshot(raw, 20).merge(labels(raw, 20), on="student_id")
    pd.testing.assert_frame_equal(week_20, expected)
    with pytest.raises(ValueError, match="empty"):
        build_training_set(raw, [])
