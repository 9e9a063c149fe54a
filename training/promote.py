"""Champion and challenger on the same test rows (promotion itself: :func:`models.registry.promote`)."""

from __future__ import annotations

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
