"""The service and the model supply chain: a missing or broken champion leaves the service running with a
503 that says why, and a promotion through the API (which the data-team page calls) runs the same check as
`vsv promote` (training.promote)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from models.registry import ARTEFACT_DIGEST_TAG, CHAMPION, load, set_alias, version_for
from serving.app import create_app
from serving.deps import NO_MODEL
from tests.api.conftest import load_school, make_users, registry_settings
from tests.conftest import School, new_store
from tests.model.test_supply_chain import RISK_MODEL_FILE, plant_payload, register, reseal, stored_model_dir
from training.pipeline import TrainingResult

DATATEAM = {"Authorization": "Bearer tok-datateam"}
REASON = {"reason": "beter op het testjaar"}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Engine]:
    """Loading the model does not depend on the store's backend: SQLite only."""
    yield from new_store("sqlite", tmp_path)


def _users(store: Engine, school: School) -> None:
    teams = sorted(set(school.tables.students["team"]))
    make_users(store, teams[0], teams[1])


def _damage(how: str, name: str, version: str, marker: Path) -> str:
    """Break the stored champion in one way; returns a word the 503 message must contain."""
    folder = stored_model_dir(name, version)
    if how == "tampered":
        plant_payload(name, version, marker)
        return "risk_model.pkl"
    if how == "file deleted":
        (folder / RISK_MODEL_FILE).unlink()
        return "ontbreekt"
    if how == "folder deleted":
        shutil.rmtree(folder)
        return "artefacten ontbreken"
    if how == "no digest":
        from mlflow import MlflowClient

        MlflowClient().delete_model_version_tag(name, version, ARTEFACT_DIGEST_TAG)
        return "SHA-256"
    (folder / RISK_MODEL_FILE).write_bytes(b"not a pickle")  # broken, but with a matching digest
    reseal(name, version)
    return "niet laden"


@pytest.mark.parametrize("how", ["tampered", "file deleted", "folder deleted", "no digest", "broken pickle"])
def test_a_broken_champion_leaves_the_service_running_with_a_503_that_says_why(
    sqlite_store: Engine,
    school: School,
    trained: TrainingResult,
    mlflow_registry: str,
    tmp_path: Path,
    how: str,
) -> None:
    load_school(sqlite_store, school, 0, 0)
    _users(sqlite_store, school)
    settings = registry_settings(tmp_path, mlflow_registry)
    version = register(trained, settings.registered_model)
    set_alias(settings.registered_model, CHAMPION, version)
    marker = tmp_path / "unpickled"
    word = _damage(how, settings.registered_model, version, marker)
    with TestClient(create_app(settings, engine=sqlite_store)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 503 and not ready.json()["model_loaded"]
        (problem,) = [p for p in ready.json()["problems"] if p.startswith("geen model geladen")]
        assert f"ersie {version}" in problem and word in problem, problem
        scores = client.post("/api/v1/scores", json={"features": {"a": 1.0}}, headers=DATATEAM)
        assert scores.status_code == 503 and scores.json()["detail"].startswith(NO_MODEL)
        current = client.get("/api/v1/models/current", headers=DATATEAM)
        assert current.status_code == 503 and word in current.json()["detail"], current.text
        reload = client.post("/api/v1/models/reload", headers=DATATEAM)
        assert reload.status_code == 503 and word in reload.json()["detail"]
    assert not marker.exists(), "the tampered pickle was loaded"


def test_an_unreadable_registry_does_not_stop_the_service(sqlite_store: Engine, tmp_path: Path) -> None:
    broken = tmp_path / "mlflow.db"
    broken.write_text("this is no database", encoding="utf-8")
    settings = registry_settings(tmp_path, f"sqlite:///{broken}")
    with TestClient(create_app(settings, engine=sqlite_store)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and any(
            p.startswith("geen model geladen: ") for p in ready.json()["problems"]
        )


def _refused_promotions(store: Engine) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE action = 'promote_model' AND allowed = :f"),
                {"f": False},
            ).scalar_one()
        )


def test_the_api_promotes_only_through_the_check_of_vsv_promote(
    store: Engine, school: School, trained: TrainingResult, mlflow_registry: str, tmp_path: Path
) -> None:
    load_school(store, school, 0, 10_000)  # every week: the test year the candidate is compared on
    _users(store, school)
    settings = registry_settings(tmp_path, mlflow_registry)
    name = settings.registered_model
    first = register(trained, name)
    set_alias(name, CHAMPION, first)
    tampered = register(trained, name)
    marker = tmp_path / "unpickled"
    plant_payload(name, tampered, marker)
    with TestClient(create_app(settings, engine=store)) as client:
        refused = client.post(f"/api/v1/models/{tampered}/promote", json=REASON, headers=DATATEAM)
        assert refused.status_code == 409, refused.text
        assert (
            f"Versie {tampered}" in refused.json()["detail"] and "risk_model.pkl" in refused.json()["detail"]
        )
        assert version_for(name, CHAMPION) == first and _refused_promotions(store) == 1
        assert not marker.exists()

        good = register(trained, name)
        done = client.post(f"/api/v1/models/{good}/promote", json=REASON, headers=DATATEAM)
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["version"] == good and body["previous"] == first and body["by"] == "test-datateam"
        assert set(body["comparison"]) == {f"v{good} (kandidaat)", f"v{first} (champion)"}
        assert 0.5 < body["comparison"][f"v{good} (kandidaat)"]["roc_auc"] <= 1
        assert version_for(name, CHAMPION) == good
        assert "roc_auc" in load(name, alias=CHAMPION).tags["promotion_comparison"]
        assert client.get("/api/v1/models/current", headers=DATATEAM).json()["version"] == good


def test_promotion_is_refused_without_a_test_year_to_compare_on(
    store: Engine, school: School, trained: TrainingResult, mlflow_registry: str, tmp_path: Path
) -> None:
    load_school(store, school, 0, 0)
    _users(store, school)
    settings = registry_settings(tmp_path, mlflow_registry)
    version = register(trained, settings.registered_model)
    with TestClient(create_app(settings, engine=store)) as client:
        refused = client.post(f"/api/v1/models/{version}/promote", json=REASON, headers=DATATEAM)
    assert refused.status_code == 409 and "testjaar" in refused.json()["detail"], refused.text
    assert version_for(settings.registered_model, CHAMPION) is None
