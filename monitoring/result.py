"""What one weekly monitoring run measured: written by `monitoring.weekly`, shown by `monitoring.report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from data.calendar import fallback_week_label
from monitoring.drift import DriftResult
from monitoring.status import STATUS_NL, Finding, Status


@dataclass
class WeeklyResult:
    """Everything one weekly run measured; ``summary()`` is what the JSON file holds."""

    week: int
    model_label: str
    status: Status
    reasons: list[str]
    findings: list[Finding]
    drift: DriftResult
    quality: dict[str, Any]
    response: dict[str, Any]
    performance: dict[str, Any]
    performance_by_week: pd.DataFrame
    fairness: dict[str, Any]
    fairness_table: pd.DataFrame
    stability: dict[str, Any] | None
    evaluated_weeks: list[int]
    scored_students: int
    paths: dict[str, str] = field(default_factory=dict)
    # The dated label of the week and of the evaluated weeks ("wk 47, 17-21 nov"); empty without a calendar.
    week_labels: dict[int, str] = field(default_factory=dict)

    def week_label(self, week: int | None = None) -> str:
        """How the report names a school week: its dates, else "schoolweek N"."""
        week = self.week if week is None else week
        return self.week_labels.get(week) or fallback_week_label(week)

    def summary(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "week_label": self.week_label(),
            "model": self.model_label,
            "status": self.status,
            "status_nl": STATUS_NL[self.status],
            "reasons": self.reasons,
            "findings": [{"check": f.check, "alert": f.alert, "message": f.message} for f in self.findings],
            "scored_students": self.scored_students,
            "drift": self.drift.summary(),
            "data_quality": self.quality,
            "response": self.response,
            "performance": {
                **self.performance,
                "evaluated_as_of_weeks": self.evaluated_weeks,
                "by_week": self.performance_by_week.to_dict("records"),
            },
            "fairness": {**self.fairness, "table": self.fairness_table.to_dict("records")},
            "stability": self.stability,
            "paths": self.paths,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
