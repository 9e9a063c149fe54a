"""The model in service, reloading the champion, and the model card of any version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from models.registry import model_card, open_registry, promote
from serving.deps import NO_MODEL, ContextDep, Guard, ModelDep, ModelStoreDep, require
from serving.routes.common import errors, not_found
from serving.schemas import ModelCardOut, ModelOut, PromoteIn, PromotionOut, from_record
from workflows.audit import AuditEntry
from workflows.users import DATA_TEAM, MODEL_INFO

router = APIRouter(prefix="/api/v1/models", tags=["models"])
Reader = Annotated[Guard, Depends(require(MODEL_INFO, "read_model"))]
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "reload_model"))]
Promoter = Annotated[Guard, Depends(require(DATA_TEAM, "promote_model"))]


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


@router.post(
    "/{version}/promote",
    response_model=PromotionOut,
    summary="Make a version the champion, with a reason (who, why and when are stored and logged)",
    responses=errors(404, 422),
)
def promote_version(
    version: str, body: PromoteIn, ctx: ContextDep, store: ModelStoreDep, guard: Promoter
) -> PromotionOut:
    if not version.isdigit():
        raise not_found(f"Versie {version} bestaat niet.")
    open_registry(ctx.registry)
    try:
        promotion = promote(ctx.registry.model_name, version, guard.user.name, body.reason)
    except LookupError as exc:
        raise not_found(f"Versie {version} bestaat niet.") from exc
    guard.allow(
        [AuditEntry("promote_model", detail=f"versie {version} (was {promotion.previous}): {body.reason}")]
    )
    store.load_current()
    return from_record(PromotionOut, promotion)


@router.get(
    "/{version}/card",
    response_model=ModelCardOut,
    summary="The model card (markdown) of any registered version",
    responses=errors(404),
)
def card(version: str, ctx: ContextDep, _: Reader) -> ModelCardOut:
    if not version.isdigit():
        raise not_found(f"Modelversie {version} bestaat niet.")
    try:
        found = model_card(ctx.registry, version)
        return ModelCardOut(version=found.version, run_id=found.run_id, markdown=found.markdown)
    except LookupError as exc:
        raise not_found(f"Geen modelkaart voor versie {version}.") from exc
