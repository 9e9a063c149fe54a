"""School-specific signals (issue 17): a college declares its own signals in the extension register; they
import as columns of the students file or in the long table school_signals, become features of the
snapshot and inputs of the register; undeclared ones are refused with a message saying how to declare
them, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from data.csv_io import CsvImportError, import_files
from data.extensions import EXTENSIONS_ENV, clear_extension_cache, load_extensions
from data.mapping import load_mapping
from data.pseudonym import pseudonymise
from data.questionnaire import Questionnaire
from data.store import load_raw_tables, read_table
from data.tables import from_generated
from features.register import load_register, model_features
from features.snapshot import snapshot
from tests.conftest import TEST_KEY

REGISTER = """
extensions:
  - name: previous_attempts
    family: context
    domain: context
    description_nl: eerdere pogingen aan deze opleiding
    justification: A student who stopped this programme before is more likely to stop again.
    monotone: 1
    min: 0
    max: 10
  - name: internship_hours_behind
    family: lagging
    domain: studievoortgang
    description_nl: achterstand in stage-uren
    justification: Hours of work placement behind schedule, recorded by the placement office each week.
    fill: 0
  - name: postcode_band
    family: context
    domain: context
    description_nl: armoedeband van de postcode
    justification: Declared, and decided by the college to stand in for migration background.
    proxy: true
