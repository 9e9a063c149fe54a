"""The ``vsv`` command line: one command per stage of the weekly flow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from data.context import DeploymentContext
from vroegsignaal.common import context_or_fail, fail

app = typer.Typer(help="Vroegsignaal: early warning for dropout risk (vsv) in mbo.", no_args_is_help=True)
db_app = typer.Typer(help="The store: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's tables to the newest schema."""
    from data.store import upgrade

    engine = context_or_fail().engine
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
    export_style: Annotated[
        str,
        typer.Option(
            help="native (the contract's tables) or school (as a college's systems hand it over: Dutch "
            "headers and codes, semicolons, Windows-1252, dates, per-assessment results, two signals of "
            "its own, with mapping.yaml and extensions.yaml beside it)"
        ),
    ] = "native",
    february_intake_share: Annotated[
        float, typer.Option(help="share of each later intake that starts in February (week 20)")
    ] = 0.0,
) -> None:
    """Generate synthetic mbo cohorts with known true risk, as CSV exports a school would send."""
    from pydantic import ValidationError

    from data.synthetic.generator import GeneratorConfig
    from data.synthetic.writer import write_generated

    if file_format not in ("csv", "parquet"):
        fail(f"--format must be csv or parquet, got {file_format!r}")
    if export_style not in ("native", "school"):
        fail(f"--export-style must be native or school, got {export_style!r}")
    if export_style == "school" and file_format != "csv":
        fail("--export-style school writes CSV files, as a school's system does: leave out --format")
    try:
        config = GeneratorConfig(
            seed=seed,
            n_students=students,
            n_years=years,
            scenario=scenario,  # type: ignore[arg-type]
            scenario_start_week=scenario_start_week,
            chunk_size=chunk_size,
            february_intake_share=february_intake_share,
        )
    except ValidationError as exc:
        fail(f"invalid generator settings:\n{exc}")
        return
    questionnaire = context_or_fail().questionnaire
    started = time.perf_counter()
    if export_style == "school":
        from data.synthetic.school_export import write_school_export

        try:
            counts = write_school_export(
                config, out, questionnaire, context_or_fail().calendar, progress=True
            )
        except ValueError as exc:
            fail(str(exc))
            return
    else:
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
    paths: Annotated[
        list[Path],
        typer.Argument(help="CSV or .xlsx files named <table>.csv / <table>.xlsx, or a folder of them"),
    ],
    table: Annotated[str | None, typer.Option(help="table for files not named after it")] = None,
    mapping_file: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="YAML mapping the school's file names, columns and values onto the contract (README: "
            "'A school's own export')",
        ),
    ] = None,
) -> None:
    """Import exports into the store: validated, all-or-nothing and idempotent. CSV in UTF-8 or
    Windows-1252, comma-, semicolon- or tab-separated, decimal point or comma; or .xlsx workbooks."""
    from datetime import date

    from data.calendar import current_week
    from data.csv_io import CsvImportError, import_files, table_files
    from data.mapping import load_mapping
    from workflows.safeguarding import AlertsOnImport

    ctx = context_or_fail()
    engine, questionnaire = ctx.engine, ctx.questionnaire
    try:
        mapping = None if mapping_file is None else load_mapping(mapping_file)
        directory = len(paths) == 1 and paths[0].is_dir()
        files = table_files(paths[0], mapping) if directory else paths
        alerts = AlertsOnImport(questionnaire, ctx.settings.alert_window_weeks)
        reports = import_files(
            engine,
            files,
            ctx.settings.pseudonym_key,
            questionnaire,
            table=table,
            after_write=alerts,
            mapping=mapping,
            # An outcome without a week: the school week of the day of the import stands in.
            import_week=current_week(ctx.calendar, date.today()),
            calendar=ctx.calendar,
        )
    except (CsvImportError, RuntimeError, ValueError) as exc:
        fail(str(exc))
        return
    for r in reports:
        typer.echo(
            f"{r.table:<24} {r.rows:>10,} rows: {r.inserted:,} new, {r.updated:,} changed, "
            f"{r.unchanged:,} unchanged" + (f"  [{r.file_format}]" if r.file_format else "")
        )
        for note in r.notes:
            typer.echo(f"{'':<26}note: {note}")
    if alerts.since is not None:
        typer.echo(
            f"safeguarding: {alerts.raised:,} new alerts for the zorgteam "
            f"(answers from week {alerts.since} on)"
        )
    if alerts.closed:
        typer.echo(f"safeguarding: {alerts.closed:,} alerts closed: the student is no longer enrolled")


