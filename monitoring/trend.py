"""The status and key figures of every stored weekly report, oldest week first: the trend the monitoring
page draws. Read from the reports' ``summary.json`` files (also those written by earlier versions, whose
missing figures are None)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.status import check_nl, status_nl
from monitoring.weekly import SUMMARY_FILE


@dataclass(frozen=True)
class TrendPoint:
    """One weekly report's status and the figures behind it (None: not measured that week)."""

    week: int
    status: str
    status_nl: str
    alerts: tuple[str, ...]  # the checks that alerted, in Dutch
    judged: bool  # enough matured labels to judge performance
    roc_auc: float | None
    precision_at_k: float | None
    capacity_share: float | None
    observed_rate: float | None
    observed_low: float | None
    observed_high: float | None
    mean_probability: float | None
    calibration_alert: bool
    drifted: int | None
    compared: int | None
    response_rate: float | None
    reference_response_rate: float | None
    response_alert: bool


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _drifted(drift: dict[str, Any]) -> tuple[int | None, int | None]:
    """Drifted model inputs and inputs compared; a report of an earlier version counts what its chart drew
    red (every family but the prediction)."""
    if "drifted_count" in drift:
        return int(drift["drifted_count"]), _int(drift.get("columns_compared"))
    by_family = drift.get("drifted_by_family")
    if isinstance(by_family, dict):
        return sum(int(v) for k, v in by_family.items() if k != "prediction"), None
    return None, None


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def trend_point(summary: dict[str, Any]) -> TrendPoint:
    """The figures of one report's summary."""
    performance = summary.get("performance") or {}
    current = performance.get("current") or {}
    judged = bool(performance.get("judged", False))
    drift = summary.get("drift") or {}
    response = summary.get("response") or {}
    drifted, compared = _drifted(drift)
    status = str(summary.get("status", ""))
    alerts = tuple(check_nl(str(f["check"])) for f in summary.get("findings", []) if f.get("alert"))
    return TrendPoint(
        week=int(summary["week"]),
        status=status,
        status_nl=status_nl(status),
        alerts=alerts,
        judged=judged,
        roc_auc=_number(current.get("roc_auc")) if judged else None,
        precision_at_k=_number(current.get("precision_at_k")) if judged else None,
        capacity_share=_number(performance.get("capacity_share")),
        observed_rate=_number(current.get("observed_rate")) if judged else None,
        observed_low=_number(current.get("observed_low")) if judged else None,
        observed_high=_number(current.get("observed_high")) if judged else None,
        mean_probability=_number(current.get("mean_probability")) if judged else None,
        calibration_alert=bool(performance.get("calibration_alert", False)),
        drifted=drifted,
        compared=compared,
        response_rate=_number(response.get("response_rate")),
        reference_response_rate=_number(response.get("reference_rate")),
        response_alert=bool(response.get("alert", False)),
    )


def load_trend(reports_dir: Path) -> list[TrendPoint]:
    """The champion's weekly reports under ``reports_dir`` (folders named by the week alone), oldest week
    first; unreadable files are skipped."""
    points = []
    for path in reports_dir.glob(f"*/{SUMMARY_FILE}"):
        if not path.parent.name.isdigit():
            continue  # another model's report (``<week>-<alias>``)
        try:
            points.append(trend_point(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(points, key=lambda p: p.week)
