"""The `vsv effect` command: the effect of a measure (coachklas or a mentor's action), registered on the
main Typer app. The method is :mod:`monitoring.effect`.

``--json`` prints one JSON object per measure, one per line (JSON Lines), in the order of the measures;
without it a table per measure, with its warnings, goes to standard output. Progress goes to standard error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vroegsignaal.common import context_or_fail, fail

if TYPE_CHECKING:
    from monitoring.effect import EffectResult


def register(app: typer.Typer) -> None:
    """Add the effect command to ``app``."""
    app.command("effect")(effect)


def effect(
    measure: Annotated[
        str, typer.Option("--measure", help="the measure: coachklas, an action type marked measure, or all")
    ],
    since: Annotated[
        int | None, typer.Option(help="only participants who started in this week or later")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            min=1, max=80, help="weeks after the start in which leaving counts; default the model's"
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="one JSON object per measure, one per line")
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the comparison pool's subsample")] = 0,
) -> None:
    """Estimate the effect of a measure on leaving without a startkwalificatie: participants against
    comparable non-participants at the same week, with a 95% interval, balance and warnings."""
    from data.calendar import DEFAULT_HORIZON
    from data.store import ensure_schema
    from monitoring.effect import check_measures, evaluate_measures, load_effect_tables, load_measure_records

    ctx = context_or_fail()
    try:
        measures = check_measures(measure, ctx.action_types)
    except ValueError as exc:
        fail(str(exc))
    model, version = _champion(ctx)
    if horizon is None:
        horizon = _model_horizon(model) or DEFAULT_HORIZON
    try:
        ensure_schema(ctx.engine)
        tables, truth = load_effect_tables(ctx.engine, ctx.questionnaire)
        if tables.latest_week() is None:
            raise ValueError("the store holds no weekly data yet: import data first (`vsv import`)")
        records = load_measure_records(ctx.engine)
        results = evaluate_measures(
            tables,
            records,
            measures,
            ctx.action_types,
            horizon=horizon,
            since=since,
            model=model,
            model_version=version,
            truth=truth if len(truth) else None,
            questionnaire=ctx.questionnaire,
            seed=seed,
            progress=True,
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
    from monitoring.effect_reports import save_results

    # The latest result per measure, for the page of the data team and auditors (/web/effecten).
    saved = save_results(ctx.reports_dir, [r.to_json() for r in results])
    typer.echo(f"saved for the effect page: {', '.join(str(p) for p in saved)}", err=True)
    for result in results:
        if json_out:
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            _print_result(result)


def _champion(ctx: Any) -> tuple[Any, str | None]:
    """The champion model and its version, or (None, None) when there is none (the evaluation then uses
    the features alone). A champion whose files fail their check stops the command."""
    from models.registry import load, open_registry

    try:
        open_registry(ctx.registry)
        loaded = load(ctx.registry.model_name, alias="champion")
    except LookupError:
        typer.echo("geen champion-model: vergelijking op de kenmerken alleen, zonder risicoscore", err=True)
        return None, None
    except (ValueError, RuntimeError) as exc:
        fail(f"the champion model cannot be used: {exc}")
    return loaded.model, loaded.version


def _model_horizon(model: Any) -> int | None:
    if model is None:
        return None
    value = model.metadata.get("horizon")
    return int(value) if value is not None else None


def _pp(value: float | None) -> str:
    """A probability difference in percentage points."""
    return "-" if value is None else f"{value * 100:+.1f} pp"


def _print_result(result: EffectResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{result.label} ({result.measure}): vsv binnen {result.horizon} weken na de start")
    table.add_column("")
    table.add_column("waarde", justify="right")
    interval = "-" if result.ci_low is None else f"{_pp(result.ci_low)} tot {_pp(result.ci_high)}"
    share = result.matched_share
    rows = [
        ("deelnemers (eerste start in de periode)", f"{result.participants:,}"),
        ("in de vergelijking (horizon voorbij)", f"{result.analysed:,}"),
        (
            "vergeleken (met niet-deelnemers in dezelfde week)",
            f"{result.matched:,}" + (f" ({share:.0%})" if share is not None else ""),
        ),
        ("effect (deelnemers min vergelijkingsgroep)", _pp(result.estimate)),
        ("95%-interval", interval),
        ("naief verschil (deelnemers min alle anderen)", _pp(result.naive_difference)),
        ("echt effect (synthetische data)", _pp(result.true_effect)),
        ("vsv deelnemers / vergelijkingsgroep", _rates(result)),
        (
            "grootste |SMD| na vergelijken",
            "-" if result.max_abs_smd_after() is None else f"{result.max_abs_smd_after():.3f}",
        ),
        ("risico bij de start", result.risk_source),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(result.conclusion)
    for warning in result.warnings:
        console.print(f"[yellow]Let op:[/yellow] {warning}")
    console.print()


def _rates(result: EffectResult) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    return f"{pct(result.vsv_rate_participants)} / {pct(result.vsv_rate_comparison)}"
