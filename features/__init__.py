"""Features: pure functions from the raw tables as of a week to one row per student; labels; the register.

``features`` depends on ``data`` only; it never imports MLflow, FastAPI or SQLAlchemy.
"""

from __future__ import annotations

from features.labels import labels
from features.register import (
    PROTECTED_ATTRIBUTES,
    Feature,
    load_register,
    model_features,
    proxy_check,
    update_register_proxy_results,
)
from features.snapshot import LOOKBACK_WEEKS, snapshot
from features.training_set import build_training_set

__all__ = [
    "LOOKBACK_WEEKS",
    "MODEL_FEATURES",
    "PROTECTED_ATTRIBUTES",
    "Feature",
    "build_training_set",
    "labels",
    "load_register",
    "model_features",
    "proxy_check",
    "snapshot",
    "update_register_proxy_results",
]


def __getattr__(name: str) -> tuple[str, ...]:
    """``MODEL_FEATURES``: the model's input columns for the default questionnaire, read on first use."""
    if name == "MODEL_FEATURES":
        return model_features()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
