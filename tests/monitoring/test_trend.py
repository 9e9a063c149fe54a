"""The status trend over the stored weekly reports, and the one vocabulary for statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from data.calendar import load_school_calendar, week_label
from monitoring.status import STATUS_NL
from monitoring.trend import load_trend
from serving.routes.monitoring import TrendOut
from serving.web.monitoring_view import axis_week, trend_charts, trend_rows

ROOT = Path(__file__).resolve().parents[2]


def _summary(week: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "week": week,
        "status": status,
        "findings": [{"check": "feature_drift", "alert": status != "ok", "message": "..."}],
        "performance": {
            "judged": True,
            "calibration_alert": status == "retrain",
            "capacity_share": 0.05,
            "current": {
                "roc_auc": 0.76,
                "precision_at_k": 0.09,
                "observed_rate": 0.02,
                "observed_low": 0.017,
                "observed_high": 0.024,
                "mean_probability": 0.016 if status == "retrain" else 0.02,
            },
        },
        "drift": {"drifted_count": 3 if status != "ok" else 0, "columns_compared": 74},
        "response": {"response_rate": 0.72, "reference_rate": 0.74, "alert": False},
        **extra,
    }


def _write(folder: Path, summary: dict[str, Any]) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_the_trend_reads_every_champion_report_oldest_first(tmp_path: Path) -> None:
    _write(tmp_path / "101", _summary(101, "retrain"))
    _write(tmp_path / "100", _summary(100, "ok"))
    _write(tmp_path / "101-challenger", _summary(101, "ok"))  # another model: not the champion's trend
    # A report of an earlier version: the old check name, drift counted per family, no interval.
    old = {
        "week": 99,
        "status": "watch",
        "status_nl": "opletten",
        "findings": [{"check": "risk_drift", "alert": True, "message": "..."}],
        "performance": {"judged": False, "current": {"positives": 3.0}},
        "drift": {"risk_drift": True, "drifted_by_family": {"lagging": 2, "context": 1, "prediction": 1}},
        "response": {"response_rate": 0.7, "reference_rate": 0.74, "alert": False},
    }
    _write(tmp_path / "99", old)
    (tmp_path / "98").mkdir()
    (tmp_path / "98" / "summary.json").write_text("{not json", encoding="utf-8")
    points = load_trend(tmp_path)
    assert [p.week for p in points] == [99, 100, 101]
    first, _, last = points
    assert first.status_nl == STATUS_NL["watch"]  # the one vocabulary, not the stored "opletten"
    assert first.alerts == ("Verschuiving in de gegevens",)  # a Dutch phrase, not "risk_drift"
    assert first.drifted == 3 and first.roc_auc is None and not first.judged
    assert last.status_nl == "hertrainen aanbevolen" and last.calibration_alert
    assert last.observed_low == 0.017 and last.drifted == 3 and last.compared == 74


def test_the_trend_table_and_charts_speak_dutch_with_dates(tmp_path: Path) -> None:
    for week, status in ((100, "ok"), (101, "watch"), (102, "retrain")):
        _write(tmp_path / str(week), _summary(week, status))
    from dataclasses import asdict

    points = [TrendOut(**asdict(p)) for p in load_trend(tmp_path)]
    calendar = load_school_calendar()
    full = [week_label(calendar, p.week) for p in points]
    charts = trend_charts(points, calendar, full)
    assert len(charts) == 5
    svg = "".join(caption + chart for caption, chart in charts)
    assert all(word in svg for word in STATUS_NL.values())
    assert axis_week(calendar, 100) in svg and full[0] in svg  # calendar weeks and dates, not indexes
    assert "precisie top 5%" in svg and "werkelijk vsv (met interval)" in svg
    assert not re.search(r"\b(ok|watch|retrain|feature_drift|risk_drift)\b", svg)
    rows = trend_rows(points)
    assert [r.week for r in rows] == [102, 101, 100]  # newest first
    assert rows[0].status_nl == "hertrainen aanbevolen" and rows[0].observed == "2,0% (1,7%-2,4%)"
    assert rows[0].predicted == "1,6%" and rows[0].drifted == "3 van 74"
    assert rows[0].alerts == "Verschuiving in de gegevens"


def test_one_vocabulary_for_statuses() -> None:
    """No page, report or template has its own words for a status."""
    sources = [
        *ROOT.joinpath("serving").rglob("*.py"),
        *ROOT.joinpath("serving").rglob("*.html"),
        *ROOT.joinpath("monitoring").rglob("*.py"),
        *ROOT.joinpath("monitoring").rglob("*.html"),
        ROOT / "vroegsignaal" / "monitoring_commands.py",
    ]
    for path in sources:
        text = path.read_text(encoding="utf-8").lower()
        for other in ("opletten", "opnieuw trainen"):
            assert other not in text, f"{path.relative_to(ROOT)} says {other!r}"
    template = (ROOT / "monitoring" / "templates" / "summary.html").read_text(encoding="utf-8")
    assert "hertrainen aanbevolen" not in template and "statuses" in template  # rendered from STATUS_NL
