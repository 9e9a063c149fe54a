"""The MLflow model registry: log a :class:`RiskModel`, register it, move aliases, load it back.

Registered model ``vsv-risk`` (configurable) with aliases ``champion`` (what serving loads) and
``challenger`` (what training registers). The artefact is the pickled :class:`RiskModel` inside a pyfunc
model, so that what training fitted is exactly what serving loads.

Pickles run code when loaded, so a version's files are sealed at registration: the SHA-256 of every file
of the stored model (a manifest, relative path -> digest) and one digest over that manifest are tags on the
version. :func:`load` downloads the files, checks them against those tags and only then unpickles them
(from the checked copy). A version without the tags (registered before they existed) is refused as well:
retrain and promote the new version. The tags sit in the same registry as the files, so this catches a
changed, swapped or damaged artefact store, not someone who may also rewrite the registry's tags.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from data.context import RegistryLocation
from models.risk_model import RiskModel

CHAMPION, CHALLENGER = "champion", "challenger"
# Where a training run logs its model card (Markdown) among the run's artefacts.
MODEL_CARD_ARTIFACT = "report/model_card.md"
ARTEFACT_KEY = "risk_model"
# Tags on a model version: one digest over the manifest, and the manifest itself (JSON, path -> SHA-256).
ARTEFACT_DIGEST_TAG = "artefact_sha256"
ARTEFACT_MANIFEST_TAG = "artefact_manifest"
# Where the pickled RiskModel sits inside a stored pyfunc model.
RISK_MODEL_PATH = f"artifacts/{ARTEFACT_KEY}.pkl"
# Written by MLflow into every download of a registered version (its name and version), not stored.
DOWNLOAD_ONLY = frozenset({"registered_model_meta"})


class ModelLoadError(ValueError):
    """A registered version exists but cannot be loaded: its files are missing, unreadable or broken."""


class ArtefactIntegrityError(ModelLoadError):
    """A version's files differ from the SHA-256 manifest recorded at registration, or it has none."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artefact_manifest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by its relative POSIX path (what MLflow adds on download left
    out)."""
    return {
        path.relative_to(folder).as_posix(): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() not in DOWNLOAD_ONLY
    }


def manifest_digest(manifest: dict[str, str]) -> str:
    """One SHA-256 over a manifest, in ``sha256sum`` format (``<digest>  <path>`` lines, sorted by path)."""
    lines = "".join(f"{manifest[path]}  {path}\n" for path in sorted(manifest))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _pyfunc_class() -> type:
    import mlflow.pyfunc

    class RiskModelPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
        """pyfunc wrapper: ``predict`` returns calibrated probabilities and bands for snapshot rows."""

        def load_context(self, context: Any) -> None:
            with Path(context.artifacts[ARTEFACT_KEY]).open("rb") as handle:
                self.risk_model: RiskModel = pickle.load(handle)

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> Any:
            scored = self.risk_model.score(model_input, explain=False)
            return pd.DataFrame({"probability": scored.probability, "band": scored.band})

    return RiskModelPyfunc


def configure(tracking_uri: str, artifact_root: Path, experiment: str = "vsv") -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id: str = existing.experiment_id
    else:
        artifact_root.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_root.as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def open_registry(location: RegistryLocation, experiment: str = "vsv") -> str:
    """:func:`configure` for a deployment's registry (the one place MLflow is pointed at a store)."""
    return configure(location.tracking_uri, location.artifact_root, experiment)


def log_risk_model(model: RiskModel, registered_model: str) -> str:
    """Log ``model`` in the active run, register it, seal its files (:func:`seal_version`) and return the
    new version number."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "risk_model.pkl"
        with path.open("wb") as handle:
            pickle.dump(model, handle)
        pickled = file_sha256(path)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={ARTEFACT_KEY: str(path)},
            registered_model_name=registered_model,
            pip_requirements=[],
        )
    version = str(info.registered_model_version)
    seal_version(registered_model, version, {RISK_MODEL_PATH: pickled})
    return version


def _download(registered_model: str, version: str, into: Path) -> Path:
    """The stored files of a version, copied into ``into``; ModelLoadError when they cannot be read."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{registered_model}/{version}", dst_path=str(into)
        )
    except (MlflowException, OSError) as exc:
        raise ModelLoadError(
            f"De artefacten van versie {version} van {registered_model} ontbreken of zijn onleesbaar: {exc}"
        ) from exc
    return Path(path)


