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
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from data.context import DeploymentContext, RegistryLocation
from data.questionnaire import Questionnaire
from data.store import ensure_schema, latest_week, load_raw_tables
from data.tables import RawTables
from features import LOOKBACK_WEEKS, build_training_set
from models.evaluation import COMPARED, overall_metrics
from models.registry import (
    CHALLENGER,
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
from training.fit import TrainingDataError, check_fold, temporal_folds
from training.pipeline import Prepared, fingerprint

# Tag on a promoted version: the comparison its promotion was based on (JSON, rows by model label).
COMPARISON_TAG = "promotion_comparison"
# The metrics a training run logs for its model on the test year (``model.<metric>``), shown per version.
VERSION_METRICS = ("roc_auc", "pr_auc", "precision_at_k", "recall_at_k", "ece", "brier")
# How many versions the list shows, newest first.
VERSIONS_SHOWN = 30


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


def compare_on_rows(test: pd.DataFrame, models: dict[str, RiskModel], config: TrainingConfig) -> pd.DataFrame:
    """Metrics of each model on the same test rows (rows: models, columns: metrics)."""
    scored = test.copy()
    for name, model in models.items():
        scored[name] = model.predict_proba(scored)
    return overall_metrics(scored, list(models), config.capacity_share)[["n", "positives", *COMPARED]]


def compare_models(prepared: Prepared, models: dict[str, RiskModel], config: TrainingConfig) -> pd.DataFrame:
    """Metrics of each model on the same test fold (rows: models, columns: metrics)."""
    return compare_on_rows(prepared.test, models, config)


def comparison_rows(
    tables: RawTables, config: TrainingConfig, questionnaire: Questionnaire | None
) -> pd.DataFrame:
    """The test fold of :func:`training.pipeline.prepare` (the last school year's as-of weeks whose labels
    have matured), built alone: the very same rows, without the training and calibration years' features.
    Raises :class:`TrainingDataError` when the store holds no test year."""
    if tables.attendance_weeks.empty:
        raise TrainingDataError("there is no attendance data: import or generate data first")
    max_week = int(tables.attendance_weeks["week"].max())
    folds = temporal_folds(max_week, config)
    if not folds.test:
        raise TrainingDataError("the test fold has no rows")
    rows = build_training_set(tables, folds.test, config.horizon, questionnaire, max_week=max_week)
    rows["week_in_year"] = rows["as_of"] % WEEKS_PER_YEAR + 1
    test = rows[rows["label_mature"]].reset_index(drop=True)
    check_fold(test, "test", config)
    return test


def _test_weeks_from(tables: RawTables, config: TrainingConfig) -> int | None:
    """The first as-of week of the test fold of ``tables`` (None when there is none)."""
    if tables.attendance_weeks.empty:
        return None
    try:
        folds = temporal_folds(int(tables.attendance_weeks["week"].max()), config)
    except TrainingDataError:
        return None
    return min(folds.test) if folds.test else None


def load_test_tables(ctx: DeploymentContext, config: TrainingConfig) -> RawTables:
    """The raw tables the test fold needs: the weekly tables from :data:`features.LOOKBACK_WEEKS` before
    the test year's first as-of week (all a snapshot reads, see :func:`features.snapshot`), the other tables
    whole. Reads everything when the store has no test year (then :func:`comparison_rows` says why)."""
    latest = latest_week(ctx.engine)
    if latest is None:
        return load_raw_tables(ctx.engine)
    try:
        folds = temporal_folds(latest, config)  # the same years as training, incomplete_year included
    except TrainingDataError:
        return load_raw_tables(ctx.engine)
    since = min(folds.test_all_year) - LOOKBACK_WEEKS
    tables = load_raw_tables(ctx.engine, since_week=since)
    first = _test_weeks_from(tables, config)
    if first is None or first - LOOKBACK_WEEKS < since:  # the attendance ends in another year: read it all
        return load_raw_tables(ctx.engine)
    return tables


class TestRowCache:
    """The test rows of the latest data, kept between comparisons in a running service (one entry, keyed by
    the data's fingerprint, the training configuration and the questionnaire): a second comparison on
    unchanged data skips building the features again. Thread-safe."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: str | None = None
        self._rows: pd.DataFrame | None = None

    def rows(
        self, tables: RawTables, config: TrainingConfig, questionnaire: Questionnaire | None
    ) -> pd.DataFrame:
        q = questionnaire.model_dump_json() if questionnaire is not None else ""
        key = f"{fingerprint(tables)}|{config.model_dump_json()}|{q}"
        with self._lock:
            if self._key != key or self._rows is None:
                self._rows = comparison_rows(tables, config, questionnaire)
                self._key = key
            return self._rows


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
    ctx: DeploymentContext,
    version: str,
    models: dict[str, RiskModel],
    config: TrainingConfig,
    cache: TestRowCache | None = None,
) -> pd.DataFrame:
    refused = f"Versie {version} wordt geen champion"
    try:
        ensure_schema(ctx.engine)
        tables = load_test_tables(ctx, config)
        if cache is None:
            rows = comparison_rows(tables, config, ctx.questionnaire)
        else:
            rows = cache.rows(tables, config, ctx.questionnaire)
    except (TrainingDataError, RuntimeError) as exc:
        raise PromotionRefusedError(
            f"{refused}: er is geen testjaar om met de champion te vergelijken ({exc})."
        ) from exc
    try:
        return compare_on_rows(rows, models, config)
    except (KeyError, ValueError) as exc:
        raise PromotionRefusedError(f"{refused}: het model kan het testjaar niet scoren ({exc}).") from exc


def compare_candidate(
    ctx: DeploymentContext, version: str, config: TrainingConfig, cache: TestRowCache | None = None
) -> PromotionCheck:
    """The comparison of the promotion check without a person or reason (the data-team page's "Vergelijk"):
    ``version`` against the champion on the test year, with the same refusals as :func:`check_candidate`
    for the version itself; changes nothing. ``cache``: keep the test rows for the next comparison."""
    open_registry(ctx.registry)
    models, champion, notes = _models_to_compare(ctx.registry, version)
    comparison = _compare_on_test_year(ctx, version, models, config, cache)
    return PromotionCheck(version, champion, models, comparison, tuple(notes))


def check_candidate(
    ctx: DeploymentContext,
    version: str,
    by: str,
    reason: str,
    config: TrainingConfig,
    cache: TestRowCache | None = None,
) -> PromotionCheck:
    """Run the promotion check on ``version`` (see the module's refusal rules); changes nothing."""
    check_promotion(by, reason)
    return compare_candidate(ctx, version, config, cache)


def promote_checked(registry: RegistryLocation, check: PromotionCheck, by: str, reason: str) -> Promotion:
    """Make a checked candidate champion (:func:`models.registry.promote`: who, why, when, previous) and
    record the comparison it was promoted on as a tag on the version."""
    promotion = promote(registry.model_name, check.version, by, reason)
    tag_version(registry.model_name, check.version, {COMPARISON_TAG: json.dumps(check.comparison_records())})
    return promotion


@dataclass(frozen=True)
class RegisteredVersion:
    """One registered version as the data team chooses from: its aliases, the test-year metrics its
    training run logged, the data it was trained on and, once promoted, who, why and when."""

    version: str
    aliases: tuple[str, ...]
    registered_at: datetime | None
    run_id: str | None
    metrics: dict[str, float]
    capacity_share: float | None
    data_fingerprint: str | None
    promoted_by: str | None
    promotion_reason: str | None
    promoted_at: str | None
    previous_champion: str | None
    comparison: dict[str, dict[str, float | None]] | None

    @property
    def is_champion(self) -> bool:
        return CHAMPION in self.aliases

    @property
    def is_challenger(self) -> bool:
        return CHALLENGER in self.aliases


def _moment(milliseconds: int | None) -> datetime | None:
    return None if not milliseconds else datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def _stored_comparison(raw: str | None) -> dict[str, dict[str, float | None]] | None:
    """The comparison tag of a promoted version (None when absent or unreadable)."""
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(found, dict) or not all(isinstance(row, dict) for row in found.values()):
        return None
    return found


def _run_facts(run_id: str | None) -> tuple[dict[str, float], float | None]:
    """The model's test-year metrics and the capacity share of a training run (empty when it is gone)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}, None
    try:
        data = MlflowClient().get_run(run_id).data
    except MlflowException:
        return {}, None
    metrics = {m: float(data.metrics[f"model.{m}"]) for m in VERSION_METRICS if f"model.{m}" in data.metrics}
    share = data.params.get("capacity_share")
    try:
        capacity = float(share) if share is not None else None
    except ValueError:
        capacity = None
    return metrics, capacity


def version_row(
    number: str, aliases: tuple[str, ...], created_ms: int | None, run_id: str | None, tags: dict[str, str]
) -> RegisteredVersion:
    """A :class:`RegisteredVersion` from the registry's facts about one version (reads its run)."""
    metrics, capacity = _run_facts(run_id)
    return RegisteredVersion(
        version=number,
        aliases=aliases,
        registered_at=_moment(created_ms),
        run_id=run_id or None,
        metrics=metrics,
        capacity_share=capacity,
        data_fingerprint=tags.get("data_fingerprint") or None,
        promoted_by=tags.get("promoted_by") or None,
        promotion_reason=tags.get("promotion_reason") or None,
        promoted_at=tags.get("promoted_at") or None,
        previous_champion=tags.get("previous_champion") or None,
        comparison=_stored_comparison(tags.get(COMPARISON_TAG)),
    )


def registered_versions(registry: RegistryLocation, limit: int = VERSIONS_SHOWN) -> list[RegisteredVersion]:
    """The registered versions of the deployment's model, newest first (at most ``limit``); empty when the
    model has none yet."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    open_registry(registry)
    client = MlflowClient()
    name = registry.model_name
    try:
        aliases = client.get_registered_model(name).aliases
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(str(number), []).append(alias)
    newest = sorted(found, key=lambda mv: int(mv.version), reverse=True)[:limit]
    return [
        version_row(
            str(mv.version),
            tuple(sorted(by_version.get(str(mv.version), []))),
            mv.creation_timestamp,
            mv.run_id,
            dict(mv.tags),
        )
        for mv in newest
    ]
