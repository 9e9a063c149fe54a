"""API fixtures: a store (SQLite and PostgreSQL) holding the small school and two scored weeks, users of
every role with known tokens, and the app with the trained model injected (lifespan running)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from data.synthetic.writer import store_school
from features import LOOKBACK_WEEKS
from serving.app import create_app
from settings import Settings
from tests.conftest import BACKENDS, School, new_store
from training.pipeline import TrainingResult
from workflows.model_state import ServingModel
from workflows.users import Role, upsert_user
from workflows.weekly_job import score_week

WEEK = 100
VERSION = "1"


@dataclass(frozen=True)
class Api:
    """A running app over a loaded store, with one token per role."""

    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    mentor_team: str
    other_team: str

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def load_school(engine: Engine, school: School, since: int, until: int) -> None:
    """Write the school into the store: weekly tables only for weeks ``since``..``until``."""
    store_school(engine, school.tables, school.audit, since, until)


def api_settings(tmp_path: Path, **extra: object) -> Settings:
    # The API tests send many bad tokens from one client on purpose; tests/security tests the limit.
    extra.setdefault("auth_failures_per_minute", 0)
    return Settings(
        var_dir=tmp_path,
        environment="test",
        load_model_on_startup=False,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'no-mlflow.db'}",
        mlflow_artifact_root=tmp_path / "no-artifacts",
        **extra,  # type: ignore[arg-type]
    )


def registry_settings(tmp_path: Path, uri: str) -> Settings:
    """Settings of an app that loads its champion from the MLflow registry at ``uri``."""
    return Settings(
        var_dir=tmp_path,
        environment="test",
        mlflow_tracking_uri=uri,
        mlflow_artifact_root=tmp_path / "artifacts",
    )


def make_users(engine: Engine, mentor_team: str, other_team: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for role in Role:
        teams = [mentor_team] if role == Role.MENTOR else []
        tokens[role.value] = upsert_user(engine, f"test-{role.value}", role.value, teams, f"tok-{role.value}")
    tokens["mentor2"] = upsert_user(engine, "test-mentor2", "mentor", [other_team], "tok-mentor2")
    return tokens


def busiest_teams(engine: Engine) -> tuple[str, str]:
    """The two teams with the most scored students in WEEK."""
    from sqlalchemy import text

    with engine.connect() as conn:
        teams = conn.execute(
            text("SELECT team FROM scores WHERE week = :w GROUP BY team ORDER BY COUNT(*) DESC, team"),
            {"w": WEEK},
        ).scalars()
        first, second, *_ = list(teams)
    return str(first), str(second)


@pytest.fixture(scope="module", params=BACKENDS)
def api_engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    school: School,
    trained: TrainingResult,
) -> Iterator[Engine]:
    """A store with the school and weeks WEEK-1 and WEEK scored (once per module and backend)."""
    for engine in new_store(request.param, tmp_path_factory.mktemp("api")):
        load_school(engine, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
        for week in (WEEK - 1, WEEK):
            score_week(engine, trained.model, VERSION, week)
        yield engine


@pytest.fixture(scope="module")
def api(
    api_engine: Engine, trained: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    mentor_team, other_team = busiest_teams(api_engine)
    tokens = make_users(api_engine, mentor_team, other_team)
    app = create_app(
        api_settings(tmp_path_factory.mktemp("var")),
        engine=api_engine,
        model=ServingModel(trained.model, VERSION, "run-test"),
    )
    with TestClient(app) as client:
        yield Api(client, api_engine, tokens, mentor_team, other_team)


def student_of(api: Api, team: str, week: int = WEEK) -> str:
    """The highest-risk student of ``team`` in ``week``."""
    from sqlalchemy import text

    with api.engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT student_id FROM scores WHERE team = :t AND week = :w "
                    "ORDER BY probability DESC, student_id LIMIT 1"
                ),
                {"t": team, "w": week},
            ).scalar_one()
        )
