"""The one check every promotion runs, whoever asks: ``vsv promote``, the API
(``POST /api/v1/models/{version}/promote``) and the data-team page. The candidate is loaded (its artefacts
checked against the SHA-256 manifest of its registration) and compared with the champion on the same test
rows; only a checked candidate can be made champion (:func:`promote_checked`, which records the comparison
on the version).

Refusal rules (the same for every path; there is no override):

- no person, or no reason of at least 5 characters: ``ValueError`` (:func:`models.registry.check_promotion`);
- an unknown version: ``LookupError``;
- a candidate whose artefacts fail the integrity check, are missing or do not load, a store without a test
  year to compare on, or a candidate that cannot score the test rows: :class:`PromotionRefusedError`, with the
  reason in Dutch.

A champion that cannot be loaded does not block a promotion (a broken champion must be replaceable): the
comparison then holds the candidate alone, with a note saying why. The metrics themselves decide nothing:
people compare them (the command line asks for confirmation; the API call is the confirmation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from data.context import DeploymentContext, RegistryLocation
from data.store import ensure_schema, load_raw_tables
from models.evaluation import COMPARED, overall_metrics
from models.registry import (
    CHAMPION,
    ModelLoadError,
    Promotion,
    check_promotion,
    load,
    open_registry,
    promote,
    tag_version,
    version_for,
)
from models.risk_model import RiskModel
from training.config import TrainingConfig
from training.fit import TrainingDataError
from training.pipeline import Prepared, prepare

# Tag on a promoted version: the comparison its promotion was based on (JSON, rows by model label).
COMPARISON_TAG = "promotion_comparison"


class PromotionRefusedError(ValueError):
    """The check refuses to make a version champion; the message (Dutch) says why."""


@dataclass(frozen=True)
class PromotionCheck:
    """A candidate that passed the check: the models compared (candidate first) and the comparison."""

    version: str
    champion: str | None
    models: dict[str, RiskModel]
    comparison: pd.DataFrame
    notes: tuple[str, ...] = ()

    def comparison_records(self) -> dict[str, dict[str, float | None]]:
        """The comparison as plain numbers by model label (missing values as None)."""
        records: dict[str, dict[str, float | None]] = json.loads(
            self.comparison.round(4).to_json(orient="index")
        )
        return records


def candidate_label(version: str) -> str:
    return f"v{version} (kandidaat)"


def champion_label(version: str) -> str:
    return f"v{version} (champion)"


def compare_models(prepared: Prepared, models: dict[str, RiskModel], config: TrainingConfig) -> pd.DataFrame:
    """Metrics of each model on the same test fold (rows: models, columns: metrics)."""
    scored = prepared.test.copy()
    for name, model in models.items():
        scored[name] = model.predict_proba(scored)
    return overall_metrics(scored, list(models), config.capacity_share)[["n", "positives", *COMPARED]]


def _models_to_compare(
    registry: RegistryLocation, version: str
) -> tuple[dict[str, RiskModel], str | None, list[str]]:
    """The candidate (refused when it does not load) and the champion (a note when it does not)."""
    name = registry.model_name
    refused = f"Versie {version} wordt geen champion"
    try:
        candidate = load(name, version=version)
    except ModelLoadError as exc:
        raise PromotionRefusedError(f"{refused}: {exc}") from exc
    models = {candidate_label(version): candidate.model}
    notes: list[str] = []
    champion = version_for(name, CHAMPION)
    if champion is not None and champion != version:
        try:
            models[champion_label(champion)] = load(name, version=champion).model
        except (LookupError, ModelLoadError) as exc:
            notes.append(
                f"De huidige champion (versie {champion}) is niet te laden en niet vergeleken: {exc}"
            )
    return models, champion, notes


def _compare_on_test_year(
    ctx: DeploymentContext, version: str, models: dict[str, RiskModel], config: TrainingConfig
) -> pd.DataFrame:
    refused = f"Versie {version} wordt geen champion"
    try:
        ensure_schema(ctx.engine)
        prepared = prepare(load_raw_tables(ctx.engine), config, ctx.questionnaire)
    except (TrainingDataError, RuntimeError) as exc:
        raise PromotionRefusedError(
            f"{refused}: er is geen testjaar om met de champion te vergelijken ({exc})."
        ) from exc
    try:
        return compare_models(prepared, models, config)
    except (KeyError, ValueError) as exc:
        raise PromotionRefusedError(f"{refused}: het model kan het testjaar niet scoren ({exc}).") from exc


def check_candidate(
    ctx: DeploymentContext, version: str, by: str, reason: str, config: TrainingConfig
) -> PromotionCheck:
    """Run the promotion check on ``version`` (see the module's refusal rules); changes nothing."""
    check_promotion(by, reason)
    open_registry(ctx.registry)
    models, champion, notes = _models_to_compare(ctx.registry, version)
    comparison = _compare_on_test_year(ctx, version, models, config)
    return PromotionCheck(version, champion, models, comparison, tuple(notes))


def promote_checked(registry: RegistryLocation, check: PromotionCheck, by: str, reason: str) -> Promotion:
    """Make a checked candidate champion (:func:`models.registry.promote`: who, why, when, previous) and
    record the comparison it was promoted on as a tag on the version."""
    promotion = promote(registry.model_name, check.version, by, reason)
    tag_version(registry.model_name, check.version, {COMPARISON_TAG: json.dumps(check.comparison_records())})
    return promotion
