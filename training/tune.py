"""Hyperparameter search for the risk model: Optuna on time folds inside the training years.

The test year is never seen. Each fold fits on earlier school years and validates on the school year after
them (``tuning_folds``): with the usual three years that is one fold (fit on the training year, validate on
the calibration year); every extra year of history adds a fold. A trial's value is the mean validation
ROC-AUC over the folds, each at the fold's early-stopping iteration; the number of trees the final model
gets is the mean of those iterations, so the final fit needs no validation rows of its own.

The search is seeded (TPE sampler with ``config.seed``), so the same data and the same number of trials
give the same parameters. Monotone constraints from the feature register (``monotone`` in
``features/register.yaml``: more unauthorised absence never lowers the risk) apply to every trial and to the
final model alike, so they are not searched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from training.config import TrainingConfig

LABEL = "vsv"
EARLY_STOPPING_ROUNDS = 50
MAX_TREES = 1500
# Parameters of the configuration that a search replaces; the rest (n_jobs, constraints) is kept.
SEARCHED = (
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "reg_lambda",
    "colsample_bytree",
    "subsample",
    "min_split_gain",
)

# LightGBM's own defaults, for a searched parameter the configuration does not set.
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "reg_lambda": 0.0,
    "colsample_bytree": 1.0,
    "subsample": 1.0,
    "min_split_gain": 0.0,
}


@dataclass(frozen=True)
class TuningFold:
    """Fit on ``fit`` (earlier school years), validate on ``valid`` (the school year after them)."""

    name: str
    fit: pd.DataFrame
    valid: pd.DataFrame


@dataclass
class FoldData:
    """A fold's LightGBM datasets, binned once and reused by every trial."""

    name: str
    train: Any
    valid: Any
    x_valid: np.ndarray
    y_valid: np.ndarray


@dataclass(frozen=True)
class TuningResult:
    """The chosen parameters (with ``n_estimators``), what they scored and what the configuration scored."""

    params: dict[str, Any]
    value: float
    baseline_value: float
    trials: int
    folds: tuple[str, ...]
    history: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "folds": list(self.folds),
            "validation_roc_auc": round(self.value, 4),
            "baseline_validation_roc_auc": round(self.baseline_value, 4),
            "params": self.params,
        }


def school_year(as_of: pd.Series) -> pd.Series:
    return as_of // WEEKS_PER_YEAR


def tuning_folds(rows: pd.DataFrame, horizon: int) -> list[TuningFold]:
    """Rolling time folds over the training years: fit on years before Y, validate on year Y.

    ``rows`` are the training and calibration rows (never the test year). Fit rows whose label window
    reaches into year Y are dropped, so no validation week's outcome is a fitting label.
    """
    years = sorted(int(y) for y in school_year(rows["as_of"]).unique())
    folds = []
    for year in years[1:]:
        start = year * WEEKS_PER_YEAR
        fit = rows[(rows["as_of"] < start) & (rows["as_of"] + horizon < start)]
        valid = rows[school_year(rows["as_of"]) == year]
        if fit[LABEL].nunique() == 2 and valid[LABEL].nunique() == 2:
            folds.append(TuningFold(f"fit years {years[0]}-{year - 1}, validate year {year}", fit, valid))
    if not folds:
        raise ValueError("tuning needs at least two school years of training rows with both outcomes")
    return folds


# The search space: (low, high, on a log scale); integers where the bounds are.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.01, 0.15, True),
    "num_leaves": (4, 63, True),
    "min_child_samples": (20, 800, True),
    "reg_lambda": (0.01, 50.0, True),
    "colsample_bytree": (0.3, 1.0, False),
    "subsample": (0.5, 1.0, False),
    "min_split_gain": (0.0, 1.0, False),
}


def suggest(trial: Any) -> dict[str, Any]:
    """The usual LightGBM capacity and regularisation knobs within :data:`BOUNDS`."""
    out: dict[str, Any] = {}
    for name, (low, high, log) in BOUNDS.items():
        if isinstance(low, int) and isinstance(high, int):
            out[name] = trial.suggest_int(name, low, high, log=log)
        else:
            out[name] = trial.suggest_float(name, low, high, log=log)
    return out


