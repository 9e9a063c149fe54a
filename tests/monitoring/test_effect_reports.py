"""The effect page reads the latest saved `vsv effect` result per measure (monitoring.effect_reports)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitoring.effect_reports import load_results, save_results
from tests.api.conftest import Api, api, api_engine
from tests.web.helpers import page_get

__all__ = ["api", "api_engine"]


def _result(measure: str, label: str) -> dict[str, Any]:
    return {
        "measure": measure,
        "label": label,
        "horizon": 12,
        "participants": 150,
        "analysed": 140,
        "matched": 120,
        "matched_share": 120 / 140,
        "estimate": -0.031,
        "ci_low": -0.055,
        "ci_high": -0.007,
        "naive_difference": 0.042,
        "true_effect": -0.028,
        "vsv_rate_participants": 0.08,
        "vsv_rate_comparison": 0.111,
        "vsv_rate_non_participants": 0.038,
        "risk_source": "risicoscore van het model (versie 1) en de kenmerken",
        "balance": [{"description": "Aanwezigheid, laatste 4 weken", "smd_before": -0.9, "smd_after": 0.04}],
        "description": {"levels": [{"code": "2", "label": "niveau 2", "n": 60}], "before_after": []},
        "warnings": ["Minder dan 200 deelnemers: de schatting is onzeker."],
        "conclusion": "Deelnemers vertrokken minder vaak dan vergelijkbare studenten.",
        "method": "Dubbel robuust.",
        "assumptions": "Geen verborgen verschillen.",
    }


def test_results_are_saved_whole_and_read_coachklas_first(tmp_path: Path) -> None:
    written = save_results(
        tmp_path,
        [_result("conversation", "Gesprek met student"), _result("coachklas", "Coachklas")],
        now=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    )
    assert [p.name for p in written] == ["conversation.json", "coachklas.json"]
    assert not list(tmp_path.rglob("*.tmp"))
    loaded = load_results(tmp_path)
    assert [r["measure"] for r in loaded] == ["coachklas", "conversation"]
    assert loaded[0]["created_at"] == "2026-12-02T09:00:00+00:00" and loaded[0]["estimate"] == -0.031
    (tmp_path / "effects" / "broken.json").write_text("{not json", encoding="utf-8")
    assert len(load_results(tmp_path)) == 2
    with pytest.raises(ValueError, match="measure"):
        save_results(tmp_path, [_result("../etc", "x")])


def test_the_effect_page_shows_the_estimate_its_interval_and_the_warnings(api: Api) -> None:
    empty = page_get(api, "auditor", "/web/effecten")
    assert empty.status_code == 200
    reports = Path(api.client.app.state.context.reports_dir)  # type: ignore[attr-defined]
    save_results(reports, [_result("coachklas", "Coachklas")])
    page = page_get(api, "auditor", "/web/effecten").text
    assert "-3,1 procentpunt" in page and "-5,5 procentpunt tot -0,7 procentpunt" in page
    assert "Let op: Minder dan 200 deelnemers" in page and "<svg" in page
    rows = api.client.get("/api/v1/monitoring/effects", headers=api.headers("datateam")).json()
    assert [r["measure"] for r in rows] == ["coachklas"]
    assert api.client.get("/api/v1/monitoring/effects", headers=api.headers("mentor")).status_code == 403
    assert page_get(api, "mentor", "/web/effecten").status_code == 403
