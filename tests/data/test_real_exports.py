"""Real school exports import as they are (issue 17): Dutch Excel CSV (semicolons, Windows-1252, decimal
commas) and .xlsx, a mapping file for a student-information system's own headers and codes, "overig" and
"onbekend" in every enumeration, adult learners, audit attributes each on their own, outcomes without a
date or without a startkwalificatie, and checks across tables. Bad input gives a clear message and
writes nothing; a re-import is a no-op."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from data.csv_io import CsvImportError, import_directory, import_files
from data.mapping import load_mapping
from data.pseudonym import pseudonymise
from data.questionnaire import Questionnaire
from data.store import TABLE_ORDER, load_raw_tables, read_table
from features.context import context_features
from features.labels import labels
from tests.conftest import TEST_KEY


def _students(small_csv_dir: Path, n: int = 5) -> pd.DataFrame:
    return pd.read_csv(small_csv_dir / "students.csv", dtype=str).head(n)


def _counts(engine: Engine) -> dict[str, int]:
    return {t: len(read_table(engine, t)) for t in TABLE_ORDER}


def test_a_dutch_excel_csv_imports_and_the_report_says_what_it_was(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    students.loc[0, "programme"] = "Verzorgende-IG (Zwolle, Café-opleiding)"
    students["age_at_start"] = students["age_at_start"].str.replace(".", ",", regex=False)
    path = tmp_path / "students.csv"
    path.write_bytes(students.to_csv(sep=";", index=False).encode("cp1252"))
    (report,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert report.file_format == "CSV, Windows-1252, semicolon-separated, decimal comma"
    assert report.inserted == 5
    stored = read_table(store, "students").set_index("student_id")
    first = pseudonymise(str(students.loc[0, "student_number"]), TEST_KEY)
    assert stored.at[first, "programme"] == "Verzorgende-IG (Zwolle, Café-opleiding)"
    assert stored.at[first, "age_at_start"] == pytest.approx(
        float(str(students.loc[0, "age_at_start"]).replace(",", "."))
    )
    # The same export again changes nothing.
    (again,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_a_decimal_comma_in_a_comma_separated_file_is_named_with_its_line(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    path = tmp_path / "students.csv"
    lines = students.to_csv(index=False).splitlines()
    age = str(students.loc[2, "age_at_start"])  # line 4 of the file
    lines[3] = lines[3].replace(f",{age},", f",{age.replace('.', ',')},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CsvImportError) as refused:
        import_files(store, [path], TEST_KEY, questionnaire)
    message = str(refused.value)
    n = len(students.columns)
    assert f"line 4: {n + 1} fields where the header has {n}" in message
    assert "decimal comma in a comma-separated file" in message and "puntkomma" in message
    assert _counts(store)["students"] == 0


def test_a_file_in_neither_encoding_or_with_another_separator_is_refused_clearly(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    broken = tmp_path / "students.csv"
    text = students.to_csv(index=False).encode("utf-8").split(b"\n")
    text[2] = text[2].replace(b",", b"\x81,", 1)  # 0x81: not UTF-8 here, and undefined in Windows-1252
    broken.write_bytes(b"\n".join(text))
    with pytest.raises(CsvImportError, match=r"line 3: byte 0x81 is neither UTF-8 nor Windows-1252"):
        import_files(store, [broken], TEST_KEY, questionnaire)
    piped = tmp_path / "piped" / "students.csv"
    piped.parent.mkdir()
    piped.write_text(students.to_csv(sep="|", index=False), encoding="utf-8")
    with pytest.raises(
        CsvImportError, match="header is a single column: the file is not separated by commas"
    ):
        import_files(store, [piped], TEST_KEY, questionnaire)
    assert _counts(store)["students"] == 0


def test_an_xlsx_workbook_imports_like_its_csv(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = pd.read_csv(small_csv_dir / "students.csv")
    path = tmp_path / "students.xlsx"
    students.to_excel(path, index=False)  # numbers as numbers, as a school's workbook holds them
    (report,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert report.file_format.startswith("Excel workbook")
    from_csv = read_table(store, "students")
    assert report.inserted == len(students)
    (csv_report,) = import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)
    assert (csv_report.inserted, csv_report.updated) == (0, 0), "the workbook stored exactly the CSV's values"
    pd.testing.assert_frame_equal(read_table(store, "students"), from_csv)


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_mapping() -> str:
    """The worked mapping example of the README's contract section: the test imports through it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### A school's own export: the mapping file") :]
    return section[section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))]


