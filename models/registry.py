"""The MLflow model registry: log a :class:`RiskModel`, register it, move aliases, load it back.

Registered model ``vsv-risk`` (configurable) with aliases ``champion`` (what serving loads) and
``challenger`` (what training registers). The artefact is the pickled :class:`RiskModel` inside a pyfunc
model, so that what training fitted is exactly what serving loads.
"""

from __future__ import annotations

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
    """Log ``model`` in the active run, register it, and return the new version number."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "risk_model.pkl"
        with path.open("wb") as handle:
            pickle.dump(model, handle)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={ARTEFACT_KEY: str(path)},
            registered_model_name=registered_model,
            pip_requirements=[],
        )
    return str(info.registered_model_version)


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
    """Load a version by alias or number. Raises ``LookupError`` when there is none."""
    import mlflow
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
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registered_model}/{mv.version}")
    risk_model: RiskModel = pyfunc.unwrap_python_model().risk_model
    return LoadedModel(model=risk_model, version=str(mv.version), run_id=str(mv.run_id), tags=dict(mv.tags))


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
