"""The model in service, reloading the champion, and the model card of any version."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from serving.auth import DATA_TEAM, MODEL_INFO
from serving.deps import NO_MODEL, Guard, ModelDep, ModelStoreDep, SettingsDep, require
from serving.routes.common import errors, not_found
from serving.schemas import ModelCardOut, ModelOut
from vroegsignaal.settings import Settings

router = APIRouter(prefix="/api/v1/models", tags=["models"])
Reader = Annotated[Guard, Depends(require(MODEL_INFO, "read_model"))]
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "reload_model"))]
MODEL_CARD_ARTIFACT = "report/model_card.md"


def _model_out(version: str, run_id: str | None, loaded_at: object, features: tuple[str, ...]) -> ModelOut:
    return ModelOut.model_validate(
        {"version": version, "run_id": run_id, "loaded_at": loaded_at, "features": list(features)}
    )


@router.get("/current", response_model=ModelOut, summary="The model in service", responses=errors(503))
def current(model: ModelDep, _: Reader) -> ModelOut:
    return _model_out(model.version, model.run_id, model.loaded_at, model.model.features)


@router.post(
    "/reload",
    response_model=ModelOut,
    summary="Load the registry's champion again (after a promotion)",
    responses=errors(503),
)
def reload(models: ModelStoreDep, _: DataTeam) -> ModelOut:
    loaded = models.load_current()
    if loaded is None:
        reason = f" (fout bij laden: {models.load_error})" if models.load_error else ""
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL + reason)
    return _model_out(loaded.version, loaded.run_id, loaded.loaded_at, loaded.model.features)


def model_card(settings: Settings, version: str) -> ModelCardOut:
    """The model card logged by the run that registered ``version``; LookupError when there is none."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import configure

    configure(settings.resolved_mlflow_uri(), settings.resolved_artifact_root())
    try:
        run_id = str(MlflowClient().get_model_version(settings.registered_model, version).run_id)
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=MODEL_CARD_ARTIFACT, dst_path=tmp
            )
            markdown = Path(path).read_text(encoding="utf-8")
    except (MlflowException, OSError) as exc:
        raise LookupError(str(exc)) from exc
    return ModelCardOut(version=version, run_id=run_id, markdown=markdown)


@router.get(
    "/{version}/card",
    response_model=ModelCardOut,
    summary="The model card (markdown) of any registered version",
    responses=errors(404),
)
def card(version: str, settings: SettingsDep, _: Reader) -> ModelCardOut:
    if not version.isdigit():
        raise not_found(f"Modelversie {version} bestaat niet.")
    try:
        return model_card(settings, version)
    except LookupError as exc:
        raise not_found(f"Geen modelkaart voor versie {version}.") from exc
