"""The yearly vsv figures (monitoring.yearly): the national dashboards' definition, per level and team."""

from __future__ import annotations

import pandas as pd

from monitoring.yearly import yearly_rates
from tests.api.conftest import Api, api, api_engine
from tests.web.helpers import page_get

__all__ = ["api", "api_engine"]


def _school() -> tuple[pd.DataFrame, pd.DataFrame]:
    students = pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(12)],
            "start_week": [0] * 10 + [20, 0],
            "level": [2] * 5 + [4] * 5 + [2, 2],
            "team": ["A"] * 5 + ["B"] * 5 + ["A", "A"],
        }
    )
    outcomes = pd.DataFrame(
        {
            "student_id": ["s0", "s5", "s10", "s11", "s1"],
            "week": [10, 30, 25, 2, 45],
            "outcome": ["vsv", "vsv", "vsv", "vsv", "vsv"],
        }
    )
    return students, outcomes


def test_the_rate_counts_leavers_among_those_enrolled_on_the_reference_date() -> None:
    students, outcomes = _school()
    rates = {(r.school_year, r.kind, r.group): r for r in yearly_rates(students, outcomes, latest_week=50)}
    everyone = rates[(0, "all", "alle studenten")]
    # s11 left before the reference week and s10 started after it: neither is counted; s1 left next year.
    assert (everyone.enrolled, everyone.vsv, everyone.complete) == (10, 2, True)
    assert rates[(0, "level", "2")].rate == 1 / 5 and rates[(0, "team", "B")].rate == 1 / 5
    next_year = rates[(1, "all", "alle studenten")]
    assert (next_year.vsv, next_year.complete) == (1, False)
    assert next_year.enrolled == 10 - 2  # the two leavers of year 0 out; s10 left in week 25, s11 in week 2


def test_the_yearly_figures_through_the_api_and_the_monitoring_page(api: Api) -> None:
    rows = api.client.get("/api/v1/monitoring/yearly", headers=api.headers("datateam")).json()
    assert rows and {r["kind"] for r in rows} == {"all", "level", "team"}
    levels = [r for r in rows if r["kind"] == "level"]
    assert all(r["target"] is not None and r["label"].startswith(("entree", "niveau")) for r in levels)
    assert all(0 <= r["vsv"] <= r["enrolled"] for r in rows)
    assert api.client.get("/api/v1/monitoring/yearly", headers=api.headers("mentor")).status_code == 403
    page = page_get(api, "datateam", "/web/monitoring")
    assert "Jaarcijfers voortijdig schoolverlaten" in page.text and 'id="jaarcijfers"' in page.text