def _sis_export(small_csv_dir: Path, folder: Path) -> Path:
    """The small school's students as a student-information system hands them over: Dutch headers, its
    own codes, a sector and prior education outside the list, an adult learner; gender only."""
    folder.mkdir()
    students = _students(small_csv_dir, 6)
    students.loc[0, "sector"] = "SOC"
    students.loc[1, "prior_education"] = "?"
    students.loc[2, "prior_education"] = "VMBO-GT"
    students.loc[3, ["route", "age_at_start"]] = ["onbekend", "52.5"]
    ours = ["student_number", "programme", "sector", "level", "route", "team", "prior_education"]
    ours += ["start_week", "age_at_start", "expected_duration_years"]
    theirs = ["Studentnummer", "Opleiding", "Sector", "Niveau", "Leerweg", "Klas", "Vooropleiding"]
    theirs += ["Startweek", "Leeftijd bij start", "Duur"]
    names = dict(zip(ours, theirs, strict=True))
    students.rename(columns=names).to_csv(folder / "Inschrijvingen.csv", sep=";", index=False)
    audit = pd.DataFrame(
        {"Studentnummer": students["student_number"], "Geslacht": ["M", "V", "O", "V", "", "M"]}
    )
    audit.to_csv(folder / "Kenmerken.csv", sep=";", index=False)
    (folder / "mapping.yaml").write_text(readme_mapping(), encoding="utf-8")
    return folder


def test_a_mapping_file_imports_a_school_export_without_editing_it(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    folder = _sis_export(small_csv_dir, tmp_path / "sis")
    mapping = load_mapping(folder / "mapping.yaml")
    reports = import_directory(store, folder, TEST_KEY, questionnaire, mapping=mapping)
    by_table = {r.table: r for r in reports}
    assert by_table["students"].inserted == 6 and by_table["audit_attributes"].inserted == 6
    assert any("'migration_background' is not in the file" in n for n in by_table["audit_attributes"].notes)
    numbers = _students(small_csv_dir, 6)["student_number"].tolist()
    ids = [pseudonymise(n, TEST_KEY) for n in numbers]
    students = read_table(store, "students").set_index("student_id").loc[ids]
    assert students["sector"].iloc[0] == "overig"
    assert students["prior_education"].iloc[1:3].tolist() == ["onbekend", "vmbo_gt"]
    assert (students["route"].iloc[3], students["age_at_start"].iloc[3]) == ("onbekend", 52.5)
    audit = read_table(store, "audit_attributes").set_index("student_id").loc[ids]
    assert audit["gender"].tolist() == ["man", "vrouw", "onbekend", "vrouw", "onbekend", "man"]
    assert set(audit["migration_background"]) == {"onbekend"}
    # The features take the unknowns as unknowns: prior_other, and no route (not a guess of BOL).
    features = context_features(students.reset_index(), as_of=int(students["start_week"].max()) + 1)
    assert features.loc[ids[1], "prior_other"] == 1.0 and features.loc[ids[0], "prior_other"] == 0.0
    assert np.isnan(features["route_bbl"].to_numpy()[3])
    # A re-import of the same export is a no-op.
    again = import_directory(store, folder, TEST_KEY, questionnaire, mapping=mapping)
    assert all(r.inserted == 0 and r.updated == 0 for r in again)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            "columns:\n  students:\n    Studentnummer: studentnr\n",
            "maps to 'studentnr', which is not a column",
        ),
        ("columns:\n  leerlingen: {}\n", "'leerlingen' is not a table"),
        (
            "files:\n  Inschrijvingen.csv: students\n"
            "columns:\n  students:\n    Geboortedatum: age_at_start\n",
            None,
        ),
        ("tables: {}\n", "Extra inputs are not permitted"),
        ("columns: [1, 2]\n", "columns"),
    ],
)
def test_a_bad_mapping_file_gives_a_clear_message_and_writes_nothing(
    store: Engine,
    small_csv_dir: Path,
    tmp_path: Path,
    questionnaire: Questionnaire,
    broken: str,
    message: str | None,
) -> None:
    folder = _sis_export(small_csv_dir, tmp_path / "sis")
    (folder / "mapping.yaml").write_text(broken, encoding="utf-8")
    if message is not None:
        with pytest.raises(ValueError, match=message):
            load_mapping(folder / "mapping.yaml")
        return
    mapping = load_mapping(folder / "mapping.yaml")
    with pytest.raises(
        CsvImportError, match=r"Inschrijvingen.csv, line 1: the mapping file .* 'Geboortedatum'"
    ):
        import_directory(store, folder, TEST_KEY, questionnaire, mapping=mapping)
    assert _counts(store)["students"] == 0


