"""The serving commands of `vsv` (serve, score, users), registered on the main Typer app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
