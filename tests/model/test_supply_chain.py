"""The model supply chain: a SHA-256 manifest of a version's artefacts is recorded at registration, and a
version whose artefacts differ from it (or that has none) is refused before anything is unpickled."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from models.registry import (
    ARTEFACT_DIGEST_TAG,
    ARTEFACT_MANIFEST_TAG,
    ArtefactIntegrityError,
    ModelLoadError,
    artefact_manifest,
    load,
    log_risk_model,
    manifest_digest,
)
from training.pipeline import TrainingResult

NAME = "vsv-risk"
RISK_MODEL_FILE = "artifacts/risk_model.pkl"


class Payload:
    """Unpickling this touches ``path``: proof that a tampered artefact was (or was not) unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.path,))


def stored_model_dir(name: str, version: str) -> Path:
    """The folder in the artefact store holding a registered version's model files."""
    import mlflow
    from mlflow import MlflowClient

    source = str(MlflowClient().get_model_version(name, version).source)
    location = mlflow.get_logged_model(source.removeprefix("models:/")).artifact_location
    return Path(unquote(urlparse(location).path))


def register(trained: TrainingResult, name: str = NAME) -> str:
    import mlflow

    with mlflow.start_run():
        return log_risk_model(trained.model, name)


def plant_payload(name: str, version: str, marker: Path, file: str = RISK_MODEL_FILE) -> None:
    """Replace one stored artefact with a pickle that touches ``marker`` when loaded."""
    (stored_model_dir(name, version) / file).write_bytes(pickle.dumps(Payload(marker)))


def reseal(name: str, version: str) -> None:
    """Record the digest of the artefacts as they are now (a broken artefact with a valid digest)."""
    from mlflow import MlflowClient

    manifest = artefact_manifest(stored_model_dir(name, version))
    client = MlflowClient()
    client.set_model_version_tag(name, version, ARTEFACT_MANIFEST_TAG, json.dumps(manifest, sort_keys=True))
    client.set_model_version_tag(name, version, ARTEFACT_DIGEST_TAG, manifest_digest(manifest))


def test_registration_records_the_digest_of_every_stored_artefact(
    trained: TrainingResult, mlflow_registry: str
) -> None:
    version = register(trained)
    loaded = load(NAME, version=version)
    manifest = json.loads(loaded.tags[ARTEFACT_MANIFEST_TAG])
    assert {RISK_MODEL_FILE, "python_model.pkl", "MLmodel"} <= set(manifest)
    assert manifest == artefact_manifest(stored_model_dir(NAME, version))
    assert loaded.tags[ARTEFACT_DIGEST_TAG] == manifest_digest(manifest)
    assert len(loaded.tags[ARTEFACT_DIGEST_TAG]) == 64


@pytest.mark.parametrize("file", [RISK_MODEL_FILE, "python_model.pkl"])
def test_a_tampered_artefact_is_refused_before_it_is_unpickled(
    trained: TrainingResult, mlflow_registry: str, tmp_path: Path, file: str
) -> None:
    version = register(trained)
    marker = tmp_path / "unpickled"
    plant_payload(NAME, version, marker, file)
    with pytest.raises(ArtefactIntegrityError, match=rf"[Vv]ersie {version}.*{file}"):
        load(NAME, version=version)
    assert not marker.exists(), "the tampered pickle was loaded"


def test_a_missing_or_added_file_is_refused(trained: TrainingResult, mlflow_registry: str) -> None:
    version = register(trained)
    folder = stored_model_dir(NAME, version)
    (folder / "extra.pkl").write_bytes(b"x")
    with pytest.raises(ArtefactIntegrityError, match=r"extra\.pkl"):
        load(NAME, version=version)
    (folder / "extra.pkl").unlink()
    (folder / RISK_MODEL_FILE).unlink()
    with pytest.raises(ArtefactIntegrityError, match=f"{RISK_MODEL_FILE} ontbreekt"):
        load(NAME, version=version)


def test_a_version_without_a_recorded_digest_is_refused(
    trained: TrainingResult, mlflow_registry: str
) -> None:
    """Versions registered before the digest existed are refused: retrain and promote the new version."""
    from mlflow import MlflowClient

    version = register(trained)
    MlflowClient().delete_model_version_tag(NAME, version, ARTEFACT_DIGEST_TAG)
    with pytest.raises(ArtefactIntegrityError, match="geen vastgelegde SHA-256"):
        load(NAME, version=version)


def test_a_tampered_manifest_tag_is_refused(trained: TrainingResult, mlflow_registry: str) -> None:
    from mlflow import MlflowClient

    version = register(trained)
    manifest = json.loads(load(NAME, version=version).tags[ARTEFACT_MANIFEST_TAG])
    manifest[RISK_MODEL_FILE] = "0" * 64
    MlflowClient().set_model_version_tag(NAME, version, ARTEFACT_MANIFEST_TAG, json.dumps(manifest))
    with pytest.raises(ArtefactIntegrityError, match="manifest"):
        load(NAME, version=version)


def test_deleted_artefacts_and_broken_pickles_are_load_errors(
    trained: TrainingResult, mlflow_registry: str
) -> None:
    version = register(trained)
    folder = stored_model_dir(NAME, version)
    (folder / RISK_MODEL_FILE).write_bytes(b"not a pickle")
    reseal(NAME, version)
    with pytest.raises(ModelLoadError, match=f"[Vv]ersie {version}"):
        load(NAME, version=version)
    shutil.rmtree(folder)
    with pytest.raises(ModelLoadError, match=f"[Vv]ersie {version}"):
        load(NAME, version=version)
    with pytest.raises(LookupError):
        load(NAME, version="99")
