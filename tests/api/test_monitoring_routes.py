"""Monitoring over the API: the data team runs a week, auditors list and open the reports."""

from __future__ import annotations

from tests.api.conftest import WEEK, Api


def test_run_list_and_open_a_weekly_report(api: Api) -> None:
    refused = api.client.post(f"/api/v1/monitoring/run?week={WEEK}", headers=api.headers("mentor"))
    assert refused.status_code == 403
    run = api.client.post(f"/api/v1/monitoring/run?week={WEEK}", headers=api.headers("datateam"))
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["week"] == WEEK and body["status"] in {"ok", "watch", "retrain"}
    listed = api.client.get("/api/v1/monitoring/reports", headers=api.headers("auditor"))
    assert listed.status_code == 200
    assert any(r["week"] == WEEK for r in listed.json())
    page = api.client.get(body["report_url"], headers=api.headers("auditor"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    summary = api.client.get(body["summary_url"], headers=api.headers("datateam"))
    assert summary.status_code == 200 and summary.json()["week"] == WEEK
    assert api.client.get("/api/v1/monitoring/reports", headers=api.headers("mentor")).status_code == 403
    assert api.client.get("/api/v1/monitoring/reports").status_code == 401


def test_report_files_outside_the_reports_folder_cannot_be_opened(api: Api) -> None:
    for folder, name in (("..", "summary.json"), (str(WEEK), "../../vsv.db"), (str(WEEK), "model.pkl")):
        r = api.client.get(f"/api/v1/monitoring/reports/{folder}/{name}", headers=api.headers("auditor"))
        assert r.status_code == 404, (folder, name)


def test_a_week_without_data_is_a_404_not_a_crash(api: Api) -> None:
    r = api.client.post("/api/v1/monitoring/run?week=9999", headers=api.headers("datateam"))
    assert r.status_code == 404 and "geen gegevens" in r.json()["detail"]


def test_a_week_without_students_is_a_clear_404_not_a_crash(api: Api) -> None:
    """The fuzz test found it: week 0 of a store whose students all start later has nobody enrolled."""
    r = api.client.post("/api/v1/monitoring/run?week=-400", headers=api.headers("datateam"))
    assert r.status_code == 404, r.text
    assert "geen ingeschreven studenten in week -400" in r.json()["detail"]
