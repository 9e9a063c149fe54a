"""Champion and challenger on the same recent matured weeks: the comparison `vsv promote` can show.

Builds on :mod:`training.promote`: the same metric columns (``COMPARED``) from the same
:func:`models.evaluation.overall_metrics`, but on the latest as-of weeks whose labels have matured
instead of the training test fold, plus calibration and fairness alerts per model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from data.questionnaire import Questionnaire
from data.tables import RawTables
from models.evaluation import COMPARED, LABEL, overall_metrics
from monitoring.config import MonitoringConfig
from monitoring.fairness import audit_frame, fairness_check, fairness_table
from monitoring.model import MonitoredModel, score, shared_terms
from monitoring.performance import calibration_ratio, closed_rows, label_kind, matured_weeks

COMPARE_FILE = "vergelijking.json"
COMPARE_HTML = "vergelijking.html"


def compare_on_recent_weeks(
    tables: RawTables,
    models: dict[str, MonitoredModel],
    week: int,
    audit: pd.DataFrame | None,
    config: MonitoringConfig,
    questionnaire: Questionnaire,
) -> pd.DataFrame:
    """One row per model: rows, vsv rows, the promotion metrics, calibration ratio and fairness alerts,
    on the matured as-of weeks of ``week`` (the same rows for every model, labelled as the models were
    trained: their label kinds must agree)."""
    terms = shared_terms(models.values())
    kinds = {label_kind(model) for model in models.values()}
    if len(kinds) != 1:
        raise ValueError(f"the models were trained for different labels: {sorted(kinds)}")
    weeks = matured_weeks(week, terms.horizon, config)
    if not weeks:
        raise ValueError(f"week {week} has no as-of weeks whose {terms.horizon}-week horizon has passed")
    rows = closed_rows(tables, weeks, week, terms.horizon, kinds.pop(), questionnaire)
    table = pd.DataFrame()
    extra: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        scored = score(model, rows)
        rows[name] = scored["probability"]
        fairness = fairness_check(
            fairness_table(audit_frame(scored, audit), model.thresholds, config.fairness),
            config.fairness,
        )
        extra[name] = {
            "calibration_ratio": calibration_ratio(scored[LABEL], scored["probability"]),
            "fairness_alerts": len(fairness["alert_flags"]),
            "fairness_flags": len(fairness["flags"]),
        }
    table = overall_metrics(rows, list(models), terms.capacity_share)[["n", "positives", *COMPARED]]
    out = table.join(pd.DataFrame(extra).T)
    out.attrs["as_of_weeks"] = weeks
    return out


def write_comparison(table: pd.DataFrame, week: int, out_dir: Path) -> dict[str, str]:
    """The comparison as JSON and as a small HTML page (Dutch headings)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weeks = table.attrs.get("as_of_weeks", [])
    data = {"week": week, "as_of_weeks": weeks, "models": json.loads(table.to_json(orient="index"))}
    (out_dir / COMPARE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")
    span = f"{weeks[0]}-{weeks[-1]}" if weeks else "-"
    page = (
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>Vergelijking</title></head><body>"
        f"<h1>Champion en challenger, week {week}</h1>"
        f"<p>Dezelfde peilweken met uitgekomen labels: {span}."
        "</p>" + table.to_html(float_format=lambda v: f"{v:.4f}", border=0) + "</body></html>"
    )
    (out_dir / COMPARE_HTML).write_text(page, encoding="utf-8")
    return {"json": str(out_dir / COMPARE_FILE), "html": str(out_dir / COMPARE_HTML)}
