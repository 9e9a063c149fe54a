"""Behaviour of each endpoint: scores, risk lists, actions and overrides, coachklas, explanations, 404/422."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from tests.api.conftest import WEEK, Api, student_of
from training.pipeline import TrainingResult


def _features(api: Api, student: str) -> dict[str, float]:
    body = api.client.get(f"/api/v1/explanations/{student}/{WEEK}", headers=api.headers("auditor")).json()
    features: dict[str, float] = body["feature_values"]
    return features


def test_on_demand_score_matches_the_model(api: Api, trained: TrainingResult) -> None:
    features = _features(api, student_of(api, api.mentor_team))
    response = api.client.post("/api/v1/scores", json={"features": features}, headers=api.headers("datateam"))
    assert response.status_code == 200, response.text
    body = response.json()
    import pandas as pd

    expected = trained.model.score(pd.DataFrame([features]))
    assert body["probability"] == float(expected.probability[0])
    assert body["lower"] <= body["probability"] <= body["upper"]
    assert body["base_value"] + sum(body["shap_values"].values()) == pytest.approx(body["raw_score"])
    assert all(r["text"] for r in body["reasons"])
    assert body["model_version"] == "1"


def test_on_demand_score_422_field_level(api: Api) -> None:
    features = _features(api, student_of(api, api.mentor_team))
    name = next(iter(features))
    missing = {k: v for k, v in features.items() if k != name}
    r = api.client.post("/api/v1/scores", json={"features": missing}, headers=api.headers("datateam"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "features", name]
    wrong = {**features, name: "veel"}
    r = api.client.post("/api/v1/scores", json={"features": wrong}, headers=api.headers("datateam"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:3] == ["body", "features", name]
    extra = {**features, "postcode": 1.0}
    r = api.client.post("/api/v1/scores", json={"features": extra}, headers=api.headers("datateam"))
    assert r.status_code == 422
    r = api.client.post("/api/v1/scores", content=b"{not json", headers=api.headers("datateam"))
    assert r.status_code == 422


def test_stored_score_with_reasons_and_404s(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    r = api.client.get(f"/api/v1/students/{student}/scores/{WEEK}", headers=api.headers("mentor"))
    assert r.status_code == 200
    body = r.json()
    assert body["team"] == api.mentor_team and body["reasons"] and body["model_version"] == "1"
    assert (
        api.client.get(f"/api/v1/students/nobody/scores/{WEEK}", headers=api.headers("admin")).status_code
        == 404
    )
    r = api.client.get(f"/api/v1/students/{student}/scores/{WEEK + 50}", headers=api.headers("admin"))
    assert r.status_code == 404 and "Geen score" in r.json()["detail"]
    r = api.client.get(f"/api/v1/students/{student}/scores/week-twee", headers=api.headers("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "week"]


def test_risk_list_sorted_with_change_flags_and_latest_action(api: Api) -> None:
    team = api.mentor_team
    student = student_of(api, team)
    api.client.post(
        f"/api/v1/students/{student}/actions",
        json={"week": WEEK, "action": "referral_onderwijsmakelaar", "note": "geldzorgen"},
        headers=api.headers("mentor"),
    )
    r = api.client.get(f"/api/v1/risk-lists/{team}/{WEEK}", headers=api.headers("mentor"))
    assert r.status_code == 200
    items = r.json()["students"]
    probabilities = [s["probability"] for s in items]
    assert probabilities == sorted(probabilities, reverse=True)
    assert [s["rank"] for s in items] == list(range(1, len(items) + 1))
    with api.engine.connect() as conn:
        before: dict[str, float] = dict(
            conn.execute(
                text("SELECT student_id, probability FROM scores WHERE week = :w AND team = :t"),
                {"w": WEEK - 1, "t": team},
            ).all()
        )
    for s in items:
        assert {"flag_leerplicht_16u", "flag_4_weeks_absent"} <= set(s)
        if s["student_id"] in before:
            assert s["change"] == pytest.approx(s["probability"] - before[s["student_id"]])
    top = next(s for s in items if s["student_id"] == student)
    assert top["latest_action"]["action"] == "referral_onderwijsmakelaar"
    assert (
        api.client.get(f"/api/v1/risk-lists/{team}/{WEEK + 7}", headers=api.headers("admin")).status_code
        == 404
    )
    assert api.client.get(f"/api/v1/risk-lists/GEEN/{WEEK}", headers=api.headers("admin")).status_code == 404


def test_override_keeps_the_model_score(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    with api.engine.connect() as conn:
        before = conn.execute(
            text("SELECT probability, band FROM scores WHERE student_id = :s AND week = :w"),
            {"s": student, "w": WEEK},
        ).one()
    r = api.client.post(
        f"/api/v1/students/{student}/overrides",
        json={"week": WEEK, "band": "laag", "reason": "tijdelijke ziekte, gaat weer goed"},
        headers=api.headers("mentor"),
    )
    assert r.status_code == 201 and r.json()["model_band"] == before.band
    score = api.client.get(f"/api/v1/students/{student}/scores/{WEEK}", headers=api.headers("mentor")).json()
    assert score["probability"] == before.probability and score["band"] == before.band
    assert score["override"]["band"] == "laag"
    bad = api.client.post(
        f"/api/v1/students/{student}/overrides",
        json={"week": WEEK, "band": "rood", "reason": ""},
        headers=api.headers("mentor"),
    )
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "band"), ("body", "reason")}
    r = api.client.post(
        f"/api/v1/students/{student}/overrides",
        json={"week": WEEK + 9, "band": "hoog", "reason": "zorgen"},
        headers=api.headers("mentor"),
    )
    assert r.status_code == 404
    r = api.client.post(
        f"/api/v1/students/{student}/actions",
        json={"week": WEEK, "action": "bellen"},
        headers=api.headers("mentor"),
    )
    assert r.status_code == 422
    history = api.client.get(f"/api/v1/students/{student}/overrides", headers=api.headers("zorgteam")).json()
    assert any(o["band"] == "laag" for o in history)


def test_coachklas_candidates_and_decisions(api: Api) -> None:
    r = api.client.get(f"/api/v1/coachklas/candidates?week={WEEK}&places=5", headers=api.headers("coachklas"))
    assert r.status_code == 200
    candidates = r.json()["candidates"]
    assert len(candidates) == 5 and all(c["reasons"] for c in candidates)
    assert [c["probability"] for c in candidates] == sorted(
        (c["probability"] for c in candidates), reverse=True
    )
    first = candidates[0]["student_id"]
    d = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": first, "week": WEEK, "decision": "placed", "reason": "hoogste nood, wil zelf"},
        headers=api.headers("coachklas"),
    )
    assert d.status_code == 201 and d.json()["by"] == "test-coachklas"
    again = api.client.get(
        f"/api/v1/coachklas/candidates?week={WEEK}&places=5", headers=api.headers("coachklas")
    )
    assert first not in [c["student_id"] for c in again.json()["candidates"]]
    decisions = api.client.get(
        f"/api/v1/coachklas/decisions?week={WEEK}", headers=api.headers("auditor")
    ).json()
    assert any(x["student_id"] == first and x["decision"] == "placed" for x in decisions)
    bad = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": first, "week": WEEK, "decision": "misschien", "reason": "x"},
        headers=api.headers("coachklas"),
    )
    assert bad.status_code == 422
    unknown = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": "onbekend", "week": WEEK, "decision": "later", "reason": "nog niet"},
        headers=api.headers("coachklas"),
    )
    assert unknown.status_code == 404
    assert (
        api.client.get(
            "/api/v1/coachklas/candidates?week=3&places=5", headers=api.headers("coachklas")
        ).status_code
        == 404
    )
    assert (
        api.client.get(
            f"/api/v1/coachklas/candidates?week={WEEK}&places=0", headers=api.headers("coachklas")
        ).status_code
        == 422
    )


def test_replay_reproduces_stored_scores_exactly(api: Api) -> None:
    with api.engine.connect() as conn:
        students = list(
            conn.execute(
                text("SELECT student_id FROM scores WHERE week = :w ORDER BY probability DESC LIMIT 5"),
                {"w": WEEK},
            ).scalars()
        )
    for student in students:
        r = api.client.get(f"/api/v1/explanations/{student}/{WEEK}/replay", headers=api.headers("auditor"))
        assert r.status_code == 200
        assert r.json() == {
            "student_id": student,
            "week": WEEK,
            "model_version": "1",
            "identical": True,
            "differences": [],
        }


def test_explanation_has_full_inputs_and_additive_shap(api: Api) -> None:
    student = student_of(api, api.other_team)
    body = api.client.get(f"/api/v1/explanations/{student}/{WEEK}", headers=api.headers("auditor")).json()
    assert set(body["feature_values"]) == set(body["shap_values"])
    total = body["base_value"] + float(np.sum(list(body["shap_values"].values())))
    assert total == pytest.approx(body["raw_score"], abs=1e-9)
    assert body["model_version"] == "1"
    assert api.client.get(f"/api/v1/explanations/x/{WEEK}", headers=api.headers("auditor")).status_code == 404
