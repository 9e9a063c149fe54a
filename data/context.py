"""One deployment context, built once from the settings and handed to whoever needs it.

It holds what a running Vroegsignaal is bound to: the store (its engine), the questionnaire this college
uses, where the model registry is, where reports and training runs are written, and the one definition
of "the latest week". The command line builds it once per command (:func:`build_context`), the service
once in its lifespan; the weekly job, safeguarding, training and monitoring receive it (or the parts of it
they need) as arguments and never read settings or environment variables themselves.

This module lives in ``data`` because everything in it is data-level: the registry is described by plain
values (:class:`RegistryLocation`) that ``models.registry`` knows how to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from data.action_types import ActionTypes, cached_action_types
from data.calendar import SchoolCalendar, cached_school_calendar
from data.questionnaire import Questionnaire, load_questionnaire
from data.store import latest_week, make_engine
from settings import Settings


@dataclass(frozen=True)
class RegistryLocation:
    """Where the MLflow tracking store and registry are, and the registered model's name."""

    tracking_uri: str
    artifact_root: Path
    model_name: str


@dataclass(frozen=True)
class DeploymentContext:
    """The deployment a command or the service works in. Build it with :func:`build_context`."""

    settings: Settings
    engine: Engine
    questionnaire: Questionnaire
    calendar: SchoolCalendar
    action_types: ActionTypes
    registry: RegistryLocation
    reports_dir: Path
    runs_dir: Path
    owns_engine: bool = field(default=True, compare=False)

    def latest_week(self) -> int | None:
        """The latest school week with attendance or answers in the store (None when it is empty)."""
        return latest_week(self.engine)

    def extra_engine(self) -> Engine:
        """A second engine on the same database with a pool of its own (the service's audit writer and
        token look-ups use it, so that they never wait on the request pool)."""
        return make_engine(
            self.engine.url.render_as_string(hide_password=False),
            pool_size=self.settings.db_pool_size,
            max_overflow=10,
        )

    def close(self) -> None:
        """Release the engine's connections (only an engine this context made itself)."""
        if self.owns_engine:
            self.engine.dispose()


def registry_location(settings: Settings) -> RegistryLocation:
    return RegistryLocation(
        tracking_uri=settings.resolved_mlflow_uri(),
        artifact_root=settings.resolved_artifact_root(),
        model_name=settings.registered_model,
    )


def build_context(
    settings: Settings,
    *,
    engine: Engine | None = None,
    questionnaire: Questionnaire | None = None,
    pool_size: int | None = None,
) -> DeploymentContext:
    """The deployment context of ``settings``. Raises :class:`ValueError` naming the file when the
    configured questionnaire or school calendar cannot be read. ``engine`` and ``questionnaire`` let tests
    inject their own.
    """
    chosen = questionnaire or load_questionnaire(settings.questionnaire_config)
    own = engine is None
    if engine is None:
        engine = make_engine(settings.resolved_database_url(), pool_size=pool_size or 5, max_overflow=10)
    return DeploymentContext(
        settings=settings,
        engine=engine,
        questionnaire=chosen,
        calendar=cached_school_calendar(settings.calendar_config),
        action_types=cached_action_types(settings.action_types_config),
        registry=registry_location(settings),
        reports_dir=settings.var_dir / "reports",
        runs_dir=settings.var_dir / "runs",
        owns_engine=own,
    )
