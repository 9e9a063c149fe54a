"""Shared fixtures: small synthetic data from data.synthetic, and stores on SQLite and PostgreSQL.

PostgreSQL tests run when ``VSV_TEST_POSTGRES_URL`` names a server (``make test`` and CI set it to the
local server); each test gets a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from data.questionnaire import Questionnaire, load_questionnaire
from data.store import make_engine, upgrade
from data.synthetic import GeneratorConfig, generate
from data.synthetic.writer import write_generated
from data.tables import RawTables, from_generated
from training.config import load_config
from training.pipeline import TrainingResult, train

TEST_KEY = "test-pseudonym-key"
POSTGRES_URL = os.environ.get("VSV_TEST_POSTGRES_URL", "")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set"),
        ],
    ),
]
SMALL = GeneratorConfig(seed=11, n_students=150, n_years=1)


@pytest.fixture(scope="session")
def questionnaire() -> Questionnaire:
    return load_questionnaire()


@pytest.fixture(scope="session")
def small_tables() -> dict[str, pd.DataFrame]:
    """A small generated school: 150 students, one year."""
    return generate(SMALL)


@pytest.fixture(scope="session")
def small_csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small school written as CSV exports."""
    out = tmp_path_factory.mktemp("exports") / "school"
    write_generated(SMALL, out)
    return out


def _postgres_engine() -> Iterator[Engine]:
    admin_url = make_url(POSTGRES_URL)
    name = f"vsv_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_store(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store on ``backend``."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'vsv.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
    else:
        for engine in _postgres_engine():
            upgrade(engine)
            yield engine


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store, once on SQLite and once on PostgreSQL."""
    yield from new_store(request.param, tmp_path)


THREE_YEARS = GeneratorConfig(seed=21, n_students=500, n_years=3)


@dataclass(frozen=True)
class School:
    """A small school over three years, as the model sees it (pseudonymised), with truth and audit tables."""

    tables: RawTables
    truth: pd.DataFrame
    audit: pd.DataFrame


@pytest.fixture(scope="session")
def school() -> School:
    raw, rest = from_generated(generate(THREE_YEARS), TEST_KEY)
    return School(raw, rest["synthetic_truth"], rest["audit_attributes"])


@pytest.fixture(scope="session")
def trained(school: School, tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """A model trained on the small school, without MLflow (about 20 s, once per session)."""
    config = load_config(
        overrides={
            "lgbm": {
                "n_estimators": 120,
                "learning_rate": 0.08,
                "num_leaves": 15,
                "min_child_samples": 50,
                "n_jobs": 2,
            }
        }
    )
    return train(
        school.tables,
        config,
        tmp_path_factory.mktemp("run"),
        truth=school.truth,
        audit=school.audit,
        registered_model=None,
    )


@pytest.fixture
def mlflow_registry(tmp_path: Path) -> Iterator[str]:
    """A fresh MLflow tracking store and registry under tmp_path; yields the tracking URI."""
    import mlflow

    from models.registry import configure

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri, tmp_path / "artifacts")
    yield uri
    mlflow.set_tracking_uri("")
