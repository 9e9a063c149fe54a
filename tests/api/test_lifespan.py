"""Lifespan: the champion is loaded from the MLflow registry at start-up; 503 while there is none; health,
readiness and model cards."""

from __future__ import annotations

from pathlib import Path

import mlflow
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from models.registry import CHAMPION, log_risk_model, set_alias
from serving.app import create_app
from settings import Settings
from tests.api.conftest import make_users, registry_settings
from tests.conftest import School
from training.pipeline import TrainingResult


def _users(store: Engine, school: School) -> dict[str, str]:
    from tests.api.conftest import load_school

    load_school(store, school, 0, 0)
    teams = sorted(set(school.tables.students["team"]))
    return make_users(store, teams[0], teams[1])


def test_503_while_no_model_then_loaded_after_promotion(
    store: Engine, school: School, trained: TrainingResult, mlflow_registry: str, tmp_path: Path
) -> None:
    _users(store, school)
    settings = registry_settings(tmp_path, mlflow_registry)
    datateam = {"Authorization": "Bearer tok-datateam"}
    with TestClient(create_app(settings, engine=store)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 503 and not ready.json()["model_loaded"]
        r = client.post("/api/v1/scores", json={"features": {"a": 1.0}}, headers=datateam)
        assert r.status_code == 503 and "geen model" in r.json()["detail"]
        assert client.post("/api/v1/jobs/score-week", json={"week": 1}, headers=datateam).status_code == 503
        assert client.post("/api/v1/models/reload", headers=datateam).status_code == 503

        card = tmp_path / "model_card.md"
        card.write_text("# Model card: test\n", encoding="utf-8")
        with mlflow.start_run():
            mlflow.log_artifact(str(card), artifact_path="report")
            version = log_risk_model(trained.model, settings.registered_model)
        set_alias(settings.registered_model, CHAMPION, version)

        reloaded = client.post("/api/v1/models/reload", headers=datateam)
        assert reloaded.status_code == 200 and reloaded.json()["version"] == version
        assert client.get("/ready").status_code == 200
        auditor = {"Authorization": "Bearer tok-auditor"}
        r = client.get(f"/api/v1/models/{version}/card", headers=auditor)
        assert r.status_code == 200 and r.json()["markdown"].startswith("# Model card")
        assert client.get("/api/v1/models/99/card", headers=auditor).status_code == 404
        assert client.get("/api/v1/models/abc/card", headers=auditor).status_code == 404
        assert (
            client.get(
                f"/api/v1/models/{version}/card", headers={"Authorization": "Bearer tok-mentor"}
            ).status_code
            == 403
        )

    # a fresh start loads the champion in lifespan
    with TestClient(create_app(settings, engine=store)) as client:
        ready = client.get("/ready").json()
        assert ready["ready"] and ready["model_version"] == version


def test_openapi_documents_every_route(store: Engine, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, environment="test", load_model_on_startup=False)
    with TestClient(create_app(settings, engine=store)) as client:
        spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert operation.get("summary"), path
            assert "200" in operation["responses"] or "201" in operation["responses"], path
