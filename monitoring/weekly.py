"""One weekly monitoring run: drift and data quality, response, matured performance, fairness, list
stability, a status; written as HTML (Evidently's drift report and a summary page) and a JSON summary."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from data.calendar import SchoolCalendar, week_label_or_fallback
from data.questionnaire import Questionnaire
from data.rounds import RoundResponse, total
from data.tables import RawTables
from features import snapshot
from monitoring.config import MonitoringConfig
from monitoring.drift import (
    data_quality,
    detect_drift,
    evidently_report,
    reference_window,
    response_check,
)
from monitoring.fairness import audit_frame, fairness_check, fairness_table
from monitoring.model import MonitoredModel, model_terms, require_reference, score
from monitoring.performance import (
    matured_rows,
    matured_weeks,
    metrics_by_week,
    metrics_of,
    performance_check,
)
from monitoring.report import write_summary_page
from monitoring.result import WeeklyResult
from monitoring.stability import list_stability
from monitoring.status import (
    Status,
    decide,
    drift_findings,
    fairness_finding,
    performance_finding,
    quality_finding,
    response_finding,
    stability_finding,
    status_nl,
)

SUMMARY_FILE = "summary.json"
REPORT_FILE = "rapport.html"
DRIFT_FILE = "drift.html"


def scored_week(
    tables: RawTables, model: MonitoredModel, week: int, questionnaire: Questionnaire
) -> pd.DataFrame:
    """The week's snapshot (with the deployment's questionnaire), scored."""
    return score(model, snapshot(tables, week, questionnaire))


def reference_figures(reference: pd.DataFrame, share: float) -> dict[str, float]:
    """The model card's figures, measured again on the reference rows kept with the model."""
    return metrics_of(reference, share)


def rounds_summary(rounds: Sequence[RoundResponse], week: int) -> dict[str, Any] | None:
    """The questionnaire rounds of ``week`` added up (the numbers of :func:`data.rounds.round_responses`,
    which the mentors' and the data team's pages show too); None when Vroegsignaal asked no round."""
    mine = [r for r in rounds if r.week == week]
    if not mine:
        return None
    added = total(mine, week)
    return {
        "teams": len(mine),
        "links": added.students,
        "sent": added.sent,
        "opened": added.opened,
        "answered": added.answered,
        "reminded": added.reminded,
        "failed": added.failed,
        "rate": added.rate,
    }


def week_labels(calendar: SchoolCalendar | None, weeks: Sequence[int]) -> dict[int, str]:
    """The dated label of each school week ("wk 47, 17-21 nov"), for the report; none without a calendar."""
    if calendar is None:
        return {}
    return {int(w): week_label_or_fallback(calendar, int(w)) for w in weeks}


