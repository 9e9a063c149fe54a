"""Champion and challenger on the same test rows, and promotion with who and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from models.evaluation import COMPARED, overall_metrics
from models.risk_model import RiskModel
from training.config import TrainingConfig
from training.pipeline import Prepared


def compare_models(prepared: Prepared, models: dict[str, RiskModel], config: TrainingConfig) -> pd.DataFrame:
    """Metrics of each model on the same test fold (rows: models, columns: metrics)."""
    scored = prepared.test.copy()
    for name, model in models.items():
        scored[name] = model.predict_proba(scored)
    return overall_metrics(scored, list(models), config.capacity_share)[["n", "positives", *COMPARED]]


@dataclass(frozen=True)
class Promotion:
    version: str
    previous: str | None
    by: str
    reason: str
    at: str


def promotion_tags(version: str, previous: str | None, by: str, reason: str) -> Promotion:
    """Validate who and why; a promotion without both is refused."""
    if not by.strip():
        raise ValueError("say who promotes the model (--by)")
    if len(reason.strip()) < 5:
        raise ValueError("give a reason for the promotion (--reason, at least 5 characters)")
    return Promotion(
        version, previous, by.strip(), reason.strip(), datetime.now(UTC).isoformat(timespec="seconds")
    )
