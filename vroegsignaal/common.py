"""What every `vsv` command shares: a clear refusal, the settings, and the one deployment context."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError

from data.context import DeploymentContext, build_context
from settings import Settings, get_settings


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` in red on standard error and stop with ``code``."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings_or_fail() -> Settings:
    """The settings, or a one-line refusal (e.g. the development pseudonym key in production)."""
    try:
        return get_settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        fail(f"refusing to start: {messages}")


def context_or_fail() -> DeploymentContext:
    """The deployment context of this command (built once), or a one-line refusal."""
    settings = settings_or_fail()
    try:
        return build_context(settings)
    except ValueError as exc:
        fail(str(exc))
