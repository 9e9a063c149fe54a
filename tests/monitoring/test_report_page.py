"""The weekly summary page (rapport.html) from a hand-made WeeklyResult: Dutch status, reasons escaped,
every section with its charts and tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from monitoring.drift import DriftResult
from monitoring.report import write_summary_page
from monitoring.result import WeeklyResult
from monitoring.status import Finding

SCRIPT_REASON = 'verschuiving in <script>alert("x")</script> & meer'
METRICS = ("selection_rate", "false_positive_rate", "false_negative_rate", "precision", "calibration")


def _fairness_table() -> pd.DataFrame:
    rows = []
    for attribute, group, reference, ratio in (
        ("gender", "vrouw", "vrouw", 1.0),
        ("gender", "man", "vrouw", 1.1),
        ("migration_background", "geen", "geen", 1.0),
        ("migration_background", "niet_westers", "geen", 1.6),
    ):
        row: dict[str, object] = {
            "attribute": attribute,
            "group": group,
            "reference_group": reference,
            "n": 1200.0,
            "positives": 40.0,
        }
        for metric in METRICS:
            row[metric] = 0.1 * ratio
            row[f"{metric}_ratio"] = ratio
            row[f"{metric}_flag"] = metric == "false_positive_rate" and ratio > 1.25
        rows.append(row)
    return pd.DataFrame(rows)


def weekly_result(reasons: list[str] | None = None, matured: bool = True) -> WeeklyResult:
    """A small result with every section filled (``matured=False``: no labels yet, no previous week)."""
    reasons = (
        [SCRIPT_REASON, "vragenlijstrespons gedaald: 41% tegen 78% bij training (niveaus: 2)"]
        if (reasons is None)
        else reasons
    )
    columns = pd.DataFrame(
        {
            "column": ["q_stress_latest", "att_rate_4w", "probability", "level"],
            "family": ["answers", "lagging", "prediction", "context"],
            "score": [0.31, 0.12, 0.08, 0.01],
            "noise": [0.15, 0.11, 0.14, 0.09],
            "threshold": [0.1] * 4,
            "drifted": [True, True, False, False],
            "rows": [3000] * 4,
            "reference_rows": [4100] * 4,
        }
    )
    drift = DriftResult(columns, 4100, 3000, permutations=1000)
    by_level = [
        {"group": "2", "students": 600, "response_rate": 0.41, "answered_4w": 0.5, "reference_rate": 0.78},
        {"group": "4", "students": 1400, "response_rate": 0.74, "answered_4w": 0.8, "reference_rate": 0.79},
    ]
    response = {
        "response_rate": 0.62,
        "reference_rate": 0.79,
        "drop": 0.17,
        "alert": True,
        "levels_dropped": ["2"],
        "teams_below_minimum": ["AUTO-2a", "ZORG-3b"],
        "by_level": by_level,
        "by_team": [],
    }
    figures = {"roc_auc": 0.8, "precision_at_k": 0.3, "brier": 0.05, "ece": 0.01, "calibration_ratio": 1.0}
    performance = {
        "judged": matured,
        "alert": False,
        "reasons": [],
        "calibration_level": 0.99,
        "current": {
            **figures,
            "roc_auc": 0.77,
            "positives": 85.0,
            "observed_rate": 0.053,
            "observed_low": 0.041,
            "observed_high": 0.068,
            "mean_probability": 0.047,
        }
        if matured
        else {"positives": 0.0},
        "reference": {**figures, "positives": 400.0},
    }
    by_week = (
        pd.DataFrame(
            {
                "as_of": [81, 82, 83],
                "roc_auc": [0.78, 0.76, 0.77],
                "precision_at_k": [0.31, 0.28, 0.3],
                "mean_probability": [0.04, 0.05, 0.05],
                "observed_rate": [0.05, 0.05, 0.06],
            }
        )
        if matured
        else pd.DataFrame()
    )
    findings = [
        Finding("feature_drift", True, SCRIPT_REASON)
        if reasons
        else Finding("feature_drift", False, "geen verschuiving: alle 3 gegevens blijven binnen hun grens"),
        Finding("response", bool(reasons), reasons[-1] if reasons else "vragenlijstrespons 79%"),
        Finding("performance", False, "prestaties op uitgekomen labels binnen de grenzen"),
    ]
    stability = {"jaccard_top_k": 0.71, "top_k": 300, "band_changes": 120, "band_change_share": 0.04}
    return WeeklyResult(
        week=100,
        model_label="vsv-risk v3 (champion)",
        status="watch" if reasons else "ok",
        reasons=reasons,
        findings=findings,
        drift=drift,
        quality={"alert": False},
        response=response,
        performance=performance,
        performance_by_week=by_week,
        fairness={"alert": True, "alert_flags": [], "flags": []},
        fairness_table=_fairness_table() if matured else pd.DataFrame(),
        stability=stability if matured else None,
        evaluated_weeks=[81, 82, 83] if matured else [],
        scored_students=3000,
    )


def test_the_page_shows_the_status_reasons_tables_and_charts(tmp_path: Path) -> None:
    path = write_summary_page(weekly_result(), tmp_path / "rapport.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<html lang="nl">' in page
    assert "Monitoring schoolweek 100" in page and "Status: in de gaten houden" in page
    assert "vsv-risk v3 (champion)" in page and "3000 studenten gescoord" in page
    assert "vragenlijstrespons gedaald: 41% tegen 78% bij training (niveaus: 2)" in page
    # A reason is text: escaped, never markup.
    assert "<script>" not in page
    assert "verschuiving in &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; meer" in page
    # One chart per section: drift, response, performance, calibration, fairness; embedded, never fetched.
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}" alt="[^"]+">', page)
    assert len(images) == 5
    assert "http://" not in page and "https://" not in page
    # Tables in a horizontal scroll wrapper, in words with a direction where one applies.
    assert page.count('<div class="scroll" role="region" aria-labelledby="tabel-') == 4
    assert "ROC-AUC: zet het model vsv&#39;ers boven de anderen?" in page and "hoger is beter" in page
    assert "lager is beter" in page and "migratieachtergrond" in page and "niet-westers" in page
    assert "aanwezigheid laatste 4 weken" in page  # the feature register's description of att_rate_4w
    assert "Teams met lage respons: AUTO-2a, ZORG-3b" in page
    assert "top 300 met vorige week: 0.71" in page and "120 studenten (4%)" in page
    assert "Peilweken schoolweek 81 tot en met schoolweek 83" in page
    assert "0.770" in page  # current ROC-AUC in the table
    assert "5,3% (99%-interval 4,1%-6,8%)" in page  # the interval the calibration check uses
    # The statuses in the one vocabulary; the drift section says how a column counts, and how many did.
    from monitoring.status import STATUS_NL

    scale = re.search(r'<p class="scale">(.*?)</p>', page, re.S)
    assert scale is not None and all(f"<strong>{w}</strong>" in scale.group(1) for w in STATUS_NL.values())
    assert "Elk gegeven telt mee" in page and "2 van de 3 gegevens zijn verschoven" in page
    assert "Verschuiving in de gegevens" in page and "risk_drift" not in page


def test_a_fairness_flag_is_marked_in_the_table(tmp_path: Path) -> None:
    page = write_summary_page(weekly_result(), tmp_path / "rapport.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td>migratieachtergrond</td><td>niet-westers</td>.*?</tr>", page)
    assert row is not None and "<td>vals-positief</td>" in row.group(0)


def test_an_ok_week_without_labels_says_so(tmp_path: Path) -> None:
    page = write_summary_page(weekly_result([], matured=False), tmp_path / "rapport.html").read_text(
        encoding="utf-8"
    )
    assert "Status: in orde" in page and "Geen enkele controle geeft deze week een signaal." in page
    assert "Nog geen peilweken met uitgekomen labels." in page
    assert "Nog geen uitgekomen labels om groepen te vergelijken." in page
    assert "Geen vorige week om mee te vergelijken." in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2  # drift and response
    assert "drift.html" not in page  # no Evidently report was written next to it


def test_the_drift_report_is_linked_when_it_is_there(tmp_path: Path) -> None:
    (tmp_path / "drift.html").write_text("<html></html>", encoding="utf-8")
    page = write_summary_page(weekly_result(), tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert '<a href="drift.html">drift.html</a>' in page
