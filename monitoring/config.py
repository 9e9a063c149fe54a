"""Monitoring thresholds: ``monitoring/config.yaml`` read into a frozen pydantic model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")
Check = Literal[
    "feature_drift", "prediction_drift", "response", "fairness", "stability", "data_quality", "performance"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Frozen):
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"low": value[0], "high": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low >= self.high:
            raise ValueError(f"range [{self.low}, {self.high}] is empty")
        return self

    def outside(self, value: float) -> bool:
        return value < self.low or value > self.high


class DriftConfig(_Frozen):
    method: Literal["wasserstein"] = "wasserstein"
    threshold: float = Field(default=0.1, gt=0)
    false_alarm_rate: float = Field(default=0.05, gt=0, lt=0.5)
    permutations: int = Field(default=1000, ge=100, le=10_000)
    seed: int = 0
    reference_window: int = Field(default=1, ge=0, le=40)
    min_reference_rows: int = Field(default=400, ge=10)
    max_season_gap: int = Field(default=2, ge=0, le=40)
    sample_rows: int | None = Field(default=10_000, ge=100)


class ResponseConfig(_Frozen):
    max_drop: float = Field(default=0.15, gt=0, lt=1)
    min_rate: float = Field(default=0.5, ge=0, le=1)
    min_team_size: int = Field(default=10, ge=1)


class PerformanceConfig(_Frozen):
    weeks: int = Field(default=8, ge=1, le=40)
    min_positives: int = Field(default=20, ge=1)
    max_auc_drop: float = Field(default=0.05, gt=0)
    max_precision_drop_relative: float = Field(default=0.35, gt=0, lt=1)
    max_brier_ratio: float = Field(default=1.5, gt=1)
    calibration_level: float = Field(default=0.99, gt=0.5, lt=1)
    min_z: float = Field(default=2.0, ge=0)


class FairnessConfig(_Frozen):
    ratio_range: Range = Range(low=0.8, high=1.25)
    min_group_rows: int = Field(default=200, ge=1)
    min_group_positives: int = Field(default=10, ge=1)
    alert_attributes: tuple[str, ...] = ("gender", "migration_background")
    alert_metrics: tuple[str, ...] = ("false_positive_rate", "false_negative_rate", "calibration")
    reference_groups: dict[str, str] = Field(default_factory=dict)
    min_z: float = Field(default=2.0, ge=0)


class DataQualityConfig(_Frozen):
    max_missing_increase: float = Field(default=0.15, gt=0, lt=1)


class StabilityConfig(_Frozen):
    min_jaccard: float = Field(default=0.3, ge=0, le=1)
    max_band_change_share: float = Field(default=0.25, ge=0, le=1)


class StatusConfig(_Frozen):
    watch_on: tuple[Check, ...] = (
        "feature_drift",
        "prediction_drift",
        "response",
        "fairness",
        "stability",
        "data_quality",
    )
    retrain_on: tuple[Check, ...] = ("performance",)


class MonitoringConfig(_Frozen):
    """All thresholds of one weekly monitoring run."""

    drift: DriftConfig = DriftConfig()
    response: ResponseConfig = ResponseConfig()
    performance: PerformanceConfig = PerformanceConfig()
    fairness: FairnessConfig = FairnessConfig()
    data_quality: DataQualityConfig = DataQualityConfig()
    stability: StabilityConfig = StabilityConfig()
    status: StatusConfig = StatusConfig()


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> MonitoringConfig:
    """Read the YAML file (default: the shipped one), apply ``overrides``, validate.

    Raises :class:`ValueError` naming the file on unreadable YAML or values out of range.
    """
    source = path or DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read monitoring configuration {source}: {exc}") from exc
    try:
        return MonitoringConfig.model_validate(_merge(raw, overrides or {}))
    except ValidationError as exc:
        raise ValueError(f"monitoring configuration {source} is not valid:\n{exc}") from exc
