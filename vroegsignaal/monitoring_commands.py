"""The monitoring commands of `vsv` (monitor), registered on the main Typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vroegsignaal.common import context_or_fail, fail


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""
    app.command("monitor")(monitor)


def monitor(
    week: Annotated[
        int | None, typer.Option(help="school week to monitor; default the latest week with data")
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
    from data.rounds import round_responses
    from data.store import ensure_schema, load_raw_tables, read_table
    from models.registry import load, open_registry
    from monitoring.compare import compare_on_recent_weeks, write_comparison
    from monitoring.config import load_config
    from monitoring.model import MonitoredModel
    from monitoring.status import status_nl
    from monitoring.weekly import monitor_week, report_dir

    ctx = context_or_fail()
    name = ctx.registry.model_name
    try:
        config = load_config(config_path)
        open_registry(ctx.registry)
        loaded = load(name, alias=alias)
        ensure_schema(ctx.engine)
        week = week if week is not None else ctx.latest_week()
        if week is None:
            raise ValueError("the store holds no weekly data yet: import data first (`vsv import`)")
        tables = load_raw_tables(ctx.engine, until_week=week)
        audit = read_table(ctx.engine, "audit_attributes")
        with ctx.engine.connect() as conn:
            rounds = round_responses(conn, weeks=[week])
    except (ValueError, LookupError, RuntimeError) as exc:
        fail(str(exc))
    reports = ctx.reports_dir
    label = f"{name} v{loaded.version} ({alias})"
    try:
        result = monitor_week(
            tables,
            loaded.model,
            week,
            audit,
            config,
            ctx.questionnaire,
            report_dir(reports, week, alias),
            label,
            progress=True,
            rounds=rounds,
            calendar=ctx.calendar,
        )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"week {week}, {label}: {status_nl(result.status)} ({result.status})")
    for reason in result.reasons:
        typer.echo(f"  - {reason}")
    for name, path in result.paths.items():
        typer.echo(f"{name}: {path}")
    if compare:
        models: dict[str, MonitoredModel] = {}
        for other in ("champion", "challenger"):
            try:
                models[other] = load(name, alias=other).model
            except LookupError:
                typer.echo(f"geen {other}: vergelijking zonder dit model")
        try:
            table = compare_on_recent_weeks(tables, models, week, audit, config, ctx.questionnaire)
        except ValueError as exc:
            fail(str(exc))
        typer.echo(table.round(4).to_string())
        for name, path in write_comparison(table, week, report_dir(reports, week, alias)).items():
            typer.echo(f"vergelijking {name}: {path}")
