"""The identity table: names (any Unicode, up to 200 characters) and the school's student number, imported
validated, all-or-nothing and idempotent, generated with realistic Dutch names, and kept apart from the
pseudonymised tables: never loaded for features or the model."""

from __future__ import annotations

import shutil
import unicodedata
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from data.contracts import CONTRACTS
from data.csv_io import CsvImportError, export_table, import_directory, import_files
from data.pseudonym import pseudonymise
from data.questionnaire import Questionnaire
from data.store import TABLE_ORDER, load_raw_tables, read_table
from data.synthetic import GeneratorConfig, generate
from data.synthetic import generator as generator_module
from data.synthetic.names import split_family_name
from data.tables import MODEL_TABLES, RawTables
from tests.conftest import SMALL, TEST_KEY

IDENTITY_COLUMNS = ("student_number", "given_name", "name_prefix", "family_name", "email")
LONG_GIVEN = "Ë" + "é" * 198 + "'"  # 200 characters
NAMES = [
    # given, prefix, family, email
    ("Zoë", "van 't", "Riet", "zoe.vantriet@student.example.nl"),
    ("D'Angelo", "", "O'Neill-Ñúñez", ""),
    (LONG_GIVEN, "van der", "Ä" * 200, "lang@student.example.nl"),
    ("Daniël", "de", "Jong", "daniel.dejong@student.example.nl"),
]


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _numbers(csv_dir: Path, n: int) -> list[str]:
    return list(pd.read_csv(csv_dir / "students.csv", dtype=str)["student_number"].head(n))


def _identities_file(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS))
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def _students_only(small_csv_dir: Path, store: Engine, questionnaire: Questionnaire) -> None:
    import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)


