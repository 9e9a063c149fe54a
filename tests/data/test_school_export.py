"""The school-style export (issue 17): the synthetic college written as a college's systems hand it over
(Dutch headers and codes, semicolons, Windows-1252, decimal commas, dates, two intakes, per-assessment
results, two signals of its own) imports through the mapping file written beside it, into the same store
as the native export, apart from the assessments (which give the same features) and the signals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from data.calendar import WEEKS_PER_YEAR, SchoolCalendar, load_school_calendar
from data.csv_io import import_directory
from data.extensions import EXTENSIONS_ENV, clear_extension_cache
from data.mapping import load_mapping
from data.questionnaire import Questionnaire
from data.store import load_raw_tables, read_table
from data.synthetic.generator import GeneratorConfig
from data.synthetic.school_export import NAMES_DIR, write_school_export
from data.synthetic.writer import write_generated
from features.register import model_features
from features.snapshot import snapshot
from tests.conftest import TEST_KEY, new_store

CONFIG = GeneratorConfig(seed=5, n_students=150, n_years=3, february_intake_share=0.3)
SAME = ("students", "audit_attributes", "questionnaire_answers", "attendance_weeks", "outcomes")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shapes")
    write_generated(CONFIG, root / "native")
    write_school_export(CONFIG, root / "school")
    return root / "native", root / "school"


@pytest.fixture
def declared(exports: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(EXTENSIONS_ENV, str(exports[1] / "extensions.yaml"))
    clear_extension_cache()
    yield
    clear_extension_cache()


def _store(tmp_path: Path, name: str) -> Iterator[Engine]:
    return new_store("sqlite", tmp_path / name)


def test_the_school_export_looks_like_a_school_system_export(exports: tuple[Path, Path]) -> None:
    school = exports[1]
    header = (school / "Inschrijvingen.csv").read_bytes().splitlines()[0]
    assert header.decode("cp1252").startswith("Studentnummer;Opleiding;Sector;Niveau;Leerweg")
    students = pd.read_csv(school / "Inschrijvingen.csv", sep=";", encoding="cp1252", dtype=str)
    assert {"Eerdere pogingen", "Cijfer vooropleiding", "Startdatum", "Verwachte einddatum"} <= set(students)
    assert students["Startdatum"].str.fullmatch(r"\d{1,2}-\d{1,2}-\d{4}").all()
    assert students["Leeftijd bij start"].str.contains(",").any()
    assert set(students["Sector"]) <= {"Techniek", "Zorg en welzijn", "Economie", "ICT", "Horeca", "Groen"}
    results = pd.read_csv(school / "Resultaten.csv", sep=";", encoding="cp1252", dtype=str)
    assert set(results["Behaald"]) == {"J", "N"}
    assert (school / NAMES_DIR / "Namen.csv").exists() and not (school / "Namen.csv").exists()


def test_it_imports_through_its_mapping_into_the_store_the_native_export_gives(
    exports: tuple[Path, Path], declared: None, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    native_dir, school_dir = exports
    calendar: SchoolCalendar = load_school_calendar()
    mapping = load_mapping(school_dir / "mapping.yaml")
    for native in _store(tmp_path, "native"):
        for school in _store(tmp_path, "school"):
            import_directory(native, native_dir, TEST_KEY, questionnaire, calendar=calendar)
            reports = import_directory(
                school, school_dir, TEST_KEY, questionnaire, mapping=mapping, calendar=calendar
            )
            formats = {r.table: r.file_format for r in reports}
            # Written in Windows-1252; a file of ASCII only reads as UTF-8 just as well.
            assert formats["students"] == "CSV, UTF-8, semicolon-separated, decimal comma"
            for table in SAME:
                pd.testing.assert_frame_equal(read_table(school, table), read_table(native, table), obj=table)
            students = read_table(school, "students")
            assert (students["start_week"] % WEEKS_PER_YEAR == WEEKS_PER_YEAR // 2).any(), "a February intake"
            assert (
                read_table(school, "progress_results").empty
                and not read_table(school, "assessment_results").empty
            )
            signals = read_table(school, "school_signals")
            assert set(signals["feature"]) == {"previous_attempts", "prior_grade"}
            assert len(signals) == 2 * len(students)

            # The assessments give the per-period results' features; the signals are the only extra.
            extensions = ["previous_attempts", "prior_grade"]
            shared = [c for c in model_features() if c not in extensions]
            native_tables, school_tables = load_raw_tables(native), load_raw_tables(school)
            for week in (9, 25, 59, 100):
                a = snapshot(native_tables, week).set_index("student_id")
                b = snapshot(school_tables, week).set_index("student_id")
                pd.testing.assert_frame_equal(b[shared], a[shared], obj=f"week {week}")
                assert (a[extensions] == [0.0, 6.5]).all().all(), "native: the declared fills"
                assert b["prior_grade"].nunique() > 10

            again = import_directory(
                school, school_dir, TEST_KEY, questionnaire, mapping=mapping, calendar=calendar
            )
            assert all((r.inserted, r.updated) == (0, 0) for r in again), "a re-import is a no-op"

            names = import_directory(
                school,
                school_dir / NAMES_DIR,
                TEST_KEY,
                questionnaire,
                mapping=load_mapping(school_dir / NAMES_DIR / "mapping.yaml"),
            )
            assert [r.table for r in names] == ["identities"] and names[0].inserted == len(students)
            assert names[0].file_format == "CSV, Windows-1252, semicolon-separated"  # names with diacritics
