"""The store: CSV import is validated, atomic and idempotent; export round-trips; both backends agree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from data.contracts import CONTRACTS
from data.csv_io import CsvImportError, export_table, import_directory, import_files
from data.pseudonym import pseudonymise
from data.questionnaire import Questionnaire
from data.store import TABLE_ORDER, load_raw_tables, read_table
from tests.conftest import POSTGRES_URL, TEST_KEY, new_store


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()) for t in TABLE_ORDER}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_import_loads_every_table(
    store: Engine, small_csv_dir: Path, small_tables: dict[str, pd.DataFrame], questionnaire: Questionnaire
) -> None:
    reports = import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    assert {r.table for r in reports} == set(TABLE_ORDER)
    counts = _counts(store)
    for name in TABLE_ORDER:
        assert counts[name] == len(small_tables[name]), name
    assert all(r.inserted == r.rows for r in reports)


def test_reimport_is_a_no_op(store: Engine, small_csv_dir: Path, questionnaire: Questionnaire) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    before = {t: read_table(store, t) for t in TABLE_ORDER}
    reports = import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    assert all(r.inserted == 0 and r.updated == 0 and r.unchanged == r.rows for r in reports)
    for t in TABLE_ORDER:
        pd.testing.assert_frame_equal(read_table(store, t), before[t])


def test_changed_rows_replace_stored_values(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    att = pd.read_csv(small_csv_dir / "attendance_weeks.csv")
    row = att.iloc[0].copy()
    changed = att.iloc[[0]].copy()
    changed["present_hours"] = row["present_hours"] - 1
    changed["unauthorised_absence_hours"] = row["unauthorised_absence_hours"] + 1
    path = tmp_path / "attendance_weeks.csv"
    changed.to_csv(path, index=False)
    (report,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    sid = pseudonymise(str(row["student_number"]), TEST_KEY)
    with store.connect() as conn:
        stored = conn.execute(
            text("SELECT present_hours FROM attendance_weeks WHERE student_id = :s AND week = :w"),
            {"s": sid, "w": int(row["week"])},
        ).scalar_one()
    assert stored == row["present_hours"] - 1


@pytest.mark.parametrize(
    ("column", "bad_value", "message"),
    [
        ("present_hours", "abc", "'abc' is not a number"),
        ("scheduled_hours", "-3", "below the allowed 0"),
        ("week", "2.5", "not a whole number"),
        ("present_hours", "", "empty value"),
        ("present_hours", "99", "above the allowed 60"),
    ],
)
def test_a_bad_cell_is_named_and_nothing_is_written(
    store: Engine,
    small_csv_dir: Path,
    tmp_path: Path,
    questionnaire: Questionnaire,
    column: str,
    bad_value: str,
    message: str,
) -> None:
    exports = _copy(small_csv_dir, tmp_path / "school")
    att = pd.read_csv(exports / "attendance_weeks.csv", dtype=str)
    att.loc[16, column] = bad_value  # data row 17 is line 18 of the file
    att.to_csv(exports / "attendance_weeks.csv", index=False)
    with pytest.raises(CsvImportError) as err:
        import_directory(store, exports, TEST_KEY, questionnaire)
    assert "attendance_weeks.csv, line 18" in str(err.value)
    assert f"column '{column}'" in str(err.value)
    assert message in str(err.value)
    assert sum(_counts(store).values()) == 0


def test_bad_rows_in_one_file_keep_the_whole_batch_out(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    exports = _copy(small_csv_dir, tmp_path / "school")
    answers = pd.read_csv(exports / "questionnaire_answers.csv", dtype=str)
    answers.loc[3, "value"] = "7"
    answers.loc[4, "item"] = "onbekend_item"
    answers.to_csv(exports / "questionnaire_answers.csv", index=False)
    with pytest.raises(CsvImportError) as err:
        import_directory(store, exports, TEST_KEY, questionnaire)
    text_ = str(err.value)
    assert "line 5, column 'value': '7' is outside the scale 1-5" in text_
    assert "line 6, column 'item': 'onbekend_item' is not an item" in text_
    assert sum(_counts(store).values()) == 0


def test_structural_problems_are_reported(
    store: Engine, tmp_path: Path, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)
    att = pd.read_csv(small_csv_dir / "attendance_weeks.csv").head(5)
    missing = tmp_path / "attendance_weeks.csv"
    att.drop(columns=["present_hours"]).assign(extra=1).to_csv(missing, index=False)
    with pytest.raises(CsvImportError, match="column 'present_hours': required column is missing"):
        import_files(store, [missing], TEST_KEY, questionnaire)
    dupes = tmp_path / "dupes" / "attendance_weeks.csv"
    dupes.parent.mkdir()
    pd.concat([att, att.iloc[[2]]]).to_csv(dupes, index=False)
    with pytest.raises(CsvImportError, match=r"line 7, .*duplicate of an earlier row"):
        import_files(store, [dupes], TEST_KEY, questionnaire)
    stranger = tmp_path / "stranger" / "attendance_weeks.csv"
    stranger.parent.mkdir()
    att.assign(student_number=999).to_csv(stranger, index=False)
    with pytest.raises(CsvImportError, match="not in the students table"):
        import_files(store, [stranger], TEST_KEY, questionnaire)
    with pytest.raises(CsvImportError, match="cannot tell the table"):
        import_files(store, [tmp_path / "unknown.csv"], TEST_KEY, questionnaire)
    with pytest.raises(CsvImportError, match="file not found"):
        import_files(store, [tmp_path / "nothing" / "outcomes.csv"], TEST_KEY, questionnaire)
    assert _counts(store)["attendance_weeks"] == 0


def test_student_numbers_never_reach_the_store(
    store: Engine, small_csv_dir: Path, small_tables: dict[str, pd.DataFrame], questionnaire: Questionnaire
) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    numbers = {str(n) for n in small_tables["students"]["student_number"]}
    for name in TABLE_ORDER:
        stored = read_table(store, name)
        assert "student_number" not in stored.columns
        assert not numbers & set(stored["student_id"].astype(str)), name
    expected = {pseudonymise(n, TEST_KEY) for n in numbers}
    assert set(read_table(store, "students")["student_id"]) == expected


def test_export_then_import_round_trips(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    out = tmp_path / "export"
    for name in TABLE_ORDER:
        written = export_table(store, name, out / f"{name}.csv")
        assert written == len(read_table(store, name))
        # The generated college records per-period results and declares no signals of its own.
        assert written > 0 or name in ("assessment_results", "school_signals"), name
    header = (out / "students.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("student_id,") and "student_number" not in header
    for fresh in new_store("sqlite", tmp_path / "fresh"):
        reports = import_directory(fresh, out, "another-key-is-not-needed-for-pseudonyms", questionnaire)
        assert all(r.inserted == r.rows for r in reports)
        for name in TABLE_ORDER:
            pd.testing.assert_frame_equal(read_table(fresh, name), read_table(store, name), check_dtype=False)


def test_raw_tables_as_of_a_week_hold_nothing_later(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    tables = load_raw_tables(store, until_week=10)
    for name in ("questionnaire_answers", "attendance_weeks", "progress_results", "outcomes"):
        assert getattr(tables, name)["week"].max() <= 10
    assert "gender" not in tables.students.columns


def test_contract_covers_every_stored_column(store: Engine) -> None:
    for name, spec in CONTRACTS.items():
        stored = read_table(store, name)
        assert list(stored.columns) == list(spec.all_columns), name


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set")
def test_sqlite_and_postgresql_hold_the_same_data(
    small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    for backend in ("sqlite", "postgresql"):
        for engine in new_store(backend, tmp_path / backend):
            import_directory(engine, small_csv_dir, TEST_KEY, questionnaire)
            frames[backend] = {t: read_table(engine, t) for t in TABLE_ORDER}
    for t in TABLE_ORDER:
        pd.testing.assert_frame_equal(frames["sqlite"][t], frames["postgresql"][t], check_dtype=False)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set")
def test_arrow_reads_what_read_sql_reads(
    small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    """PostgreSQL tables are read through Arrow's ADBC driver: the same frames, types and NULLs as
    pandas.read_sql, also for text with commas, quotes and line breaks, and for a range of students."""
    from data.store import _arrow_read

    for engine in new_store("postgresql", tmp_path):
        import_directory(engine, small_csv_dir, TEST_KEY, questionnaire)
        with engine.begin() as conn:
            first, second = conn.execute(text("SELECT student_id FROM students ORDER BY 1 LIMIT 2")).scalars()
            conn.execute(
                text("UPDATE students SET team = :team, expected_end_week = NULL WHERE student_id = :s"),
                {"team": 'A, "b"\nc\'d', "s": first},
            )
            conn.execute(
                text("UPDATE students SET expected_end_week = 77 WHERE student_id = :s"), {"s": second}
            )
        ranges: list[tuple[str | None, str | None]] = [
            (None, None),
            (first, None),
            (None, second),
            (first, second),
        ]
        with engine.connect() as conn:
            for table in TABLE_ORDER:
                spec = CONTRACTS[table]
                for low, high in ranges:
                    clauses = [c for c, v in (("student_id >= :low", low), ("student_id < :high", high)) if v]
                    params: dict[str, int | str] = {k: v for k, v in (("low", low), ("high", high)) if v}
                    if "week" in spec.column_names:
                        clauses.append("week <= :until")
                        params["until"] = 30
                    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
                    order = " ORDER BY " + ", ".join(("student_id", *spec.key))
                    expected = pd.read_sql(text(f"SELECT * FROM {table}{where}{order}"), conn, params=params)
                    # read_sql's one quirk: a number column NULL in every row comes as objects
                    numbers = [c.name for c in spec.columns if c.kind != "str"]
                    expected = expected.astype({c: "float64" for c in numbers if expected[c].dtype == object})
                    got = _arrow_read(engine, table, where + order, params)
                    # (no rows: read_sql cannot know the types; the Arrow frame has the contract's)
                    pd.testing.assert_frame_equal(
                        got, expected, obj=f"{table} {low}-{high}", check_dtype=not expected.empty
                    )
            students = read_table(engine, "students")
            assert students.loc[students.student_id == first, "team"].item() == 'A, "b"\nc\'d'
            assert students["expected_end_week"].isna().sum() >= 1


def test_a_windowed_load_gives_the_same_snapshot(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    """Serving reads only the last LOOKBACK_WEEKS weeks; the features must not change."""
    from features import LOOKBACK_WEEKS, snapshot

    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    as_of = 30
    full = snapshot(load_raw_tables(store), as_of)
    windowed = snapshot(load_raw_tables(store, until_week=as_of, since_week=as_of - LOOKBACK_WEEKS), as_of)
    pd.testing.assert_frame_equal(full, windowed)


def test_a_failing_after_write_hook_rolls_the_import_back(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    def boom(conn: object, frames: object) -> None:
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        import_directory(store, small_csv_dir, TEST_KEY, questionnaire, after_write=boom)
    assert sum(_counts(store).values()) == 0


def test_a_store_behind_the_code_is_reported(tmp_path: Path) -> None:
    from data.store import head_revision, make_engine, schema_problem, schema_revision, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert schema_problem(engine) is not None and "vsv db upgrade" in str(schema_problem(engine))
    upgrade(engine, "0001")
    assert schema_revision(engine) == "0001"
    assert "code needs" in str(schema_problem(engine))
    upgrade(engine)
    assert schema_revision(engine) == head_revision()
    assert schema_problem(engine) is None


def test_the_small_upsert_stores_what_the_import_writer_stores(
    store: Engine, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    """A student's submission (data.csv_io.upsert_rows) and an import (write_frame) leave the same rows."""
    from data.contracts import contract
    from data.csv_io import upsert_rows, write_frame

    import_directory(store, small_csv_dir, TEST_KEY, questionnaire)
    answers = read_table(store, "questionnaire_answers")
    student, week = answers.iloc[0]["student_id"], int(answers.iloc[0]["week"])
    mine = answers[(answers["student_id"] == student) & (answers["week"] == week)].copy()
    changed = mine.assign(value=mine["value"].map(lambda v: 5 if v != 5 else 4))
    new_week = changed.assign(week=week + 500)
    spec = contract("questionnaire_answers")
    with store.begin() as conn:
        upsert_rows(conn, spec, pd.concat([changed, new_week]))
    by_upsert = read_table(store, "questionnaire_answers")
    with store.begin() as conn:  # back, and the same change through the import's writer
        write_frame(conn, spec, mine)
        conn.execute(text("DELETE FROM questionnaire_answers WHERE week = :w"), {"w": week + 500})
        write_frame(conn, spec, pd.concat([changed, new_week]))
    by_import = read_table(store, "questionnaire_answers")
    pd.testing.assert_frame_equal(by_upsert, by_import)
    assert len(by_upsert) == len(answers) + len(mine)
    assert set(by_upsert[(by_upsert["student_id"] == student) & (by_upsert["week"] == week)]["value"]) == set(
        changed["value"]
    )