"""


@pytest.fixture
def declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "extensions.yaml"
    path.write_text(REGISTER, encoding="utf-8")
    monkeypatch.setenv(EXTENSIONS_ENV, str(path))
    clear_extension_cache()
    yield path
    clear_extension_cache()


def _students(small_csv_dir: Path, n: int = 4) -> pd.DataFrame:
    return pd.read_csv(small_csv_dir / "students.csv", dtype=str).head(n)


def test_without_declarations_the_model_inputs_are_the_register_alone() -> None:
    clear_extension_cache()
    names = model_features()
    assert "previous_attempts" not in names and "internship_hours_behind" not in names


def test_declared_extensions_become_register_entries_and_a_proxy_never_does(declared: Path) -> None:
    register = {f.name: f for f in load_register()}
    assert list(model_features())[-2:] == ["previous_attempts", "internship_hours_behind"]
    assert "postcode_band" not in register
    attempts, behind = register["previous_attempts"], register["internship_hours_behind"]
    assert (attempts.domain, attempts.may_be_reason, attempts.monotone) == ("context", False, 1)
    assert (behind.domain, behind.may_be_reason) == ("studievoortgang", True)
    assert behind.description_nl == "achterstand in stage-uren"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("name: has_attempts\n    family: context\n    domain: context", "belong to the feature register"),
        ("name: attempts\n    family: lagging\n    domain: context", "does not go with domain"),
        ("name: attempts\n    family: context\n    domain: context\n    min: 3\n    max: 1", "above max"),
    ],
)
def test_a_bad_declaration_is_refused_with_the_file(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "extensions.yaml"
    path.write_text(
        f"extensions:\n  - {entry}\n    description_nl: pogingen\n    justification: a reason long enough\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=problem) as refused:
        load_extensions(path)
    assert str(path) in str(refused.value)


def test_a_declared_column_of_the_students_file_is_stored_as_a_signal_at_the_start(
    declared: Path, store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    students["previous_attempts"] = ["0", "2", "", "1"]
    path = tmp_path / "students.csv"
    students.to_csv(path, index=False)
    reports = import_files(store, [path], TEST_KEY, questionnaire)
    assert [r.table for r in reports] == ["students", "school_signals"]
    assert "3 values of school-specific signals (previous_attempts)" in " ".join(reports[0].notes)
    signals = read_table(store, "school_signals")
    second = pseudonymise(str(students.loc[1, "student_number"]), TEST_KEY)
    row = signals.set_index("student_id").loc[second]
    assert (row["feature"], row["value"], row["week"]) == (
        "previous_attempts",
        2.0,
        int(str(students.loc[1, "start_week"])),
    )
    assert len(signals) == 3  # the empty cell is no value
    again = import_files(store, [path], TEST_KEY, questionnaire)
    assert all((r.inserted, r.updated) == (0, 0) for r in again)


def test_the_long_table_takes_dates_and_refuses_an_undeclared_signal_or_a_value_out_of_bounds(
    declared: Path, store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir, 2).assign(start_week="0")
    students.to_csv(tmp_path / "students.csv", index=False)
    numbers = students["student_number"].tolist()
    signals = pd.DataFrame(
        {
            "student_number": [numbers[0], numbers[0], numbers[1], numbers[1]],
            "week": ["2023-10-04", "12", "3", "4"],
            "feature": [
                "internship_hours_behind",
                "internship_hours_behind",
                "deprivation_band",
                "previous_attempts",
            ],
            "value": ["4", "6,5", "2", "11"],
        }
    )
    path = tmp_path / "school_signals.csv"
    signals.to_csv(path, sep=";", index=False)
    files = [tmp_path / "students.csv", path]
    with pytest.raises(CsvImportError) as refused:
        import_files(store, files, TEST_KEY, questionnaire)
    message = str(refused.value)
    assert (
        "line 4, column 'feature': 'deprivation_band' is not a declared extension; declare it in the "
        in message
    )
    assert "features/extensions.yaml" in message
    assert (
        "line 5, column 'value': '11' is above the allowed 10 of the extension previous_attempts" in message
    )
    assert read_table(store, "students").empty and read_table(store, "school_signals").empty

    from data.calendar import load_school_calendar

    good = signals.iloc[:2]
    good.to_csv(path, sep=";", index=False)
    import_files(store, files, TEST_KEY, questionnaire, calendar=load_school_calendar())
    stored = read_table(store, "school_signals")
    assert sorted(zip(stored["week"], stored["value"], strict=True)) == [(6, 4.0), (12, 6.5)]

    # The snapshot takes the latest value known by the as-of week, else the declared neutral fill.
    tables = load_raw_tables(store)
    first = pseudonymise(str(numbers[0]), TEST_KEY)
    second = pseudonymise(str(numbers[1]), TEST_KEY)
    at = {week: snapshot(tables, week).set_index("student_id") for week in (5, 8, 12)}
    assert at[5].at[first, "internship_hours_behind"] == 0.0  # nothing known yet: the fill
    assert at[8].at[first, "internship_hours_behind"] == 4.0
    assert at[12].at[first, "internship_hours_behind"] == 6.5
    assert at[12].at[second, "internship_hours_behind"] == 0.0
    assert at[12].at[second, "previous_attempts"] == 0.0
    assert "postcode_band" not in at[12].columns


def test_an_undeclared_column_names_the_extension_register(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    clear_extension_cache()
    students = _students(small_csv_dir).assign(previous_attempts="1")
    path = tmp_path / "students.csv"
    students.to_csv(path, index=False)
    with pytest.raises(CsvImportError, match="column 'previous_attempts': unexpected column") as refused:
        import_files(store, [path], TEST_KEY, questionnaire)
    assert "declare it in the extension register (features/extensions.yaml" in str(refused.value)
    assert read_table(store, "students").empty


def test_a_mapping_file_may_name_a_declared_extension(declared: Path, tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  students:\n    Eerdere pogingen: previous_attempts\n", encoding="utf-8")
    assert load_mapping(path).columns["students"] == {"Eerdere pogingen": "previous_attempts"}
    path.write_text("columns:\n  students:\n    Postcodegebied: postcode\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'postcode', which is not a column of students"):
        load_mapping(path)


def test_generated_data_has_no_signals_and_the_same_snapshot(small_tables: dict[str, pd.DataFrame]) -> None:
    clear_extension_cache()
    raw, _ = from_generated(small_tables, TEST_KEY)
    assert raw.school_signals.empty
    assert list(snapshot(raw, 20).columns[1 : 1 + len(model_features())]) == list(model_features())