def within_bounds(params: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration's values of the searched parameters, moved inside the search space (trial 0)."""
    out: dict[str, Any] = {}
    for name, (low, high, _) in BOUNDS.items():
        value = params.get(name, LIGHTGBM_DEFAULTS[name])
        out[name] = type(low)(min(max(value, low), high))
    return out


def fold_data(fold: TuningFold, features: Sequence[str]) -> FoldData:
    import lightgbm as lgb

    x_fit = fold.fit.loc[:, list(features)].to_numpy(dtype=np.float64)
    x_valid = fold.valid.loc[:, list(features)].to_numpy(dtype=np.float64)
    y_valid = fold.valid[LABEL].to_numpy(dtype=np.float64)
    train = lgb.Dataset(
        x_fit,
        fold.fit[LABEL].to_numpy(dtype=np.float64),
        free_raw_data=False,
        params={"verbose": -1, "feature_pre_filter": False},
    )
    valid = lgb.Dataset(x_valid, y_valid, reference=train, free_raw_data=False)
    return FoldData(fold.name, train, valid, x_valid, y_valid)


def fit_fold(data: FoldData, params: Mapping[str, Any], seed: int) -> tuple[float, int]:
    """Validation ROC-AUC at the early-stopping iteration, and that iteration.

    ``params`` are the sklearn-style names :func:`models.risk_model.make_pipeline` takes; LightGBM reads
    them as aliases, so the booster is the one the final pipeline fits with the same values.
    """
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    settings = {
        "objective": "binary",
        "metric": "auc",
        "verbose": -1,
        "seed": seed,
        **{k: v for k, v in params.items() if k != "n_estimators"},
    }
    booster = lgb.train(
        settings,
        data.train,
        num_boost_round=MAX_TREES,
        valid_sets=[data.valid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    best = max(int(booster.best_iteration or MAX_TREES), 1)
    p = booster.predict(data.x_valid, num_iteration=best)
    return float(roc_auc_score(data.y_valid, p)), best


def evaluate_params(folds: Sequence[FoldData], params: Mapping[str, Any], seed: int) -> tuple[float, int]:
    """Mean validation ROC-AUC over the folds and the mean early-stopping iteration."""
    results = [fit_fold(fold, params, seed) for fold in folds]
    return float(np.mean([r[0] for r in results])), int(np.rint(np.mean([r[1] for r in results])))


def fixed_params(config: TrainingConfig, features: Sequence[str]) -> dict[str, Any]:
    """What the search keeps from the configuration: threads, bagging frequency, and the register's
    monotone constraints (:func:`training.fit.model_params`), which every trial and the final model share."""
    from training.fit import model_params

    return {k: v for k, v in model_params(config, features).items() if k not in (*SEARCHED, "n_estimators")}


def tune(
    rows: pd.DataFrame,
    features: Sequence[str],
    config: TrainingConfig,
    trials: int,
    timeout: float | None = None,
    on_trial: Callable[[int, float], None] | None = None,
) -> TuningResult:
    """Search ``trials`` parameter sets (TPE, seeded) on :func:`tuning_folds` of ``rows``.

    The configuration's own parameters (inside the search space) are trial 0, so the result is never worse
    on the validation folds than what the configuration would have trained.
    """
    import optuna

    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    splits = tuning_folds(rows, config.horizon)
    folds = [fold_data(split, features) for split in splits]
    fixed = fixed_params(config, features)
    iterations: dict[int, int] = {}

    def objective(trial: Any) -> float:
        params = {**fixed, **suggest(trial)}
        value, best = evaluate_params(folds, params, config.seed)
        iterations[trial.number] = best
        if on_trial is not None:
            on_trial(trial.number, value)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.enqueue_trial(within_bounds(config.lgbm))
    study.optimize(objective, n_trials=trials, timeout=timeout)
    best = study.best_trial
    first = study.trials[0].value
    baseline_value = float("nan") if first is None else float(first)
    chosen = {**fixed, **best.params, "n_estimators": iterations[best.number]}
    # The constraints are added again by model_params at the fit; keep the result to what was searched.
    params = {k: v for k, v in chosen.items() if not k.startswith("monotone_constraints")}
    history = pd.DataFrame(
        [{"trial": t.number, "roc_auc": t.value, **t.params} for t in study.trials if t.value is not None]
    )
    return TuningResult(
        params=params,
        value=float(best.value if best.value is not None else float("nan")),
        baseline_value=float(baseline_value),
        trials=len(study.trials),
        folds=tuple(f.name for f in splits),
        history=history,
    )