def seal_version(registered_model: str, version: str, expected: dict[str, str]) -> str:
    """Record the SHA-256 manifest of a just-registered version's stored files as tags; returns the digest.

    ``expected`` holds digests computed before upload (the pickled model): the stored copy must match them,
    so what is sealed is what training wrote. Raises :class:`ArtefactIntegrityError` when it does not.
    """
    with tempfile.TemporaryDirectory() as tmp:
        manifest = artefact_manifest(_download(registered_model, version, Path(tmp)))
    for path, digest in expected.items():
        if manifest.get(path) != digest:
            raise ArtefactIntegrityError(
                f"Versie {version} van {registered_model}: het opgeslagen bestand {path} is niet wat de "
                "training schreef; versie niet verzegeld."
            )
    digest = manifest_digest(manifest)
    tag_version(
        registered_model,
        version,
        {ARTEFACT_MANIFEST_TAG: json.dumps(manifest, sort_keys=True), ARTEFACT_DIGEST_TAG: digest},
    )
    return digest


def _recorded_manifest(registered_model: str, version: str, tags: dict[str, str]) -> dict[str, str]:
    """The manifest recorded at registration, checked against its digest tag."""
    where = f"Versie {version} van {registered_model}"
    digest, raw = tags.get(ARTEFACT_DIGEST_TAG), tags.get(ARTEFACT_MANIFEST_TAG)
    if not digest or not raw:
        raise ArtefactIntegrityError(
            f"{where} heeft geen vastgelegde SHA-256 van zijn artefacten (geregistreerd voor de "
            "integriteitscontrole); laden geweigerd. Train opnieuw (vsv train) en promoveer de nieuwe versie."
        )
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError:
        manifest = None
    if (
        not isinstance(manifest, dict)
        or not all(isinstance(v, str) for v in manifest.values())
        or manifest_digest(manifest) != digest
    ):
        raise ArtefactIntegrityError(
            f"{where}: het vastgelegde manifest van de artefacten klopt niet met de SHA-256 {digest}; "
            "laden geweigerd."
        )
    return manifest


def verify_artefacts(registered_model: str, version: str, tags: dict[str, str], folder: Path) -> None:
    """Compare the files in ``folder`` with the manifest recorded at registration; raises
    :class:`ArtefactIntegrityError` naming the version and the first file that differs."""
    expected = _recorded_manifest(registered_model, version, tags)
    found = artefact_manifest(folder)
    where = f"Versie {version} van {registered_model}"
    if not found:
        raise ArtefactIntegrityError(
            f"{where}: de artefacten ontbreken in de artefactopslag; laden geweigerd."
        )
    for path in sorted(expected.keys() | found.keys()):
        if path not in found:
            problem = f"het artefact {path} ontbreekt"
        elif path not in expected:
            problem = f"het artefact {path} hoort er niet bij (niet in het manifest)"
        elif found[path] != expected[path]:
            problem = (
                f"het artefact {path} wijkt af van de SHA-256 bij registratie "
                f"(verwacht {expected[path][:12]}…, gevonden {found[path][:12]}…)"
            )
        else:
            continue
        raise ArtefactIntegrityError(f"{where}: {problem}; laden geweigerd.")


