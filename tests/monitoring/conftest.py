"""Monitoring fixtures: one model trained on a baseline world (the session's ``trained`` fixture), and
scenario worlds it is monitored on.

The worlds share the trained school's configuration (seed 21, three years; a scenario starts in the first
week of the last year, week 80) but hold 3,000 students instead of 500: at 500 students a week has about
15 vsv'ers, too few to tell a real drop from noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from data.synthetic import GeneratorConfig, generate
from data.tables import RawTables, from_generated
from models.risk_model import RiskModel
from monitoring.config import MonitoringConfig, load_config
from tests.conftest import TEST_KEY, THREE_YEARS
from training.pipeline import TrainingResult

WORLD_STUDENTS = 3000


@dataclass(frozen=True)
class World:
    tables: RawTables
    audit: pd.DataFrame


def make_world(scenario: str, seed: int = THREE_YEARS.seed) -> World:
    config = THREE_YEARS.model_copy(update={"scenario": scenario, "seed": seed, "n_students": WORLD_STUDENTS})
    raw, rest = from_generated(generate(GeneratorConfig.model_validate(config.model_dump())), TEST_KEY)
    return World(raw, rest["audit_attributes"])


@pytest.fixture(scope="session")
def monitoring_config() -> MonitoringConfig:
    return load_config()


@pytest.fixture(scope="session")
def model(trained: TrainingResult) -> RiskModel:
    """The model trained on the baseline school (500 students, seed 21)."""
    return trained.model


@pytest.fixture(scope="session")
def baseline_world() -> World:
    """A baseline world the model has never seen (another seed)."""
    return make_world("baseline", seed=22)


@pytest.fixture(scope="session")
def lockdown_world() -> World:
    return make_world("lockdown")


@pytest.fixture(scope="session")
def hot_labour_world() -> World:
    return make_world("hot_labour_market")


@pytest.fixture(scope="session")
def fatigue_world() -> World:
    return make_world("survey_fatigue")


@dataclass
class ProxyBiasedModel:
    """A planted biased model: the champion's probability, tripled for students of level 1 (entree),
    where a non-western migration background is most frequent (the register's proxy check: level is the
    strongest single-feature proxy). It never sees the audit attribute itself."""

    base: RiskModel
    factor: float = 3.0

    @property
    def features(self) -> tuple[str, ...]:
        return self.base.features

    @property
    def thresholds(self) -> object:
        return self.base.thresholds

    @property
    def reference(self) -> pd.DataFrame | None:
        return self.base.reference

    @property
    def metadata(self) -> dict[str, Any]:
        return self.base.metadata

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        p = self.base.predict_proba(frame)
        boost = np.where(frame["level"].to_numpy(dtype=float) == 1, self.factor, 1.0)
        return np.clip(p * boost, 0.0, 1.0)
