"""The model the service scores with, and loading it (and older versions, for replay) from the registry."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from data.context import RegistryLocation
from models.registry import CHAMPION, ModelLoadError, load, open_registry
from models.risk_model import RiskModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """A loaded model with the registry version it came from."""

    model: RiskModel
    version: str
    run_id: str | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def single_threaded(model: RiskModel) -> RiskModel:
    """Predict with one thread: a request scores one row, where OpenMP start-up costs far more than it
    saves (and uvicorn workers scale across cores). Results are identical: threads split rows, not trees.
    """
    model.booster.set_params(n_jobs=1)
    return model


def prepared(model: RiskModel) -> RiskModel:
    """Single-threaded, with its SHAP explainer built: the first request is then as fast as the others."""
    single_threaded(model).explainer()
    return model


def load_champion(registry: RegistryLocation) -> ServingModel:
    """The champion of the deployment's registered model, its artefacts checked first
    (:func:`models.registry.load`); LookupError when there is none, ModelLoadError when it will not load."""
    open_registry(registry)
    loaded = load(registry.model_name, alias=CHAMPION)
    return ServingModel(loaded.model, loaded.version, loaded.run_id)


def load_failure(exc: Exception) -> str:
    """Why loading failed, for people: the message of an expected refusal, else the error's type too."""
    if isinstance(exc, ModelLoadError | LookupError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class ModelStore:
    """The current model plus a cache of other versions (for replaying older stored scores)."""

    def __init__(self, registry: RegistryLocation, current: ServingModel | None = None) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self.current = current
        self.load_error: str | None = None
        self._versions: dict[str, ServingModel] = {}
        if current is not None:
            self._versions[current.version] = current

    def add(self, model: ServingModel) -> None:
        """Make ``model`` available by its version (tests inject models this way)."""
        with self._lock:
            self._versions[model.version] = model

    def load_current(self) -> ServingModel | None:
        """(Re)load the champion; on failure keep serving the previous one (if any) and remember why.

        Never raises: a missing, tampered or broken champion, or an unreachable registry, must not stop the
        service; routes that need a model answer 503 with :attr:`load_error`.
        """
        try:
            loaded = load_champion(self._registry)
            model = ServingModel(prepared(loaded.model), loaded.version, loaded.run_id)
        except Exception as exc:  # whatever the registry or the artefacts do, the service keeps running
            self.load_error = load_failure(exc)
            log.warning("no champion model available: %s", self.load_error)
            return self.current
        self.load_error = None
        self.current = model
        self.add(model)
        return model

    def version(self, version: str) -> ServingModel:
        """A given version: from the cache, else from the registry. Raises LookupError, also when its
        artefacts are missing, broken or fail the integrity check (the message says which)."""
        with self._lock:
            cached = self._versions.get(version)
        if cached is not None:
            return cached
        open_registry(self._registry)
        try:
            loaded = load(self._registry.model_name, version=version)
        except ModelLoadError as exc:
            raise LookupError(str(exc)) from exc
        model = ServingModel(prepared(loaded.model), loaded.version, loaded.run_id)
        self.add(model)
        return model
