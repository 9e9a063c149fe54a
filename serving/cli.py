"""The serving commands of `vsv` (serve, score, users, safeguarding), registered on the main Typer app."""

from __future__ import annotations

from typing import Annotated

import typer

from vroegsignaal.settings import get_settings


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def serve(
    host: Annotated[str | None, typer.Option(help="default VSV_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default VSV_PORT (8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="default VSV_WORKERS (1)")] = None,
) -> None:
    """Start the API with uvicorn (the champion model is loaded at start-up)."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"Vroegsignaal API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "serving.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level="info",
    )


def score(
    week: Annotated[
        int | None, typer.Option(help="school week to score; default the latest with data")
    ] = None,
    with_previous: Annotated[
        bool, typer.Option("--with-previous", help="score the week before first (for the change)")
    ] = False,
) -> None:
    """Score, explain and store every enrolled student for a week (re-running replaces the week)."""
    from data.questionnaire import cached_questionnaire
    from data.store import make_engine
    from serving.jobs import NoStudentsError, latest_week, score_week
    from serving.model_state import load_champion

    settings = get_settings()
    try:
        model = load_champion(settings)
    except LookupError as exc:
        _fail(f"no champion model: {exc}; run `vsv train` and `vsv promote` first")
        return
    engine = make_engine(settings.resolved_database_url())
    week = week if week is not None else latest_week(engine)
    if week is None:
        _fail("the store holds no weekly data; import data first (`vsv import`)")
        return
    questionnaire = cached_questionnaire(settings.questionnaire_config)
    for w in (week - 1, week) if with_previous else (week,):
        try:
            result = score_week(engine, model.model, model.version, w, questionnaire)
        except (NoStudentsError, RuntimeError, ValueError) as exc:
            _fail(str(exc))
            return
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items())
        typer.echo(
            f"week {w}: scored {result.students:,} students with model version {result.model_version} "
            f"(replaced {result.replaced:,} earlier rows); {steps}"
        )


users_app = typer.Typer(help="Users and their bearer tokens.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Option(help="unique user name")],
    role: Annotated[str, typer.Option(help="mentor, zorgteam, coachklas, datateam, auditor or admin")],
    team: Annotated[list[str] | None, typer.Option(help="team of a mentor; repeat for more")] = None,
) -> None:
    """Add a user and print the bearer token once (only its hash is stored)."""
    from data.store import make_engine
    from serving.auth import add_user

    engine = make_engine(get_settings().resolved_database_url())
    try:
        token = add_user(engine, name, role, team or [])
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"user {name} ({role}) added. Token (shown once, keep it safe):\n{token}")


@users_app.command("list")
def users_list() -> None:
    """List users with their roles and teams (never tokens)."""
    from data.store import make_engine
    from serving.auth import list_users

    for user in list_users(make_engine(get_settings().resolved_database_url())):
        teams = ",".join(user.teams) or "-"
        typer.echo(f"{user.name:<24} {user.role:<10} {teams:<30} {'active' if user.active else 'inactive'}")


@users_app.command("demo")
def users_demo() -> None:
    """Create one demo user per role (idempotent; not in production) and print their tokens."""
    from data.store import make_engine
    from serving.auth import create_demo_users

    settings = get_settings()
    if settings.environment == "production":
        _fail("demo users are refused in production")
    try:
        users = create_demo_users(make_engine(settings.resolved_database_url()), settings.pseudonym_key)
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo("Demo users (use as `Authorization: Bearer <token>`):")
    for name, role, team, token in users:
        typer.echo(f"  {name:<18} {role.value:<10} {team or '':<16} {token}")


safeguarding_app = typer.Typer(help="Safeguarding alerts.", no_args_is_help=True)


@safeguarding_app.command("scan")
def safeguarding_scan(
    since_week: Annotated[int | None, typer.Option(help="only answers from this week on")] = None,
) -> None:
    """Raise alerts for alarming answers that have none yet (e.g. after `vsv import`)."""
    from data.questionnaire import cached_questionnaire
    from data.store import make_engine
    from serving.safeguarding import raise_alerts

    settings = get_settings()
    with make_engine(settings.resolved_database_url()).begin() as conn:
        raised = raise_alerts(conn, cached_questionnaire(settings.questionnaire_config), since_week)
    typer.echo(f"raised {raised:,} new safeguarding alerts")


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
    app.command("serve")(serve)
    app.command("score")(score)
    app.add_typer(users_app, name="users")
    app.add_typer(safeguarding_app, name="safeguarding")
