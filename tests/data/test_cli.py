"""The `vsv` commands as a data team would use them: generate, migrate, import, export."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from settings import get_settings
from vroegsignaal.cli import app


def test_generate_import_export_chain(env: Path) -> None:
    runner = CliRunner()
    data_dir = env / "exports"
    result = runner.invoke(app, ["generate", "--out", str(data_dir), "--students", "400", "--years", "1"])
    assert result.exit_code == 0, result.output
    assert "questionnaire_answers" in result.output
    assert (data_dir / "students.csv").exists() and not (env / "exports.partial").exists()

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(app, ["import", str(data_dir)])
    assert first.exit_code == 0, first.output
    assert "0 changed" in first.output
    raised = re.search(r"safeguarding: ([\d,]+) new alerts", first.output)
    assert raised is not None and int(raised.group(1).replace(",", "")) > 0
    again = runner.invoke(app, ["import", str(data_dir)])
    assert again.exit_code == 0
    assert "0 new, 0 changed" in again.output
    assert "safeguarding: 0 new alerts" in again.output

    out = env / "students_export.csv"
    exported = runner.invoke(app, ["export", "students", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_csv(out)) == len(pd.read_csv(data_dir / "students.csv"))


def test_bad_file_exits_non_zero_with_the_line(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = env / "students.csv"
    bad.write_text(
        "student_number,programme,sector,level,route,team,prior_education,start_week,age_at_start,"
        "expected_duration_years\n1,Kok,horeca,7,BOL,K1,vmbo_bb,0,16.5,2\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 2
    assert "line 2, column 'level': '7' is above the allowed 4" in result.output


def test_import_before_migration_says_what_to_do(env: Path) -> None:
    bad = env / "students.csv"
    bad.write_text("student_number\n1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", str(bad)])
    assert result.exit_code == 2
    assert "vsv db upgrade" in result.output


def test_generate_refuses_unknown_scenario(env: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(env / "x"), "--scenario", "zombie"])
    assert result.exit_code == 2
    assert "invalid generator settings" in result.output


def test_import_raises_the_help_alert_whatever_the_header_or_file_name(env: Path) -> None:
    """`vsv import` of answers with spaces in the header, or under another file name with --table,
    raises the zorgmelding in the same run (it used to store the answer and raise nothing)."""
    from sqlalchemy import text

    from data.store import make_engine

    runner = CliRunner()
    data_dir = env / "exports"
    assert (
        runner.invoke(app, ["generate", "--out", str(data_dir), "--students", "40", "--years", "1"]).exit_code
        == 0
    )
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["import", str(data_dir)]).exit_code == 0
    numbers = pd.read_csv(data_dir / "students.csv", dtype=str)["student_number"].tolist()
    engine = make_engine(get_settings().resolved_database_url())
    with engine.begin() as conn:  # the zorgteam has handled what the first import raised
        conn.execute(text("UPDATE safeguarding_alerts SET status = 'gesloten'"))
    for week, number, (name, extra) in zip(
        (300, 301),
        numbers[-2:],
        [("questionnaire_answers.csv", []), ("antwoorden_week.csv", ["--table", "questionnaire_answers"])],
        strict=True,
    ):
        path = env / name
        path.write_text(
            f"student_number, week, item, value\r\n{number}, {week}, wil_praten, 1\r\n", encoding="utf-8"
        )
        result = runner.invoke(app, ["import", str(path), *extra])
        assert result.exit_code == 0, result.output
        assert "safeguarding: 1 new alerts" in result.output, result.output
        with engine.connect() as conn:
            raised = conn.execute(
                text("SELECT COUNT(*) FROM safeguarding_alerts WHERE week = :w AND item = 'wil_praten'"),
                {"w": week},
            ).scalar_one()
        assert raised == 1


def test_an_import_whose_alert_scan_fails_writes_nothing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never success with alerts skipped: if raising zorgmeldingen fails, the whole import is refused."""
    from sqlalchemy import text

    import workflows.safeguarding as safeguarding
    from data.store import make_engine

    runner = CliRunner()
    data_dir = env / "exports"
    generated = runner.invoke(app, ["generate", "--out", str(data_dir), "--students", "40", "--years", "1"])
    assert generated.exit_code == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the alert scan could not run")

    monkeypatch.setattr(safeguarding, "raise_alerts", broken)
    result = runner.invoke(app, ["import", str(data_dir)])
    assert result.exit_code != 0 and "the alert scan could not run" in result.output
    engine = make_engine(get_settings().resolved_database_url())
    with engine.connect() as conn:
        for table in ("students", "questionnaire_answers", "attendance_weeks", "safeguarding_alerts"):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0, table


def test_import_with_a_mapping_file_states_the_format_and_what_it_filled_in(env: Path) -> None:
    """A student-information system's semicolon export, with its own headers and codes, through
    `vsv import --mapping`; a bad mapping file exits non-zero and names itself."""
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    folder = env / "sis"
    folder.mkdir()
    (folder / "Inschrijvingen.csv").write_bytes(
        "Nummer;Opleiding;Sector;Niveau;Leerweg;Klas;Vooropleiding;Start;Leeftijd;Duur\n"
        "7001;Kok (Zwolle);horeca;2;BBL;K1;VMBO-GT;0;34,5;2\n"
        "7002;Café-medewerker;SOC;2;BOL;K1;?;0;16,2;2\n".encode("cp1252")
    )
    (folder / "Kenmerken.csv").write_text("Nummer;Geslacht\n7001;M\n7002;V\n", encoding="utf-8")
    mapping = folder / "mapping.yaml"
    mapping.write_text(
        "files: {Inschrijvingen.csv: students, Kenmerken.csv: audit_attributes}\n"
        "columns:\n"
        "  students: {Nummer: student_number, Opleiding: programme, Sector: sector, Niveau: level,\n"
        "             Leerweg: route, Klas: team, Vooropleiding: prior_education, Start: start_week,\n"
        "             Leeftijd: age_at_start, Duur: expected_duration_years}\n"
        "  audit_attributes: {Nummer: student_number, Geslacht: gender}\n"
        "values:\n"
        "  students: {sector: {SOC: overig}, prior_education: {VMBO-GT: vmbo_gt, '?': onbekend}}\n"
        "  audit_attributes: {gender: {M: man, V: vrouw}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(folder), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "students" in result.output and "2 new" in result.output
    assert "[CSV, Windows-1252, semicolon-separated, decimal comma]" in result.output
    assert "note: column 'migration_background' is not in the file: every row is 'onbekend'" in result.output
    mapping.write_text("columns:\n  students: {Nummer: studentnummer}\n", encoding="utf-8")
    bad = runner.invoke(app, ["import", str(folder), "--mapping", str(mapping)])
    assert bad.exit_code == 2
    assert f"mapping file {mapping}" in bad.output and "'studentnummer', which is not a column" in bad.output