@app.command("import-history")
def import_history_command(
    directory: Annotated[
        Path, typer.Argument(help="folder with coachklas_capacity.csv, coachklas_placements.csv, actions.csv")
    ],
) -> None:
    """Import the staff's history (coachklas capacity and placements, mentor actions): validated,
    all-or-nothing and idempotent."""
    from data.csv_io import CsvImportError
    from data.history import import_history

    ctx = context_or_fail()
    try:
        reports = import_history(
            ctx.engine, directory, ctx.settings.pseudonym_key, ctx.calendar, ctx.action_types
        )
    except (CsvImportError, RuntimeError, ValueError) as exc:
        fail(str(exc))
        return
    for r in reports:
        typer.echo(
            f"{r.table:<24} {r.rows:>10,} rows: {r.inserted:,} new, {r.removed:,} removed, "
            f"{r.unchanged:,} unchanged"
        )


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="table to export")],
    out: Annotated[Path, typer.Option(help="CSV file to write")],
) -> None:
    """Export one table as CSV; students appear as pseudonyms (student_id)."""
    from data.csv_io import export_table

    engine = context_or_fail().engine
    try:
        n = export_table(engine, table, out)
    except (RuntimeError, ValueError) as exc:
        fail(str(exc))
        return
    typer.echo(f"wrote {n:,} rows of {table} to {out}")


def _load_training_data(ctx: DeploymentContext) -> tuple[Any, Any, Any]:
    from data.store import ensure_schema, load_raw_tables, read_table

    engine = ctx.engine
    ensure_schema(engine)
    tables = load_raw_tables(engine)
    truth = read_table(engine, "synthetic_truth")
    audit = read_table(engine, "audit_attributes")
    return tables, (truth if len(truth) else None), audit


@app.command("train")
def train_command(
    config_path: Annotated[
        Path | None, typer.Option("--config", help="YAML with experiment parameters")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="folder for the report; default var/runs/<time>")] = None,
    tune: Annotated[
        int | None,
        typer.Option(
            "--tune",
            min=0,
            help="search the LightGBM parameters first with this many trials, on the training years only",
        ),
    ] = None,
    generator_config: Annotated[
        Path | None,
        typer.Option(
            "--generator-config",
            help="the GENERATOR_CONFIG.json `vsv generate` wrote beside a synthetic world (or its folder): "
            "adds the present-knowledge oracle (oracle_present) to the evaluation",
        ),
    ] = None,
) -> None:
    """Train, evaluate beside the oracle and the baselines, log to MLflow and register as challenger."""
    from datetime import UTC, datetime

    from models.registry import open_registry
    from training.config import load_config
    from training.fit import TrainingDataError
    from training.pipeline import train

    ctx = context_or_fail()
    try:
        config = load_config(config_path, None if tune is None else {"tune_trials": tune})
        tables, truth, audit = _load_training_data(ctx)
        present = None
        if generator_config is not None:
            present = _present_oracle(ctx, generator_config, truth, config.horizon)
    except (ValueError, RuntimeError, OSError) as exc:
        fail(str(exc))
    out_dir = out or ctx.runs_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    try:
        open_registry(ctx.registry, config.experiment)
        result = train(
            tables,
            config,
            out_dir,
            truth=truth,
            audit=audit,
            registered_model=ctx.registry.model_name,
            questionnaire=ctx.questionnaire,
            progress=True,
            present_oracle=present,
        )
    except TrainingDataError as exc:
        fail(f"training refused: {exc}")
        return
    typer.echo(result.evaluation.overall.round(4).to_string())
    typer.echo("")
    typer.echo(result.targets.to_string(index=False))
    typer.echo(
        f"\nregistered {ctx.registry.model_name} version {result.version} as challenger "
        f"(run {result.run_id}); report in {out_dir}"
    )


def _present_oracle(ctx: DeploymentContext, path: Path, truth: Any, horizon: int) -> Any:
    """The ``present_oracle`` scorer for :func:`training.pipeline.train` on a stored synthetic world: the
    world's generator configuration, matched to the store's pseudonyms with the import's key, and checked
    against the stored ``synthetic_truth`` (a configuration of another world is refused)."""
    import pandas as pd

    from data.synthetic.present_oracle import load_generator_config, present_oracle_column

    if truth is None:
        raise ValueError("--generator-config needs a synthetic world in the store (no synthetic_truth)")
    world = load_generator_config(path)

    def scorer(rows: pd.DataFrame) -> pd.Series:
        return present_oracle_column(
            rows,
            world,
            horizon,
            pseudonym_key=ctx.settings.pseudonym_key,
            truth=truth,
            questionnaire=ctx.questionnaire,
            action_types=ctx.action_types,
            workers=2,
        )

    return scorer


