"""The model in service, reloading the champion, the registered versions with their metrics, comparing a
version with the champion and promoting it (through the same check as ``vsv promote``:
:mod:`training.promote`), and the model card of any version."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from models.registry import model_card
from serving.deps import NO_MODEL, ContextDep, Guard, ModelStoreDep, require
from serving.routes.common import api_router, errors, not_found
from serving.schemas import (
    CheckedPromotionOut,
    Frozen,
    ModelCardOut,
    ModelOut,
    PromoteIn,
    UtcDatetime,
    from_record,
)
from training.config import load_config
from training.promote import (
    PromotionRefusedError,
    RegisteredVersion,
    TestRowCache,
    check_candidate,
    compare_candidate,
    promote_checked,
    registered_versions,
)
from workflows.audit import AuditEntry
from workflows.model_state import ModelStore, ServingModel
from workflows.users import DATA_TEAM, MODEL_INFO

router = api_router("/api/v1/models", ["models"])
Reader = Annotated[Guard, Depends(require(MODEL_INFO, "read_model"))]
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "reload_model"))]
Promoter = Annotated[Guard, Depends(require(DATA_TEAM, "promote_model"))]
Comparer = Annotated[Guard, Depends(require(DATA_TEAM, "compare_models"))]
Comparison = dict[str, dict[str, float | None]]


def get_test_row_cache(request: Request) -> TestRowCache:
    """The service's cache of test rows (made on first use): comparisons on unchanged data share them."""
    cache: TestRowCache | None = getattr(request.app.state, "test_row_cache", None)
    if cache is None:
        cache = TestRowCache()
        request.app.state.test_row_cache = cache
    return cache


TestRowCacheDep = Annotated[TestRowCache, Depends(get_test_row_cache)]


class ModelVersionOut(Frozen):
    """A registered version: aliases, the test-year metrics its training run logged (``roc_auc``,
    ``pr_auc``, ``precision_at_k``, ``recall_at_k``, ``ece``, ``brier``), its data and, once promoted, who,
    why, when and the comparison it was promoted on."""

    version: str
    aliases: list[str]
    is_champion: bool
    is_challenger: bool
    registered_at: UtcDatetime | None
    run_id: str | None
    metrics: dict[str, float]
    capacity_share: float | None
    data_fingerprint: str | None
    promoted_by: str | None
    promotion_reason: str | None
    promoted_at: str | None
    previous_champion: str | None
    comparison: Comparison | None


class ComparisonOut(Frozen):
    """A version beside the champion on the same test rows (by model label; the candidate first), with
    notes (e.g. a champion that could not be loaded) and how long the comparison took."""

    version: str
    champion: str | None
    comparison: Comparison
    notes: list[str]
    horizon: int
    compared_at: UtcDatetime
    seconds: float


def version_out(row: RegisteredVersion) -> ModelVersionOut:
    return from_record(ModelVersionOut, row, aliases=list(row.aliases))


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


@router.get("", response_model=list[ModelVersionOut], summary="The registered versions, newest first")
def versions(ctx: ContextDep, _: Reader) -> list[ModelVersionOut]:
    return [version_out(row) for row in registered_versions(ctx.registry)]


def _refused(guard: Guard, action: str, version: str, exc: Exception) -> HTTPException:
    """A refusal of the check, logged, as a 409 with the Dutch reason."""
    entry = AuditEntry(action, detail=f"versie {version} geweigerd: {exc}")
    guard.audit.write(guard.user, guard.method, guard.path, [entry], allowed=False)
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


@router.post(
    "/{version}/compare",
    response_model=ComparisonOut,
    summary="Compare a version with the champion on the same test rows: the comparison `vsv promote` runs "
    "(artefacts checked); changes nothing, logged. Takes seconds (the test year's features are built, then "
    "kept while the data is unchanged)",
    responses=errors(404, 409),
)
def compare_version(version: str, ctx: ContextDep, cache: TestRowCacheDep, guard: Comparer) -> ComparisonOut:
    if not version.isdigit():
        raise not_found(f"Versie {version} bestaat niet.")
    started = time.perf_counter()
    config = load_config()
    try:
        check = compare_candidate(ctx, version, config, cache)
    except LookupError as exc:
        raise not_found(f"Versie {version} bestaat niet.") from exc
    except PromotionRefusedError as exc:
        raise _refused(guard, "compare_models", version, exc) from exc
    guard.allow(
        [AuditEntry("compare_models", detail=f"versie {version} met champion {check.champion or '-'}")]
    )
    return ComparisonOut(
        version=version,
        champion=check.champion,
        comparison=check.comparison_records(),
        notes=list(check.notes),
        horizon=config.horizon,
        compared_at=datetime.now().astimezone(),
        seconds=round(time.perf_counter() - started, 1),
    )


@router.post(
    "/{version}/promote",
    response_model=CheckedPromotionOut,
    summary="Make a version the champion, with a reason, after the check of `vsv promote` (artefacts intact, "
    "compared with the champion on the test year); who, why, when and the comparison are stored and logged",
    responses=errors(404, 409, 422),
)
def promote_version(
    version: str,
    body: PromoteIn,
    ctx: ContextDep,
    store: ModelStoreDep,
    cache: TestRowCacheDep,
    guard: Promoter,
) -> CheckedPromotionOut:
    if not version.isdigit():
        raise not_found(f"Versie {version} bestaat niet.")
    by = guard.user.name
    try:
        check = check_candidate(ctx, version, by, body.reason, load_config(), cache)
    except LookupError as exc:
        raise not_found(f"Versie {version} bestaat niet.") from exc
    except PromotionRefusedError as exc:
        raise _refused(guard, "promote_model", version, exc) from exc
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
