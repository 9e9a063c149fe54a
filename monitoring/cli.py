"""The monitoring commands of `vsv` (monitor), registered on the main Typer app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""
