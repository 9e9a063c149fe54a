"""``features.snapshot``: no leakage, no protected attributes, no NaN, documented bad-data handling."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.questionnaire import cached_questionnaire
from data.synthetic import GeneratorConfig, generate
from data.tables import RawTables, from_generated
from features import MODEL_FEATURES, PROTECTED_ATTRIBUTES, build_training_set, model_features, snapshot
from features.register import excluded_features
from features.snapshot import FLAG_COLUMNS

AS_OF_WEEKS = (2, 10, 45)
ITEMS = cached_questionnaire().all_codes


@pytest.fixture(scope="module")
def generated() -> tuple[RawTables, dict[str, pd.DataFrame]]:
    return from_generated(generate(GeneratorConfig(n_students=400, n_years=2, seed=1)), key="test-key")


@pytest.fixture(scope="module")
def raw(generated: tuple[RawTables, dict[str, pd.DataFrame]]) -> RawTables:
    return generated[0]


# ---------------------------------------------------------------------------------------------- helpers


def tiny(
    students: list[dict[str, object]],
    attendance: list[tuple[str, int, float, float, float, float]] = (),  # type: ignore[assignment]
    answers: list[tuple[str, int, str, float]] = (),  # type: ignore[assignment]
    progress: list[tuple[str, int, int, float, float, float]] = (),  # type: ignore[assignment]
    outcomes: list[tuple[str, int, str]] = (),  # type: ignore[assignment]
) -> RawTables:
    """Hand-made raw tables; students get sensible defaults for the columns not given."""
    defaults = {
        "programme": "Kok",
        "sector": "horeca",
        "level": 2,
        "route": "BOL",
        "team": "K2O23A",
        "prior_education": "vmbo_bb",
        "start_week": 0,
        "age_at_start": 16.0,
        "expected_duration_years": 2,
    }
    return RawTables(
        students=pd.DataFrame([{**defaults, **s} for s in students]),
        questionnaire_answers=pd.DataFrame(list(answers), columns=["student_id", "week", "item", "value"]),
        attendance_weeks=pd.DataFrame(
            list(attendance),
            columns=[
                "student_id",
                "week",
                "scheduled_hours",
                "present_hours",
                "authorised_absence_hours",
                "unauthorised_absence_hours",
            ],
        ),
        progress_results=pd.DataFrame(
            list(progress),
            columns=["student_id", "week", "period", "credits_expected", "credits_obtained", "units_failed"],
        ),
        outcomes=pd.DataFrame(list(outcomes), columns=["student_id", "week", "outcome"]),
    )


def full_week(sid: str, week: int, value: float = 3.0) -> list[tuple[str, int, str, float]]:
    """One complete questionnaire for a week: every scale item ``value``, help item 0."""
    return [(sid, week, code, value) for code in ITEMS[:-1]] + [(sid, week, ITEMS[-1], 0.0)]


def row_of(frame: pd.DataFrame, sid: str) -> pd.Series:
    row = frame.set_index("student_id").loc[sid]
    assert isinstance(row, pd.Series)
    return row


# ---------------------------------------------------------------------------------------------- contracts


def test_snapshot_ignores_everything_after_as_of(raw: RawTables) -> None:
    as_of = 30
    before = snapshot(raw, as_of)
    later = {
        "questionnaire_answers": raw.questionnaire_answers["week"] > as_of,
        "attendance_weeks": raw.attendance_weeks["week"] > as_of,
        "progress_results": raw.progress_results["week"] > as_of,
    }
    qa = raw.questionnaire_answers.copy()
    qa.loc[later["questionnaire_answers"], "value"] = 1
    att = raw.attendance_weeks.copy()
    att.loc[later["attendance_weeks"], ["present_hours", "authorised_absence_hours"]] = 0
    att.loc[later["attendance_weeks"], "unauthorised_absence_hours"] = att["scheduled_hours"]
    prog = raw.progress_results.loc[~later["progress_results"]]  # future results deleted
    enrolled_ids = before["student_id"]
    future_outcomes = pd.DataFrame(
        {"student_id": enrolled_ids, "week": as_of + 1 + np.arange(len(enrolled_ids)) % 5, "outcome": "vsv"}
    )
    outcomes = pd.concat(
        [raw.outcomes.loc[raw.outcomes["week"] <= as_of], future_outcomes], ignore_index=True
    )
    newcomer = raw.students.iloc[[0]].assign(student_id="f" * 20, start_week=as_of + 1)
    mutated = RawTables(
        students=pd.concat([raw.students, newcomer], ignore_index=True),
        questionnaire_answers=qa,
        attendance_weeks=pd.concat([att, att.loc[later["attendance_weeks"]]], ignore_index=True),  # dupes
        progress_results=prog,
        outcomes=outcomes,
    )
    pd.testing.assert_frame_equal(snapshot(mutated, as_of), before)


def test_protected_attributes_never_reach_the_snapshot(raw: RawTables) -> None:
    frame = snapshot(raw, 10)
    for column in [*frame.columns, *MODEL_FEATURES]:
        lowered = column.lower()
        assert not any(word in lowered for word in ("gender", "migration", "geslacht", "migratie"))
    assert not set(PROTECTED_ATTRIBUTES) & set(frame.columns)


@pytest.mark.parametrize("as_of", AS_OF_WEEKS)
def test_model_features_exist_are_numeric_and_never_nan(raw: RawTables, as_of: int) -> None:
    frame = snapshot(raw, as_of)
    assert len(frame) > 100
    assert frame["student_id"].is_unique
    retired = [e.name for e in excluded_features()]  # input: false, kept for models trained before
    assert "prior_newcomer" in retired and "prior_newcomer" not in MODEL_FEATURES
    assert list(frame.columns) == [
        "student_id",
        *MODEL_FEATURES,
        *retired,
        *FLAG_COLUMNS,
        "insufficient_data",
    ]
    model_input = frame[list(MODEL_FEATURES)]
    assert all(pd.api.types.is_float_dtype(dtype) for dtype in model_input.dtypes)
    assert not model_input.isna().any().any(), model_input.columns[model_input.isna().any()].tolist()
    assert np.isfinite(model_input.to_numpy()).all()
    for column in ("att_rate_2w", "att_rate_4w", "att_rate_8w", "q_response_rate_8w", "q_index_latest"):
        assert frame[column].between(0.0, 1.0).all(), column


def test_snapshot_scores_exactly_the_enrolled_students(raw: RawTables) -> None:
    # A week in which somebody leaves (in a 400-student school not every week has a leaver).
    weeks = raw.outcomes.loc[raw.outcomes["week"] >= 10, "week"]
    as_of = int(weeks.value_counts().idxmax())
    frame = snapshot(raw, as_of)
    left = set(raw.outcomes.loc[raw.outcomes["week"] <= as_of, "student_id"])
    started = set(raw.students.loc[raw.students["start_week"] <= as_of, "student_id"])
    assert set(frame["student_id"]) == started - left
    leaving_now = set(raw.outcomes.loc[raw.outcomes["week"] == as_of, "student_id"])
    assert leaving_now and not leaving_now & set(frame["student_id"])


def test_features_package_keeps_out_of_serving_and_registry_libraries() -> None:
    code = (
        "import sys, features; features.snapshot; "
        "bad = [m for m in ('mlflow', 'fastapi', 'sqlalchemy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# ---------------------------------------------------------------------------------------------- definitions


def test_attendance_features_and_legal_flags_follow_their_definitions() -> None:
    attendance = []
    for week in range(8):
        # "a": fully absent (unauthorised) in the last 5 weeks, present before; 24 h a week.
        present = 0.0 if week >= 3 else 24.0
        attendance.append(("a", week, 24.0, present, 0.0, 24.0 - present))
        # "b": 4 hours unauthorised absence every week, authorised 2 hours.
        attendance.append(("b", week, 24.0, 18.0, 2.0, 4.0))
    tables = tiny(
        [
            {"student_id": "a", "age_at_start": 18.5},
            {"student_id": "b", "age_at_start": 16.0},
            {"student_id": "c", "age_at_start": 17.0},  # no attendance rows at all
        ],
        attendance=attendance,
    )
    frame = snapshot(tables, 7)
    a, b, c = (row_of(frame, s) for s in "abc")
    assert a["att_rate_2w"] == 0.0 and a["att_rate_8w"] == pytest.approx(3 / 8)
    assert a["att_rate_change_4w"] == pytest.approx(0.0 - 0.75)
    assert a["weeks_absent_streak"] == 5
    assert a["flag_4_weeks_absent"] and not a["flag_leerplicht_16u"]  # over 18: the 4-week rule
    assert b["unauth_hours_4w"] == 16 and b["unauth_rate_4w"] == pytest.approx(16 / 96)
    assert b["auth_rate_4w"] == pytest.approx(8 / 96) and b["att_rate_4w"] == pytest.approx(0.75)
    assert b["flag_leerplicht_16u"] and not b["flag_4_weeks_absent"]  # under 18: the 16-hour rule
    assert b["weeks_absent_streak"] == 0
    # a student without attendance rows: neutral fill plus the indicator, no flags, no NaN
    assert c["has_attendance_8w"] == 0 and c["att_rate_4w"] == 1.0 and c["unauth_hours_4w"] == 0
    assert not c["flag_leerplicht_16u"] and not c["flag_4_weeks_absent"]
    assert c["insufficient_data"]  # no answers and no attendance in 8 weeks
    assert not frame[list(MODEL_FEATURES)].isna().any().any()


def test_streak_skips_weeks_without_schedule_and_flag_needs_unauthorised_absence() -> None:
    attendance = [("a", w, 24.0, 0.0, 0.0, 24.0) for w in range(4)]
    attendance.append(("a", 4, 0.0, 0.0, 0.0, 0.0))  # nothing scheduled (e.g. a trip week)
    attendance += [("b", w, 24.0, 0.0, 24.0, 0.0) for w in range(5)]  # absent, all authorised (ill)
    tables = tiny(
        [{"student_id": "a", "age_at_start": 19.0}, {"student_id": "b", "age_at_start": 19.0}],
        attendance=attendance,
    )
    frame = snapshot(tables, 4)
    assert row_of(frame, "a")["weeks_absent_streak"] == 4 and row_of(frame, "a")["flag_4_weeks_absent"]
    assert row_of(frame, "b")["weeks_absent_streak"] == 5 and not row_of(frame, "b")["flag_4_weeks_absent"]


def test_questionnaire_features_follow_their_definitions() -> None:
    answers: list[tuple[str, int, str, float]] = []
    # baseline weeks 0..5 at 4, then weeks 6..9 at 2; week 8 skipped; help item "yes" in week 9.
    for week in range(10):
        if week == 8:
            continue
        answers += full_week("a", week, 4.0 if week < 6 else 2.0)
    answers = [r if not (r[1] == 9 and r[2] == ITEMS[-1]) else (r[0], r[1], r[2], 1.0) for r in answers]
    tables = tiny(
        [{"student_id": "a"}, {"student_id": "b", "start_week": 4}],
        attendance=[(s, w, 24.0, 24.0, 0.0, 0.0) for s in "ab" for w in range(10)],
        answers=answers,
    )
    frame = snapshot(tables, 9)
    a, b = row_of(frame, "a"), row_of(frame, "b")
    assert a["q_welbevinden_latest"] == 2.0
    assert a["q_welbevinden_mean_4w"] == 2.0
    assert a["q_welbevinden_change"] == pytest.approx(2.0 - 4.0)
    assert a["q_welbevinden_trend_6w"] < 0
    # stress: higher is worse, so 2 is good: index is the mean of the oriented, rescaled answers
    n_items = len(ITEMS) - 1
    n_worse = sum(1 for item in cached_questionnaire().items if not item.higher_is_better)
    expected_index = ((n_items - n_worse) * 0.25 + n_worse * 0.75) / n_items
    assert a["q_index_latest"] == pytest.approx(expected_index)
    assert a["q_wants_to_talk_4w"] == 1.0
    assert a["q_weeks_since_response"] == 0
    assert a["q_response_rate_8w"] == pytest.approx(7 / 8)
    assert a["has_questionnaire_4w"] == 1 and a["has_questionnaire_baseline"] == 1
    # b never answered: neutral fill and indicators
    assert b["q_welbevinden_latest"] == 3.0 and b["q_welbevinden_change"] == 0.0
    assert b["q_index_mean_4w"] == 0.5 and b["q_response_rate_8w"] == 0.0
    assert b["has_questionnaire_4w"] == 0 and b["q_weeks_since_response"] == 16
    assert not b["insufficient_data"]  # attendance is there and b started 5 weeks ago


def test_response_rate_counts_only_weeks_enrolled() -> None:
    answers = full_week("late", 8) + full_week("late", 9)
    tables = tiny([{"student_id": "late", "start_week": 8}], answers=answers)
    row = row_of(snapshot(tables, 9), "late")
    assert row["q_response_rate_8w"] == 1.0
    assert row["insufficient_data"]  # started 1 week ago


def test_context_and_progress_follow_their_definitions() -> None:
    tables = tiny(
        [
            {
                "student_id": "a",
                "start_week": -40,
                "age_at_start": 17.5,
                "level": 4,
                "route": "BBL",
                "expected_duration_years": 3,
                "prior_education": "vso",
            },
            {"student_id": "b", "start_week": -120, "expected_duration_years": 2, "prior_education": None},
        ],
        progress=[
            ("a", 29, 3, 15.0, 15.0, 0.0),  # previous school year
            ("a", 49, 1, 15.0, 6.0, 3.0),
            ("a", 59, 2, 15.0, 9.0, 2.0),
        ],
    )
    frame = snapshot(tables, 60)
    a, b = row_of(frame, "a"), row_of(frame, "b")
    assert a["level"] == 4 and a["route_bbl"] == 1 and a["year_of_study"] == 3
    assert a["weeks_since_start"] == 100 and a["over_18"] == 1
    assert a["prior_vso"] == 1 and a[[c for c in MODEL_FEATURES if c.startswith("prior_")]].sum() == 1
    assert a["credits_ratio_year"] == pytest.approx(15 / 30) and a["credits_behind_year"] == 15
    assert a["credits_ratio_total"] == pytest.approx(30 / 45) and a["units_failed_year"] == 5
    assert b["year_of_study"] == 2  # capped at the programme's duration
    assert b["prior_other"] == 1 and b["has_progress_year"] == 0 and b["credits_ratio_year"] == 1.0


# ---------------------------------------------------------------------------------------------- bad data


def _one_student(**extra: object) -> dict[str, object]:
    return {"student_id": "s1", **extra}


def test_duplicate_attendance_row_raises_naming_table_student_and_week() -> None:
    rows = [("s1", w, 24.0, 20.0, 0.0, 4.0) for w in range(5)] + [("s1", 3, 24.0, 24.0, 0.0, 0.0)]
    with pytest.raises(ValueError, match=r"attendance_weeks.*student s1 in week 3"):
        snapshot(tiny([_one_student()], attendance=rows), 4)


def test_duplicate_answer_raises_naming_item_student_and_week() -> None:
    answers = [*full_week("s1", 2), ("s1", 2, "stress", 4.0)]
    with pytest.raises(ValueError, match=r"questionnaire_answers.*'stress'.*student s1 in week 2"):
        snapshot(tiny([_one_student()], answers=answers), 4)


@pytest.mark.parametrize(
    ("item", "value"), [("welbevinden", 6.0), ("welbevinden", 0.0), ("stress", -1.0), ("wil_praten", 2.0)]
)
def test_answer_outside_the_scale_raises(item: str, value: float) -> None:
    answers = [*full_week("s1", 1), ("s1", 2, item, value)]
    with pytest.raises(ValueError, match=rf"answer {value:g} to item '{item}'.*outside the scale"):
        snapshot(tiny([_one_student()], answers=answers), 4)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (("s1", 2, 24.0, 30.0, 0.0, 0.0), "more present hours than scheduled"),
        (("s1", 2, 24.0, 24.0, -1.0, 0.0), "negative hours"),
        (("s1", 2, 24.0, np.nan, 0.0, 0.0), "incomplete row"),
    ],
)
def test_impossible_attendance_raises(row: tuple[str, int, float, float, float, float], problem: str) -> None:
    with pytest.raises(ValueError, match=rf"attendance_weeks: {problem}.*student s1 in week 2"):
        snapshot(tiny([_one_student()], attendance=[row]), 4)


def test_duplicate_student_and_duplicate_progress_raise() -> None:
    with pytest.raises(ValueError, match="students: student s1 occurs more than once"):
        snapshot(tiny([_one_student(), _one_student()]), 4)
    progress = [("s1", 9, 1, 15.0, 12.0, 1.0), ("s1", 9, 1, 15.0, 15.0, 0.0)]
    with pytest.raises(ValueError, match=r"progress_results: more than one row.*student s1 in week 9"):
        snapshot(tiny([_one_student()], progress=progress), 10)


def test_missing_answers_and_retired_items_are_ignored_not_errors() -> None:
    base = full_week("s1", 3, 2.0)
    noisy = [*base, ("s1", 4, "welbevinden", np.nan), ("s1", 4, "oud_item", 9.0)]
    clean_frame = snapshot(tiny([_one_student()], answers=base), 4)
    noisy_frame = snapshot(tiny([_one_student()], answers=noisy), 4)
    pd.testing.assert_frame_equal(noisy_frame, clean_frame)


def test_bad_rows_outside_the_window_or_of_departed_students_are_not_read() -> None:
    attendance = [("gone", 2, 24.0, 30.0, 0.0, 0.0)]  # impossible, but the student left in week 2
    tables = tiny(
        [_one_student(), {"student_id": "gone"}], attendance=attendance, outcomes=[("gone", 2, "vsv")]
    )
    assert list(snapshot(tables, 4)["student_id"]) == ["s1"]


def test_no_students_gives_an_empty_frame_with_the_model_columns() -> None:
    frame = snapshot(tiny([_one_student(start_week=10)]), 4)
    assert frame.empty and set(MODEL_FEATURES) <= set(frame.columns)


def test_categorical_and_string_item_columns_give_the_same_features(raw: RawTables) -> None:
    as_strings = replace(
        raw,
        questionnaire_answers=raw.questionnaire_answers.assign(
            item=raw.questionnaire_answers["item"].astype(str)
        ),
    )
    pd.testing.assert_frame_equal(snapshot(as_strings, 12), snapshot(raw, 12))


def test_categorical_student_ids_in_the_weekly_tables_give_the_same_features(raw: RawTables) -> None:
    """The weekly tables may hold their pseudonyms as categories (each stored once): the same snapshot,
    also when a category has no row, a row's category is unknown to the students table, or is missing."""
    answers, attendance = raw.questionnaire_answers, raw.attendance_weeks
    stranger = answers.iloc[:3].assign(student_id="not-a-student")
    answers = pd.concat([answers, stranger], ignore_index=True)
    ids = sorted({*answers["student_id"], *attendance["student_id"], "nobody-at-all"})
    as_categories = replace(
        raw,
        questionnaire_answers=answers.assign(
            student_id=pd.Categorical(answers["student_id"], categories=ids)
        ),
        attendance_weeks=attendance.assign(
            student_id=pd.Categorical(attendance["student_id"], categories=ids)
        ),
    )
    plain = replace(raw, questionnaire_answers=answers)
    for as_of in (12, 30):
        pd.testing.assert_frame_equal(snapshot(as_categories, as_of), snapshot(plain, as_of))
    missing = attendance.assign(student_id=pd.Categorical(attendance["student_id"], categories=ids[1:]))
    assert missing["student_id"].isna().any()  # the first student's rows: no category, code -1
    without_first = attendance.loc[attendance["student_id"] != ids[0]]
    pd.testing.assert_frame_equal(
        snapshot(replace(raw, attendance_weeks=missing), 30),
        snapshot(replace(raw, attendance_weeks=without_first), 30),
    )