def _unpickle(registered_model: str, version: str, folder: Path) -> RiskModel:
    """The RiskModel in a checked copy of a version's files; ModelLoadError when it will not load."""
    import mlflow

    try:
        risk_model = mlflow.pyfunc.load_model(str(folder)).unwrap_python_model().risk_model
    except Exception as exc:  # unpickling can fail in any way (bad bytes, missing classes, MLflow errors)
        raise ModelLoadError(
            f"Versie {version} van {registered_model} laat zich niet laden: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(risk_model, RiskModel):
        raise ModelLoadError(f"Versie {version} van {registered_model} bevat geen risicomodel.")
    return risk_model


def set_alias(registered_model: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(registered_model, alias, version)


@dataclass(frozen=True)
class LoadedModel:
    """A model from the registry with its version and run."""

    model: RiskModel
    version: str
    run_id: str
    tags: dict[str, str]


def version_for(registered_model: str, alias: str) -> str | None:
    """The version an alias points to, or None when the alias (or the model) does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(registered_model, alias).version)
    except MlflowException:
        return None


def load(registered_model: str, alias: str | None = None, version: str | None = None) -> LoadedModel:
    """Load a version by alias or number, after checking its files against the SHA-256 manifest recorded at
    registration. Raises ``LookupError`` when there is none, :class:`ArtefactIntegrityError` when the files
    differ (or no manifest was recorded) and :class:`ModelLoadError` when they are missing or broken.
    Nothing is unpickled before the check passes, and only the checked copy is unpickled."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if alias is not None:
            mv = client.get_model_version_by_alias(registered_model, alias)
        elif version is not None:
            mv = client.get_model_version(registered_model, version)
        else:
            raise ValueError("give an alias or a version")
    except MlflowException as exc:
        raise LookupError(f"no model {registered_model!r} at {alias or version!r}: {exc.message}") from exc
    number, tags = str(mv.version), dict(mv.tags)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _download(registered_model, number, Path(tmp))
        verify_artefacts(registered_model, number, tags, folder)
        risk_model = _unpickle(registered_model, number, folder)
    return LoadedModel(model=risk_model, version=number, run_id=str(mv.run_id), tags=tags)


@dataclass(frozen=True)
class ModelCard:
    """The model card a version's training run logged."""

    version: str
    run_id: str
    markdown: str


def model_card(registry: RegistryLocation, version: str) -> ModelCard:
    """The model card logged by the run that registered ``version``; LookupError when there is none."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    open_registry(registry)
    try:
        run_id = str(MlflowClient().get_model_version(registry.model_name, version).run_id)
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=MODEL_CARD_ARTIFACT, dst_path=tmp
            )
            markdown = Path(path).read_text(encoding="utf-8")
    except (MlflowException, OSError) as exc:
        raise LookupError(str(exc)) from exc
    return ModelCard(version=version, run_id=run_id, markdown=markdown)


def tag_version(registered_model: str, version: str, tags: dict[str, str]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(registered_model, version, key, value)


@dataclass(frozen=True)
class Promotion:
    """Who made which version champion, when and why (also stored as tags on the version)."""

    version: str
    previous: str | None
    by: str
    reason: str
    at: str


def check_promotion(by: str, reason: str) -> None:
    """A promotion needs a person and a reason; refuse it before anything changes."""
    if not by.strip():
        raise ValueError("say who promotes the model (--by)")
    if len(reason.strip()) < 5:
        raise ValueError("give a reason for the promotion (--reason, at least 5 characters)")


def promote(registered_model: str, version: str, by: str, reason: str) -> Promotion:
    """Make ``version`` the champion and record who, why, when and the previous champion as tags.

    Raises ``ValueError`` without a person or reason and ``LookupError`` for an unknown version.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_promotion(by, reason)
    try:
        MlflowClient().get_model_version(registered_model, version)
    except MlflowException as exc:
        raise LookupError(f"no version {version!r} of {registered_model!r}") from exc
    previous = version_for(registered_model, CHAMPION)
    promotion = Promotion(
        version, previous, by.strip(), reason.strip(), datetime.now(UTC).isoformat(timespec="seconds")
    )
    set_alias(registered_model, CHAMPION, version)
    tag_version(
        registered_model,
        version,
        {
            "promoted_by": promotion.by,
            "promotion_reason": promotion.reason,
            "promoted_at": promotion.at,
            "previous_champion": previous or "",
        },
    )
    return promotion