def test_an_undeclared_column_says_how_to_rename_it_and_a_child_is_still_refused(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    students["deprivation_band"] = "3"
    path = tmp_path / "students.csv"
    students.to_csv(path, index=False)
    with pytest.raises(CsvImportError, match=r"unexpected column.*mapping file"):
        import_files(store, [path], TEST_KEY, questionnaire)
    students = _students(small_csv_dir).assign(age_at_start="14")
    students.to_csv(path, index=False)
    with pytest.raises(CsvImportError, match="'14' is below the allowed 15"):
        import_files(store, [path], TEST_KEY, questionnaire)
    assert _counts(store)["students"] == 0


def test_outcomes_without_a_date_or_a_startkwalificatie_and_before_the_start(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir)
    start = students["start_week"].astype(int)
    students_path = tmp_path / "students.csv"
    students.to_csv(students_path, index=False)
    outcomes = pd.DataFrame(
        {
            "student_number": students["student_number"].iloc[:3],
            "week": [str(max(s, 0) + 30) for s in start.iloc[:2]] + [""],
            "outcome": ["completed_no_sq", "graduated", "vsv"],
        }
    )
    out_path = tmp_path / "outcomes.csv"
    outcomes.to_csv(out_path, index=False)
    # No week and no import week (the calendar has none for today): refused, with the line.
    with pytest.raises(CsvImportError, match=r"outcomes.csv, line 4, column 'week': empty week"):
        import_files(store, [students_path, out_path], TEST_KEY, questionnaire)
    assert _counts(store)["outcomes"] == 0
    reports = import_files(store, [students_path, out_path], TEST_KEY, questionnaire, import_week=40)
    (report,) = [r for r in reports if r.table == "outcomes"]
    assert any("1 outcomes without a week: the import week 40 stands in" in n for n in report.notes)
    stored = read_table(store, "outcomes").set_index("student_id")
    third = pseudonymise(students["student_number"].iloc[2], TEST_KEY)
    assert stored.at[third, "week"] == 40
    # The next week's import of the same export keeps the stored week: nothing changes.
    again = import_files(store, [out_path], TEST_KEY, questionnaire, import_week=41)
    assert (again[0].inserted, again[0].updated) == (0, 0)
    # Completed without a startkwalificatie counts as vsv in the label.
    tables = load_raw_tables(store)
    first = pseudonymise(students["student_number"].iloc[0], TEST_KEY)
    as_of = int(str(stored.at[first, "week"])) - 1
    label = labels(tables, as_of, horizon=4, max_week=as_of + 4).set_index("student_id")
    assert label.at[first, "vsv"] == 1 and label.at[first, "outcome_in_horizon"] == "completed_no_sq"
    # An outcome before the student's start week is refused with file, line and column.
    early = outcomes.iloc[[3 - 3]].assign(week=str(int(start.iloc[0]) - 1))
    early.to_csv(out_path, index=False)
    with pytest.raises(
        CsvImportError, match=r"outcomes.csv, line 2, column 'week': outcome in week .* before"
    ) as before:
        import_files(store, [out_path], TEST_KEY, questionnaire)
    assert "withdrawn before its start is no enrolment: leave the student out" in str(before.value)
    assert read_table(store, "outcomes").set_index("student_id").at[first, "week"] == stored.at[first, "week"]


def test_a_result_after_the_student_left_is_refused_with_its_line(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir, 2).assign(start_week="0")
    students.to_csv(tmp_path / "students.csv", index=False)
    numbers = students["student_number"].tolist()
    pd.DataFrame({"student_number": [numbers[0]], "week": ["12"], "outcome": ["vsv"]}).to_csv(
        tmp_path / "outcomes.csv", index=False
    )
    pd.DataFrame(
        {
            "student_number": [numbers[0], numbers[0], numbers[1]],
            "week": ["9", "19", "19"],
            "period": ["1", "2", "2"],
            "credits_expected": ["15"] * 3,
            "credits_obtained": ["12"] * 3,
            "units_failed": ["1"] * 3,
        }
    ).to_csv(tmp_path / "progress_results.csv", index=False)
    files = [tmp_path / f"{t}.csv" for t in ("students", "outcomes", "progress_results")]
    with pytest.raises(CsvImportError) as refused:
        import_files(store, files, TEST_KEY, questionnaire)
    message = str(refused.value)
    assert (
        "progress_results.csv, line 3, column 'week': result in week 19 is after the student's last week 12"
        in message
    )
    assert "line 2" not in message and "line 4" not in message  # before leaving; another student
    assert _counts(store)["students"] == 0
