"""The model in service, reloading the champion, promoting a version (through the same check as
``vsv promote``: :mod:`training.promote`) and the model card of any version."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status

from models.registry import model_card
from serving.deps import NO_MODEL, ContextDep, Guard, ModelStoreDep, require
from serving.routes.common import api_router, errors, not_found
from serving.schemas import CheckedPromotionOut, ModelCardOut, ModelOut, PromoteIn, from_record
from training.config import load_config
from training.promote import PromotionRefusedError, check_candidate, promote_checked
from workflows.audit import AuditEntry
from workflows.model_state import ModelStore, ServingModel
from workflows.users import DATA_TEAM, MODEL_INFO

router = api_router("/api/v1/models", ["models"])
Reader = Annotated[Guard, Depends(require(MODEL_INFO, "read_model"))]
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "reload_model"))]
Promoter = Annotated[Guard, Depends(require(DATA_TEAM, "promote_model"))]


def _model_out(version: str, run_id: str | None, loaded_at: object, features: tuple[str, ...]) -> ModelOut:
    return ModelOut.model_validate(
        {"version": version, "run_id": run_id, "loaded_at": loaded_at, "features": list(features)}
    )


def no_model(models: ModelStore) -> HTTPException:
    """503 without a model, with the reason the champion did not load (if it failed)."""
    reason = f" (fout bij laden: {models.load_error})" if models.load_error else ""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL + reason)


def current(model: ServingModel, _: Guard) -> ModelOut:
    """The model in service (the models page shows it too)."""
    return _model_out(model.version, model.run_id, model.loaded_at, model.model.features)


@router.get("/current", response_model=ModelOut, summary="The model in service", responses=errors(503))
def current_model(models: ModelStoreDep, guard: Reader) -> ModelOut:
    if models.current is None:
        raise no_model(models)
    return current(models.current, guard)


@router.post(
    "/reload",
    response_model=ModelOut,
    summary="Load the registry's champion again (after a promotion)",
    responses=errors(503),
)
def reload(models: ModelStoreDep, _: DataTeam) -> ModelOut:
    loaded = models.load_current()
    if loaded is None:
        raise no_model(models)
    return _model_out(loaded.version, loaded.run_id, loaded.loaded_at, loaded.model.features)


@router.post(
    "/{version}/promote",
    response_model=CheckedPromotionOut,
    summary="Make a version the champion, with a reason, after the check of `vsv promote` (artefacts intact, "
    "compared with the champion on the test year); who, why, when and the comparison are stored and logged",
    responses=errors(404, 409, 422),
)
def promote_version(
    version: str, body: PromoteIn, ctx: ContextDep, store: ModelStoreDep, guard: Promoter
) -> CheckedPromotionOut:
    if not version.isdigit():
        raise not_found(f"Versie {version} bestaat niet.")
    by = guard.user.name
    try:
        check = check_candidate(ctx, version, by, body.reason, load_config())
    except LookupError as exc:
        raise not_found(f"Versie {version} bestaat niet.") from exc
    except PromotionRefusedError as exc:
        entry = AuditEntry("promote_model", detail=f"versie {version} geweigerd: {exc}")
        guard.audit.write(guard.user, guard.method, guard.path, [entry], allowed=False)
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="Geef een reden van minstens 5 tekens voor de promotie.",
        ) from exc
    promotion = promote_checked(ctx.registry, check, by, body.reason)
    guard.allow(
        [AuditEntry("promote_model", detail=f"versie {version} (was {promotion.previous}): {body.reason}")]
    )
    store.load_current()
    return from_record(
        CheckedPromotionOut, promotion, comparison=check.comparison_records(), notes=list(check.notes)
    )


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