def monitor_week(
    tables: RawTables,
    model: MonitoredModel,
    week: int,
    audit: pd.DataFrame | None,
    config: MonitoringConfig,
    questionnaire: Questionnaire,
    out_dir: Path | None = None,
    model_label: str = "champion",
    progress: bool = False,
    rounds: Sequence[RoundResponse] = (),
    calendar: SchoolCalendar | None = None,
) -> WeeklyResult:
    """Monitor ``week``: the checks, the status, and (with ``out_dir``) the HTML and JSON reports.

    ``tables`` may hold data after ``week`` (e.g. a test world); only what was known by the end of
    ``week`` is used: features of the week, and labels whose horizon ended by then.
    """
    reference = require_reference(model)
    terms = model_terms(model)
    steps = tqdm(total=6, desc=f"monitoring week {week}", unit="stap", disable=not progress)
    current = scored_week(tables, model, week, questionnaire)
    if current.empty:  # the route answers 404 with this, the command line exits with it
        raise ValueError(f"geen ingeschreven studenten in week {week}: er is niets te bewaken")
    steps.update()
    window = reference_window(reference, week, config.drift)
    drift = detect_drift(current, window, model.features, config, week=week)
    if out_dir is not None:
        drift.evidently = evidently_report(current, window, drift.columns, config.drift)
    quality = data_quality(current, window, model.features, config.data_quality.max_missing_increase)
    response = response_check(current, window, tables.students, config.response)
    response["rounds"] = rounds_summary(rounds, week)
    steps.update()
    weeks = matured_weeks(week, terms.horizon, config)
    rows = matured_rows(tables, model, weeks, week, terms.horizon, questionnaire)
    steps.update()
    ref_figures = reference_figures(reference, terms.capacity_share)
    if len(rows) and rows["vsv"].nunique() == 2:
        level = config.performance.calibration_level
        current_figures = metrics_of(rows, terms.capacity_share, level)
        by_week = metrics_by_week(rows, terms.capacity_share, level)
    else:
        current_figures, by_week = (
            {"positives": float(rows["vsv"].sum()) if len(rows) else 0.0},
            pd.DataFrame(),
        )
    performance = performance_check(current_figures, ref_figures, config.performance)
    performance["capacity_share"] = terms.capacity_share
    fair_table = (
        fairness_table(audit_frame(rows, audit), model.thresholds, config.fairness)
        if len(rows)
        else pd.DataFrame()
    )
    fairness = fairness_check(fair_table, config.fairness)
    steps.update()
    stability = None
    if week > 0:
        previous = scored_week(tables, model, week - 1, questionnaire)
        stability = list_stability(previous, current, terms.capacity_share, config.stability)
    steps.update()
    findings = [
        *drift_findings(drift, response),
        response_finding(response),
        quality_finding(quality),
        performance_finding(performance),
        fairness_finding(fairness),
        stability_finding(stability),
    ]
    status, reasons = decide(findings, config.status)
    result = WeeklyResult(
        week,
        model_label,
        status,
        reasons,
        findings,
        drift,
        quality,
        response,
        performance,
        by_week,
        fairness,
        fair_table,
        stability,
        weeks,
        len(current),
        week_labels=week_labels(calendar, [week, *weeks]),
    )
    if out_dir is not None:
        write_reports(result, out_dir)
    steps.update()
    steps.close()
    return result


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_reports(result: WeeklyResult, out_dir: Path) -> dict[str, str]:
    """Write Evidently's drift HTML, the summary page with its charts, and the JSON summary."""

    out_dir.mkdir(parents=True, exist_ok=True)
    drift_path = out_dir / DRIFT_FILE
    if result.drift.evidently is not None:
        result.drift.evidently.save_html(str(drift_path))
    result.paths = {
        "drift": str(drift_path),
        "report": str(out_dir / REPORT_FILE),
        "summary": str(out_dir / SUMMARY_FILE),
    }
    summary = _clean(result.summary())
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    write_summary_page(result, out_dir / REPORT_FILE)
    return result.paths


@dataclass(frozen=True)
class ReportEntry:
    """One weekly report on disk, for the API to list."""

    week: int
    model: str
    status: Status
    status_nl: str
    created_at: str
    summary: Path
    report: Path
    drift: Path


def list_reports(reports_dir: Path) -> list[ReportEntry]:
    """Every report under ``reports_dir`` (one folder per week and model), newest week first."""
    entries = []
    for path in sorted(reports_dir.glob(f"*/{SUMMARY_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        entries.append(
            ReportEntry(
                week=int(data["week"]),
                model=str(data.get("model", "")),
                status=data["status"],
                status_nl=status_nl(str(data["status"])),
                created_at=str(data.get("created_at", "")),
                summary=path,
                report=path.parent / REPORT_FILE,
                drift=path.parent / DRIFT_FILE,
            )
        )
    return sorted(entries, key=lambda e: (-e.week, e.model))


def report_dir(reports_dir: Path, week: int, alias: str = "champion") -> Path:
    """``<reports>/<week>`` for the champion, ``<reports>/<week>-<alias>`` for another model."""
    return reports_dir / (str(week) if alias == "champion" else f"{week}-{alias}")
