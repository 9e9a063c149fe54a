"""Experiment parameters from one YAML file, read into a frozen model and passed as arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.calendar import DEFAULT_HORIZON
from features.labels import DEFAULT_LABEL, LabelKind

DEFAULT_CONFIG_PATH = Path(__file__).with_name("config.yaml")


class TrainingConfig(BaseModel):
    """Everything a training run is parameterised by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The label window (features.labels): "horizon" = vsv in the ``horizon`` school weeks after the as-of
    # week; "programme_end" = vsv before the student's expected end of the programme.
    label: LabelKind = DEFAULT_LABEL
    horizon: int = Field(default=DEFAULT_HORIZON, ge=1, le=40)
    first_week_in_year: int = Field(default=2, ge=1, le=40)
    as_of_step: int = Field(default=1, ge=1, le=20)
    capacity_share: float = Field(default=0.05, gt=0, lt=0.5)
    elevated_share: float = Field(default=0.20, gt=0, lt=1)
    report_weeks: tuple[int, ...] = (2, 6, 10, 20)
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    seed: int = 0
    min_positive_rows: int = Field(default=30, ge=1)
    experiment: str = "vsv"
    lgbm: dict[str, Any] = Field(default_factory=dict)
    # Monotone constraints from the feature register (``monotone``) on the risk model.
    monotone_constraints: bool = True
    # Hyperparameter search before the fit (training.tune): 0 = train with ``lgbm`` as written.
    tune_trials: int = Field(default=0, ge=0, le=1000)
    tune_timeout_s: float | None = Field(default=None, gt=0)
    logistic: dict[str, Any] = Field(default_factory=lambda: {"C": 0.1})
    # Where the training set is built and the booster fitted (training.dask_engine): "pandas" in this
    # process (the default, for a single college), or "dask": partitions of as-of weeks and LightGBM's
    # Dask estimator, on the scheduler at ``dask_scheduler`` (e.g. "tcp://10.0.0.5:8786") or, without one,
    # on a LocalCluster of ``dask_workers`` processes bound to 127.0.0.1.
    engine: Literal["pandas", "dask"] = "pandas"
    # A last school year with fewer weeks of data than a whole year (training.fit.temporal_folds): refuse
    # to train (the default: the message says how many weeks are missing), test on the weeks there are, or
    # leave them out of every fold (the model card says so). Never dropped without a word.
    incomplete_year: Literal["refuse", "test", "leave_out"] = "refuse"
    dask_scheduler: str | None = None
    dask_workers: int = Field(default=2, ge=1, le=64)
    dask_threads_per_worker: int = Field(default=1, ge=1, le=64)
    # Per LocalCluster worker process (Dask's spill/pause/kill thresholds); with one worker, which runs in
    # this process, no limit is set (it would be measured on the driver's own memory).
    dask_memory_limit: str = "4GiB"
    dask_weeks_per_partition: int = Field(default=1, ge=1, le=40)
    # LightGBM's own network between Dask workers: how long a worker waits for the others to connect before
    # the fit fails (LightGBM's default is 120 minutes, so a lost or refused connection looked like a hang).
    dask_network_timeout_minutes: int = Field(default=5, ge=1, le=240)
    # The logistic baseline is fitted in memory: on the Dask engine on a sample of the training fold.
    dask_logistic_rows: int = Field(default=500_000, ge=1000)

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        if self.elevated_share <= self.capacity_share:
            raise ValueError("elevated_share must be larger than capacity_share")
        if self.engine == "dask" and self.tune_trials > 0:
            raise ValueError("tune_trials needs engine: pandas (the search runs in memory)")
        if self.label == "programme_end" and self.engine == "dask":
            raise ValueError(
                "label: programme_end needs engine: pandas (the Dask engine builds horizon labels)"
            )
        if self.label == "programme_end" and self.tune_trials > 0:
            raise ValueError(
                "label: programme_end needs tune_trials: 0 (the search's time folds close horizon "
                "windows only)"
            )
        return self


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainingConfig:
    """Read the YAML file (default: training/config.yaml); errors name the file and the field."""
    source = path or DEFAULT_CONFIG_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read training configuration {source}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"training configuration {source} must be a mapping")
    try:
        return TrainingConfig.model_validate({**raw, **(overrides or {})})
    except ValidationError as exc:
        raise ValueError(f"invalid training configuration {source}:\n{exc}") from exc
