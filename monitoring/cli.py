"""The monitoring commands of `vsv` (monitor), registered on the main Typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""
    app.command("monitor")(monitor)


def monitor(
    week: Annotated[
        int | None, typer.Option(help="school week to monitor; default the latest week with attendance")
    ] = None,
    alias: Annotated[
        str, typer.Option(help="registry alias of the model: champion or challenger")
    ] = "champion",
    config_path: Annotated[
        Path | None, typer.Option("--config", help="YAML with monitoring thresholds")
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="also compare champion and challenger on the same weeks")
    ] = False,
) -> None:
    """Monitor one week: drift, data quality, response, matured performance, fairness, list stability."""
    from data.store import ensure_schema, load_raw_tables, make_engine, read_table
    from models.registry import configure, load
    from monitoring.compare import compare_on_recent_weeks, write_comparison
    from monitoring.config import load_config
    from monitoring.model import MonitoredModel
    from monitoring.weekly import monitor_week, report_dir
    from vroegsignaal.settings import get_settings

    settings = get_settings()
    try:
        config = load_config(config_path)
        configure(settings.resolved_mlflow_uri(), settings.resolved_artifact_root())
        loaded = load(settings.registered_model, alias=alias)
        engine = make_engine(settings.resolved_database_url())
        ensure_schema(engine)
        tables = load_raw_tables(engine, until_week=week)
        if week is None:
            if tables.attendance_weeks.empty:
                raise ValueError("the store has no attendance yet: import data first")
            week = int(tables.attendance_weeks["week"].max())
        audit = read_table(engine, "audit_attributes")
    except (ValueError, LookupError, RuntimeError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    reports = settings.var_dir / "reports"
    label = f"{settings.registered_model} v{loaded.version} ({alias})"
    try:
        result = monitor_week(
            tables, loaded.model, week, audit, config, report_dir(reports, week, alias), label, progress=True
        )
    except ValueError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"week {week}, {label}: {result.status}")
    for reason in result.reasons:
        typer.echo(f"  - {reason}")
    for name, path in result.paths.items():
        typer.echo(f"{name}: {path}")
    if compare:
        models: dict[str, MonitoredModel] = {}
        for other in ("champion", "challenger"):
            try:
                models[other] = load(settings.registered_model, alias=other).model
            except LookupError:
                typer.echo(f"geen {other}: vergelijking zonder dit model")
        table = compare_on_recent_weeks(tables, models, week, audit, config)
        typer.echo(table.round(4).to_string())
        for name, path in write_comparison(table, week, report_dir(reports, week, alias)).items():
            typer.echo(f"vergelijking {name}: {path}")
