"""The ``vsv`` command line: one command per stage of the weekly flow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from vroegsignaal.settings import Settings, get_settings

app = typer.Typer(help="Vroegsignaal: early warning for dropout risk (vsv) in mbo.", no_args_is_help=True)
db_app = typer.Typer(help="The store: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    return get_settings()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's tables to the newest schema."""
    from data.store import make_engine, upgrade

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    typer.echo(f"store ready: {engine.url.render_as_string(hide_password=True)}")


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="folder to write the tables to")] = Path("var/data/demo"),
    students: Annotated[int, typer.Option(help="students enrolled at the start of year 1")] = 3000,
    years: Annotated[int, typer.Option(help="school years to simulate")] = 3,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same data")] = 0,
    scenario: Annotated[str, typer.Option(help="baseline, lockdown, hot_labour_market or survey_fatigue")] = (
        "baseline"
    ),
    scenario_start_week: Annotated[
        int | None, typer.Option(help="default: first week of the last year")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    chunk_size: Annotated[int, typer.Option(help="students simulated at once (bounds memory)")] = 25_000,
) -> None:
    """Generate synthetic mbo cohorts with known true risk, as CSV exports a school would send."""
    from pydantic import ValidationError

    from data.questionnaire import load_questionnaire
    from data.synthetic.generator import GeneratorConfig
    from data.synthetic.writer import write_generated

    if file_format not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, got {file_format!r}")
    try:
        config = GeneratorConfig(
            seed=seed,
            n_students=students,
            n_years=years,
            scenario=scenario,  # type: ignore[arg-type]
            scenario_start_week=scenario_start_week,
            chunk_size=chunk_size,
        )
    except ValidationError as exc:
        _fail(f"invalid generator settings:\n{exc}")
        return
    questionnaire = load_questionnaire(_settings().questionnaire_config)
    started = time.perf_counter()
    counts = write_generated(
        config,
        out,
        fmt="csv" if file_format == "csv" else "parquet",
        questionnaire=questionnaire,
        progress=True,
    )
    typer.echo(f"generated {config.n_total} students in {time.perf_counter() - started:.1f}s into {out}")
    for name, n in counts.items():
        typer.echo(f"  {name:<24} {n:>12,} rows")


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="CSV files named <table>.csv, or a folder of them")],
    table: Annotated[str | None, typer.Option(help="table for files not named after it")] = None,
) -> None:
    """Import CSV exports into the store: validated, all-or-nothing and idempotent."""
    from data.csv_io import CsvImportError, import_directory, import_files
    from data.questionnaire import load_questionnaire
    from data.store import make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    questionnaire = load_questionnaire(settings.questionnaire_config)
    try:
        if len(paths) == 1 and paths[0].is_dir():
            reports = import_directory(engine, paths[0], settings.pseudonym_key, questionnaire)
        else:
            reports = import_files(engine, paths, settings.pseudonym_key, questionnaire, table=table)
    except (CsvImportError, RuntimeError, ValueError) as exc:
        _fail(str(exc))
        return
    for r in reports:
        typer.echo(
            f"{r.table:<24} {r.rows:>10,} rows: {r.inserted:,} new, {r.updated:,} changed, "
            f"{r.unchanged:,} unchanged"
        )


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="table to export")],
    out: Annotated[Path, typer.Option(help="CSV file to write")],
) -> None:
    """Export one table as CSV; students appear as pseudonyms (student_id)."""
    from data.csv_io import export_table
    from data.store import make_engine

    engine = make_engine(_settings().resolved_database_url())
    try:
        n = export_table(engine, table, out)
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n:,} rows of {table} to {out}")


if __name__ == "__main__":  # pragma: no cover
    app()