def test_names_of_200_characters_with_apostrophes_and_diacritics_are_stored_intact(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    _students_only(small_csv_dir, store, questionnaire)
    numbers = _numbers(small_csv_dir, len(NAMES))
    rows = [(n, *name) for n, name in zip(numbers, NAMES, strict=True)]
    (report,) = import_files(
        store, [_identities_file(tmp_path / "identities.csv", rows)], TEST_KEY, questionnaire
    )
    assert (report.table, report.rows, report.inserted) == ("identities", 4, 4)
    stored = read_table(store, "identities").set_index("student_number")
    assert list(read_table(store, "identities").columns) == ["student_id", *IDENTITY_COLUMNS]
    for number, (given, prefix, family, email) in zip(numbers, NAMES, strict=True):
        row = stored.loc[number]
        assert row["student_id"] == pseudonymise(number, TEST_KEY)  # pseudonymised like everywhere
        assert row["given_name"] == given and row["family_name"] == family
        assert row["name_prefix"] == (prefix or None)
        assert row["email"] == (email or None)
    assert len(str(stored.loc[numbers[2], "given_name"])) == 200
    assert len(str(stored.loc[numbers[2], "family_name"])) == 200


def test_names_are_stored_in_one_unicode_form(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    _students_only(small_csv_dir, store, questionnaire)
    (number,) = _numbers(small_csv_dir, 1)
    decomposed = unicodedata.normalize("NFD", "Chloë")
    path = _identities_file(tmp_path / "identities.csv", [(number, decomposed, "", "Müller", "")])
    import_files(store, [path], TEST_KEY, questionnaire)
    assert read_table(store, "identities")["given_name"].tolist() == ["Chloë"]


def test_too_long_names_and_bad_addresses_are_named(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    _students_only(small_csv_dir, store, questionnaire)
    a, b, c = _numbers(small_csv_dir, 3)
    rows = [
        (a, "x" * 201, "", "Jansen", ""),
        (b, "Anna", "", "", "anna@student.example.nl"),
        (c, "Bram", "", "Bakker", "geen adres"),
    ]
    with pytest.raises(CsvImportError) as err:
        import_files(store, [_identities_file(tmp_path / "identities.csv", rows)], TEST_KEY, questionnaire)
    message = str(err.value)
    assert "identities.csv, line 2, column 'given_name': longer than 200 characters" in message
    assert "identities.csv, line 3, column 'family_name': empty value" in message
    assert "identities.csv, line 4, column 'email': 'geen adres' is not an e-mail address" in message
    assert _count(store, "identities") == 0


def test_an_identity_of_an_unknown_student_is_refused_and_nothing_is_written(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    number, other = _numbers(small_csv_dir, 2)
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(small_csv_dir / "students.csv", batch / "students.csv")
    rows = [(number, "Sanne", "", "Visser", ""), ("99999999", "Niemand", "", "Onbekend", "")]
    identities = _identities_file(batch / "identities.csv", rows)
    # In one batch with the students: the bad identity keeps the whole batch out.
    with pytest.raises(CsvImportError) as err:
        import_files(store, [batch / "students.csv", identities], TEST_KEY, questionnaire)
    message = str(err.value)
    assert "identities.csv, line 3, column 'student_number': student is not in the students table" in message
    assert "Niemand" not in message  # the problem is named, the name is not repeated
    assert _count(store, "students") == 0 and _count(store, "identities") == 0
    # Against a store that holds the students: still refused, still nothing written.
    _students_only(small_csv_dir, store, questionnaire)
    with pytest.raises(CsvImportError, match=r"identities\.csv, line 3, column 'student_number'"):
        import_files(store, [identities], TEST_KEY, questionnaire)
    assert _count(store, "identities") == 0
    good = _identities_file(tmp_path / "good" / "identities.csv", [(other, "Sanne", "", "Visser", "")])
    import_files(store, [good], TEST_KEY, questionnaire)
    assert _count(store, "identities") == 1


def test_the_identity_file_needs_the_student_number(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    _students_only(small_csv_dir, store, questionnaire)
    (number,) = _numbers(small_csv_dir, 1)
    path = tmp_path / "identities.csv"
    frame = pd.DataFrame([(pseudonymise(number, TEST_KEY), "Sanne", "", "Visser", "")])
    frame.columns = ["student_id", *IDENTITY_COLUMNS[1:]]
    frame.to_csv(path, index=False)
    with pytest.raises(CsvImportError, match="needs the column 'student_number'"):
        import_files(store, [path], TEST_KEY, questionnaire)
    assert _count(store, "identities") == 0


def test_reimport_is_idempotent_and_changes_replace_stored_values(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    _students_only(small_csv_dir, store, questionnaire)
    a, b = _numbers(small_csv_dir, 2)
    first = [(a, "Fenna", "", "Bakker", "fenna.bakker@student.example.nl"), (b, "Ali", "van", "Dam", "")]
    path = _identities_file(tmp_path / "v1" / "identities.csv", first)
    import_files(store, [path], TEST_KEY, questionnaire)
    before = read_table(store, "identities")
    (again,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    pd.testing.assert_frame_equal(read_table(store, "identities"), before)
    # An empty optional cell becomes a value, a value becomes empty: both are changes (NULL-safe).
    second = [(a, "Fenna", "de", "Bakker", "fenna.bakker@student.example.nl"), (b, "Ali", "", "Dam", "")]
    (changed,) = import_files(
        store, [_identities_file(tmp_path / "v2" / "identities.csv", second)], TEST_KEY, questionnaire
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 2, 0)
    stored = read_table(store, "identities").set_index("student_number")
    assert stored.loc[a, "name_prefix"] == "de" and stored.loc[b, "name_prefix"] is None


def test_the_generated_identities_are_kept_apart_in_a_folder_of_their_own(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    """``vsv import <folder>`` takes the pseudonymised tables; the names come from their own folder."""
    assert "identities" in CONTRACTS and "identities" not in TABLE_ORDER
    assert not (small_csv_dir / "identities.csv").exists()
    assert (small_csv_dir / "identities" / "identities.csv").exists()
    reports = import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    assert "identities" not in {r.table for r in reports}
    assert _count(store, "identities") == 0
    for name in TABLE_ORDER:  # the student number stays out of every pseudonymised table
        assert "student_number" not in read_table(store, name).columns
    (report,) = import_directory(store, small_csv_dir / "identities", TEST_KEY, questionnaire)
    assert report.table == "identities" and report.inserted == SMALL.n_total
    assert list(read_table(store, "identities").columns) == ["student_id", *IDENTITY_COLUMNS]


def test_a_school_folder_holding_the_names_too_is_one_batch(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(small_csv_dir / "students.csv", folder / "students.csv")
    shutil.copy(small_csv_dir / "identities" / "identities.csv", folder / "identities.csv")
    reports = import_directory(store, folder, TEST_KEY, questionnaire)
    assert [r.table for r in reports] == ["students", "identities"]  # students first
    assert _count(store, "identities") == SMALL.n_total


def test_the_generator_writes_identities_that_import(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    (report,) = import_files(
        store, [small_csv_dir / "identities" / "identities.csv"], TEST_KEY, questionnaire
    )
    assert report.rows == report.inserted == SMALL.n_total
    stored = read_table(store, "identities")
    students = read_table(store, "students")
    assert set(stored["student_id"]) == set(students["student_id"])
    assert (stored["student_id"] == stored["student_number"].map(lambda n: pseudonymise(n, TEST_KEY))).all()
    assert stored["name_prefix"].notna().sum() > 10  # some tussenvoegsels
    assert stored["name_prefix"].isna().sum() > SMALL.n_total / 2
    every_name = "".join(stored["given_name"]) + "".join(stored["family_name"].astype(str))
    assert not every_name.isascii()  # some diacritics
    emails = stored["email"].dropna()
    assert len(emails) > 0.9 * SMALL.n_total and emails.is_unique
    assert emails.str.fullmatch(r"[a-z0-9]+\.[a-z0-9]+\d*@student\.example\.nl").all()
    out = tmp_path / "export" / "identities.csv"  # exported as imported: by student number
    assert export_table(store, "identities", out) == SMALL.n_total
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(IDENTITY_COLUMNS)
    (again,) = import_files(store, [out], TEST_KEY, questionnaire)
    assert again.unchanged == again.rows == SMALL.n_total


def test_generated_names_are_deterministic_and_leave_every_other_table_unchanged(
    monkeypatch: pytest.MonkeyPatch, small_tables: dict[str, pd.DataFrame]
) -> None:
    config = GeneratorConfig(seed=5, n_students=200, n_years=1, chunk_size=100)
    first, again = generate(config), generate(config)
    pd.testing.assert_frame_equal(first["identities"], again["identities"])
    other = generate(config.model_copy(update={"seed": 6}))
    assert not first["identities"]["family_name"].equals(other["identities"]["family_name"])
    assert list(first["identities"]["student_number"]) == list(first["students"]["student_number"])
    # The names have a random stream of their own: without them, every other table is the same.
    monkeypatch.setattr(
        generator_module,
        "synthetic_identities",
        lambda numbers, genders, rng: pd.DataFrame({"student_number": numbers}),
    )
    without = generate(config)
    for name in first:
        if name != "identities":
            pd.testing.assert_frame_equal(first[name], without[name])
    assert list(small_tables["identities"].columns) == list(IDENTITY_COLUMNS)


def test_family_names_are_split_into_prefix_and_name() -> None:
    assert split_family_name("van der Veen") == ("van der", "Veen")
    assert split_family_name("van 't Riet") == ("van 't", "Riet")
    assert split_family_name("'s Gravensande") == ("'s", "Gravensande")
    assert split_family_name("Bourgondië, van") == ("van", "Bourgondië")
    assert split_family_name("Jansen") == (None, "Jansen")
    assert split_family_name("Aelftrud van Wessex") is None


def test_identities_never_reach_the_raw_tables_of_the_model_or_the_features(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    from features import snapshot

    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    import_files(store, [small_csv_dir / "identities" / "identities.csv"], TEST_KEY, questionnaire)
    assert _count(store, "identities") == SMALL.n_total
    assert "identities" not in MODEL_TABLES
    assert "identities" not in {f.name for f in fields(RawTables)}
    tables = load_raw_tables(store)
    names = read_table(store, "identities")
    # Values that can only come from the identity table (a family name alone may be a programme: Kok).
    known = set(names["student_number"]) | set(names["email"].dropna())
    known |= {f"{g} {f}" for g, f in zip(names["given_name"], names["family_name"], strict=True)}
    for f in fields(RawTables):
        frame: pd.DataFrame = getattr(tables, f.name)
        assert not set(IDENTITY_COLUMNS) & set(frame.columns), f.name
        text_values = {v for col in frame.select_dtypes(exclude=[np.number]).columns for v in frame[col]}
        assert not known & {str(v) for v in text_values}, f.name
    features = snapshot(tables, 30, questionnaire)
    assert not set(IDENTITY_COLUMNS) & set(features.columns)
    assert not any(col in features.columns for col in ("identities", "name", "email"))
    text_features = features.select_dtypes(exclude=[np.number])
    assert not known & {str(v) for col in text_features.columns for v in text_features[col]}