def _compare_recent_weeks(ctx: DeploymentContext, tables: Any, audit: Any, models: dict[str, Any]) -> None:
    """The monitoring comparison on the latest matured weeks, written under var/reports/."""
    from monitoring.compare import compare_on_recent_weeks, write_comparison
    from monitoring.config import load_config as load_monitoring_config
    from monitoring.weekly import report_dir

    week = ctx.latest_week()
    if week is None:
        raise ValueError("the store holds no weekly data; import data first (`vsv import`)")
    table = compare_on_recent_weeks(tables, models, week, audit, load_monitoring_config(), ctx.questionnaire)
    typer.echo(f"Recent matured weeks up to week {week} (monitoring):")
    typer.echo(table.round(4).to_string())
    out = report_dir(ctx.reports_dir, week, "vergelijking")
    for name, path in write_comparison(table, week, out).items():
        typer.echo(f"comparison {name}: {path}")


@app.command()
def promote(
    by: Annotated[str, typer.Option(help="who promotes (name or role)")],
    reason: Annotated[str, typer.Option(help="why this model should serve")],
    version: Annotated[str | None, typer.Option(help="version to promote; default the challenger")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    config_path: Annotated[Path | None, typer.Option("--config")] = None,
) -> None:
    """Check a version (artefacts intact, compared with the champion on the same test data), then make it
    champion: the same check as the API and the data-team page (training.promote)."""
    from models.registry import CHALLENGER, open_registry, version_for
    from training.config import load_config
    from training.fit import TrainingDataError
    from training.promote import check_candidate, promote_checked

    ctx = context_or_fail()
    open_registry(ctx.registry)
    name = ctx.registry.model_name
    target = version or version_for(name, CHALLENGER)
    if target is None:
        fail(f"there is no challenger of {name}; run `vsv train` first")
        return
    try:
        config = load_config(config_path)
        check = check_candidate(ctx, target, by, reason, config)
    except (ValueError, LookupError, RuntimeError, TrainingDataError) as exc:
        fail(str(exc))
        return
    typer.echo("Test year of the training folds (the same rows for every model):")
    typer.echo(check.comparison.round(4).to_string())
    for note in check.notes:
        typer.echo(note)
    if len(check.models) > 1:
        try:
            tables, _, audit = _load_training_data(ctx)
            _compare_recent_weeks(ctx, tables, audit, check.models)
        except (ValueError, RuntimeError) as exc:  # an extra report: it informs, the check above decides
            typer.echo(f"no comparison on recent weeks: {exc}")
    if not yes and not typer.confirm(f"make version {target} the champion?"):
        fail("not promoted", code=1)
    promotion = promote_checked(ctx.registry, check, by, reason)
    typer.echo(
        f"{name} version {target} is now champion (was {promotion.previous or 'none'}); by {promotion.by}: "
        f"{promotion.reason}"
    )


@app.command("train-table")
def train_table(
    csv: Annotated[Path, typer.Option(help="a plain table with a target column")],
    target: Annotated[str, typer.Option(help="target column")],
    positive: Annotated[list[str], typer.Option(help="label(s) of the positive class; repeat for more")],
    feature: Annotated[
        list[str] | None, typer.Option(help="feature column; repeat; default all others")
    ] = None,
    sep: Annotated[str | None, typer.Option(help="separator; default guessed from the header")] = None,
    folds: Annotated[int, typer.Option(help="stratified cross-validation folds")] = 5,
    seed: int = 0,
    calibration: Annotated[str, typer.Option(help="auto, isotonic or sigmoid")] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
) -> None:
    """Cross-validate the same model family on a plain table (e.g. the UCI dropout data)."""
    from training.tabular import main as tabular_main

    argv = [
        "--csv",
        str(csv),
        "--target",
        target,
        "--positive",
        *positive,
        "--folds",
        str(folds),
        "--seed",
        str(seed),
        "--calibration",
        calibration,
    ]
    argv += ["--features", *feature] if feature else []
    argv += ["--sep", sep] if sep else []
    argv += ["--json", str(json_out)] if json_out else []
    code = tabular_main(argv)
    if code:
        raise typer.Exit(code)


def _register_rooms() -> None:
    from vroegsignaal.effect_commands import register as register_effect
    from vroegsignaal.monitoring_commands import register as register_monitoring
    from vroegsignaal.round_commands import register as register_rounds
    from vroegsignaal.service_commands import register as register_serving

    register_serving(app)
    register_rounds(app)
    register_monitoring(app)
    register_effect(app)


_register_rooms()

if __name__ == "__main__":  # pragma: no cover
    app()