def test_a_school_questionnaire_changes_the_item_features(raw: RawTables) -> None:
    questionnaire = cached_questionnaire()
    fewer = questionnaire.model_copy(update={"items": questionnaire.items[:2]})
    frame = snapshot(raw, 12, fewer)
    columns = model_features(fewer)
    assert "q_welbevinden_latest" in columns and "q_thuis_latest" not in columns
    assert not frame[list(columns)].isna().any().any()


# ---------------------------------------------------------------------------------------------- signal


def test_low_wellbeing_is_followed_by_more_vsv() -> None:
    # Asking to talk is rare (about 0.3% of respondents a week, as at a real college), so the school is
    # larger and more as-of weeks are pooled than a wellbeing check alone would need: about 600 rows of
    # students who asked to talk in the last four weeks.
    tables, _ = from_generated(generate(GeneratorConfig(n_students=6000, n_years=1, seed=7)), key="k")
    rows = build_training_set(tables, list(range(6, 28, 2)), horizon=12)
    low = rows.loc[rows["q_welbevinden_mean_4w"] <= 2.0, "vsv"].mean()
    high = rows.loc[rows["q_welbevinden_mean_4w"] >= 3.5, "vsv"].mean()
    assert low > 1.5 * high
    by_talk = rows.groupby("q_wants_to_talk_4w")["vsv"]
    rates, counts = by_talk.mean(), by_talk.count()
    assert int(counts[1.0]) >= 300
    assert float(rates[1.0]) > 1.2 * float(rates[0.0])
