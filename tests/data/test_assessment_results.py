"""Results per assessment (issue 17): a school without per-period results imports each toets or examen
(date, credits, passed, mark); the features count them like per-period results, in the week of the result;
a period with both kinds is refused, and so is a per-period result whose week is not in its period."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from data.calendar import load_school_calendar
from data.csv_io import CsvImportError, import_files
from data.pseudonym import pseudonymise
from data.questionnaire import Questionnaire
from data.store import load_raw_tables, read_table
from features.snapshot import snapshot
from tests.conftest import TEST_KEY

PROGRESS = ["credits_ratio_year", "credits_behind_year", "units_failed_year", "has_progress_year"]


def _progress(features: pd.DataFrame, student: str) -> list[float]:
    values = features[PROGRESS].astype("float64").to_numpy()
    return [float(v) for v in values[features.index.get_loc(student)]]


def _two_students(small_csv_dir: Path, folder: Path) -> list[str]:
    folder.mkdir()
    students = pd.read_csv(small_csv_dir / "students.csv", dtype=str).head(2).assign(start_week="0")
    students.to_csv(folder / "students.csv", index=False)
    return [str(n) for n in students["student_number"]]


def test_assessments_count_like_the_period_result_they_add_up_to(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    numbers = _two_students(small_csv_dir, tmp_path / "school")
    # Student 1: per assessment, dated (weeks 3 and 5 of period 1: 4-8 sep 2023 is week 2).
    assessments = pd.DataFrame(
        {
            "student_number": [numbers[0]] * 3,
            "week": ["2023-09-13", "2023-09-14", "2023-09-27"],
            "assessment": ["Rekenen 2F", "Nederlands lezen", "Beroepstaak 1"],
            "credits": ["5", "5", "5"],
            "passed": ["1", "1", "0"],
            "score": ["7,5", "", "4,2"],
        }
    )
    assessments.to_csv(tmp_path / "school" / "assessment_results.csv", sep=";", index=False)
    # Student 2: the same, as one per-period result in the period's last week (week 9).
    period = pd.DataFrame(
        {
            "student_number": [numbers[1]],
            "week": ["9"],
            "period": ["1"],
            "credits_expected": ["15"],
            "credits_obtained": ["10"],
            "units_failed": ["1"],
        }
    )
    period.to_csv(tmp_path / "school" / "progress_results.csv", index=False)
    reports = import_files(
        store,
        sorted((tmp_path / "school").iterdir()),
        TEST_KEY,
        questionnaire,
        calendar=load_school_calendar(),
    )
    assert {r.table: r.inserted for r in reports}["assessment_results"] == 3
    stored = read_table(store, "assessment_results").set_index("assessment")
    assert stored["week"].to_dict() == {"Nederlands lezen": 3, "Rekenen 2F": 3, "Beroepstaak 1": 5}
    assert stored["score"].fillna(-1).to_dict() == {
        "Nederlands lezen": -1,
        "Rekenen 2F": 7.5,
        "Beroepstaak 1": 4.2,
    }

    tables = load_raw_tables(store)
    first, second = (pseudonymise(n, TEST_KEY) for n in numbers)
    at_9 = snapshot(tables, 9).set_index("student_id")
    assert _progress(at_9, first) == _progress(at_9, second)
    assert _progress(at_9, first) == pytest.approx([10 / 15, 5.0, 1.0, 1.0])
    # Known in the week of the result: by week 4 the two passed assessments count, the period result not yet.
    at_4 = snapshot(tables, 4).set_index("student_id")
    assert _progress(at_4, first) == pytest.approx([1.0, 0.0, 0.0, 1.0])
    assert at_4.loc[second, "has_progress_year"] == 0.0


def test_a_period_with_both_kinds_of_results_is_refused_and_nothing_is_written(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    numbers = _two_students(small_csv_dir, tmp_path / "school")
    pd.DataFrame(
        {
            "student_number": [numbers[0]],
            "week": ["4"],
            "assessment": ["Rekenen 2F"],
            "credits": ["5"],
            "passed": ["1"],
            "score": [""],
        }
    ).to_csv(tmp_path / "school" / "assessment_results.csv", index=False)
    pd.DataFrame(
        {
            "student_number": [numbers[0], numbers[1]],
            "week": ["9", "12"],
            "period": ["1", "1"],
            "credits_expected": ["15", "15"],
            "credits_obtained": ["10", "15"],
            "units_failed": ["1", "0"],
        }
    ).to_csv(tmp_path / "school" / "progress_results.csv", index=False)
    with pytest.raises(CsvImportError) as refused:
        import_files(store, sorted((tmp_path / "school").iterdir()), TEST_KEY, questionnaire)
    message = str(refused.value)
    # Week 12 is in period 2 (weeks 10-19), not period 1.
    assert "progress_results.csv, line 3, column 'period': period 1 does not hold week 12" in message
    assert "which is in period 2 of its school year" in message
    assert "progress_results.csv, line 2" not in message
    assert read_table(store, "students").empty

    # With the period fixed, the assessment in a period with a per-period result is still refused.
    fixed = pd.read_csv(tmp_path / "school" / "progress_results.csv", dtype=str).assign(period=["1", "2"])
    fixed.to_csv(tmp_path / "school" / "progress_results.csv", index=False)
    with pytest.raises(CsvImportError) as both:
        import_files(store, sorted((tmp_path / "school").iterdir()), TEST_KEY, questionnaire)
    assert "assessment_results.csv, line 2, column 'week': the student has a per-period result" in str(
        both.value
    )
    assert read_table(store, "assessment_results").empty and read_table(store, "progress_results").empty
